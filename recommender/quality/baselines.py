"""The baselines ``evaluate_recommender`` scores beside the model, on the same split, the same test
users and the same rules (recommender/DESIGN.md §8): most popular and EASE (recommender.quality.ease).
numpy only; the model itself is scored inside the Spark job."""

from __future__ import annotations

import time

import numpy as np
import pandas as pd

from recommender.quality.beyond import beyond_accuracy, ranking_metrics
from recommender.quality.ease import EASE_MAX_TITLES, ease_fit, ease_lambda_choose, ease_top
from recommender.spark.scoring import pair_draw, top_k

BEYOND_KEYS = ("catalog_coverage", "novelty_bits", "intra_list_diversity", "already_rated_share")


def evaluation_users(test: pd.DataFrame, *, eval_max_users: int, seed: int) -> np.ndarray:
    """The test users the Spark job scores (recommender.spark.evaluation.evaluation_users): all of
    them, or ``eval_max_users`` drawn by the same seeded hash."""
    users = np.unique(test["user"].to_numpy()).astype(np.int64)
    if eval_max_users and len(users) > eval_max_users:
        users = users[np.sort(np.argsort(pair_draw(users, users, seed))[:eval_max_users])]
    return users


def baselines_score(
    train: pd.DataFrame, test: pd.DataFrame, *, eval_max_users: int, seed: int, max_titles: int = EASE_MAX_TITLES
) -> dict:
    """precision@10, NDCG@10 and the beyond-accuracy metrics of most popular and EASE (λ chosen on
    a validation part of ``train`` seeded with ``seed``), keys prefixed ``popularity_`` and ``ease_``."""
    started = time.monotonic()
    users = evaluation_users(test, eval_max_users=eval_max_users, seed=seed)
    titles, support = np.unique(train["item"].to_numpy(), return_counts=True)
    train_user, train_item = train["user"].to_numpy().astype(np.int64), train["item"].to_numpy().astype(np.int64)
    train_rows = np.searchsorted(titles, train_item)
    in_train = np.isin(train_user, users)
    seen_segment, seen_rows = np.searchsorted(users, train_user[in_train]), train_rows[in_train]
    in_test = np.isin(test["user"].to_numpy(), users)
    test_segment = np.searchsorted(users, test["user"].to_numpy()[in_test])
    test_items = test["item"].to_numpy().astype(np.int64)[in_test]
    position = np.minimum(np.searchsorted(titles, test_items), max(len(titles) - 1, 0))
    test_rows = np.where(titles[position] == test_items, position, -1) if len(titles) else -np.ones_like(test_items)
    relevant = np.bincount(test_segment, minlength=len(users))

    def scored(name: str, top: np.ndarray) -> dict:
        precision, ndcg = ranking_metrics(top, test_segment, test_rows, relevant)
        beyond = beyond_accuracy(
            top,
            seen_segment=seen_segment,
            seen_rows=seen_rows,
            train_user=train_user,
            train_rows=train_rows,
            titles=len(titles),
        )
        return {
            f"{name}_precision_at_10": float(precision.mean()) if len(users) else None,
            f"{name}_ndcg_at_10": float(ndcg.mean()) if len(users) else None,
            **{f"{name}_{key}": beyond[key] for key in BEYOND_KEYS},
        }

    # Most popular: titles by training ratings, ties by id, without the user's own.
    popularity = np.empty(len(titles), dtype=np.float32)
    popularity[np.argsort(-support, kind="stable")] = -np.arange(len(titles), dtype=np.float32)
    popular_top = np.full((len(users), 10), -1, dtype=np.int64)
    for start in range(0, len(users), 512):
        stop = min(start + 512, len(users))
        scores = np.repeat(popularity[None, :], stop - start, axis=0)
        mask = (seen_segment >= start) & (seen_segment < stop)
        scores[seen_segment[mask] - start, seen_rows[mask]] = -np.inf
        best, _, valid = top_k(scores, 10)
        popular_top[start:stop, : best.shape[1]] = np.where(valid, best, -1)
    result = scored("popularity", popular_top)

    lam, validation = ease_lambda_choose(train_user, train_item, seed=seed, max_titles=max_titles)
    model = ease_fit(train_user, train_item, max_titles=max_titles)
    columns = ease_top(model, lam, seen_segment, train_item[in_train], len(users))
    ease_rows = np.where(columns >= 0, np.searchsorted(titles, model.titles[np.maximum(columns, 0)]), -1)
    result.update(scored("ease", ease_rows))
    result["ease_lambda"] = lam
    result["ease_validation"] = validation
    result["ease_titles"] = len(model.titles)
    result["baseline_seconds"] = round(time.monotonic() - started, 2)
    return result
