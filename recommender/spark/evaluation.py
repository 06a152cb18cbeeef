"""The holdout evaluation, on the driver: at most ``eval_max_users`` users (DESIGN.md §8)."""

from __future__ import annotations

import math

import numpy as np

from recommender.quality.beyond import beyond_accuracy
from recommender.spark import scoring
from recommender.spark.fit import Fitted, user_factors_collect
from recommender.spark.inputs import Ratings


def evaluation_users(fitted: Fitted, test: Ratings, params: dict) -> tuple[np.ndarray, scoring.FoldIn]:
    """The test users scored (at most ``eval_max_users``, drawn by a seeded hash) and their fitted
    vectors (the rating vector times the user's spread; zero for users the models do not know),
    collected from the models: a Spark job, so done before the executor passes take the cores."""
    test_users = np.unique(test.user)
    if params["eval_max_users"] and len(test_users) > params["eval_max_users"]:
        keep = np.sort(
            np.argsort(scoring.pair_draw(test_users, test_users, params["seed"]))[: params["eval_max_users"]]
        )
        test_users = test_users[keep]
    prepared = fitted.prepared
    if not len(test_users):
        return test_users, scoring.FoldIn(np.zeros((0, 0)), None, np.zeros(0), np.zeros(0, np.int64))
    known = np.isin(test_users, prepared.user_ids)
    positions = np.searchsorted(prepared.user_ids, test_users)
    positions = np.where(known, np.minimum(positions, len(prepared.user_ids) - 1), 0)
    rating = user_factors_collect(fitted.rating, test_users, len(prepared.user_ids))
    rating *= np.where(known, prepared.user_scale[positions], 1.0)[:, None].astype(np.float32)
    return test_users, scoring.FoldIn(
        factors=user_factors_collect(fitted.ranking, test_users, len(prepared.user_ids)),
        rating_factors=rating,
        bias=np.where(known, prepared.user_bias[positions], 0.0),
        counts=np.where(known, prepared.user_counts[positions], 0),
    )


def evaluate(
    fitted: Fitted,
    side: scoring.ItemSide,
    train: Ratings,
    test: Ratings,
    params: dict,
    users: tuple[np.ndarray, scoring.FoldIn] | None = None,
    *,
    beyond: bool = True,
) -> dict:
    """Holdout metrics of DESIGN.md §8 with the models fitted on ``train`` (``scoring.holdout_score``
    of ``evaluation_users``, collected now unless given); with ``beyond``, also the top 10s'
    coverage, novelty, diversity and already-rated share (recommender.quality.beyond)."""
    test_users, vectors = users if users is not None else evaluation_users(fitted, test, params)
    if not len(test_users):
        return {"eval_users": 0}
    in_test = np.isin(test.user, test_users)
    in_train = np.isin(train.user, test_users)
    test_segment = np.searchsorted(test_users, test.user[in_test])
    seen_segment, seen_rows = np.searchsorted(test_users, train.user[in_train]), side.positions(train.item[in_train])
    scored = scoring.holdout_score(
        vectors,
        seen_segment,
        seen_rows,
        test_segment,
        test.item[in_test],
        side,
        fitted.constants,
        train_ratings=train.rating[in_train],
    )
    errors = scored.pair_predicted - test.rating[in_test].astype(np.float64)
    pairs = len(errors)
    metrics: dict[str, object] = {
        "rmse": math.sqrt(float((errors**2).sum()) / pairs) if pairs else None,
        "mae": float(np.abs(errors).sum()) / pairs if pairs else None,
        "precision_at_10": float(scored.precision.mean()),
        "ndcg_at_10": float(scored.ndcg.mean()),
        "popularity_precision_at_10": float(scored.pop_precision.mean()),
        "popularity_ndcg_at_10": float(scored.pop_ndcg.mean()),
        "eval_users": len(test_users),
        "eval_pairs": pairs,
    }
    # The long tail (DESIGN.md §11): recommended titles with fewer than 5 training ratings.
    recommended = scored.top_rows[scored.top_rows >= 0]
    thin = recommended[side.support[recommended] < 5]
    metrics["few_ratings_share"] = float(len(thin) / len(recommended)) if len(recommended) else 0.0
    metrics["few_ratings_titles"] = int(len(np.unique(thin)))
    listed: np.ndarray = scored.top_rows >= 0
    thin_slots: np.ndarray = listed & (side.support[np.where(listed, scored.top_rows, 0)] < 5)
    with_lists = np.flatnonzero(listed.any(axis=1))  # users with a list at all
    users_thin = np.asarray(thin_slots.any(axis=1))[with_lists]
    metrics["few_ratings_users"] = float(users_thin.mean()) if len(users_thin) else 0.0
    buckets = confidence_buckets(scored.top_confidence, scored.top_hit, scored.pair_confidence, np.abs(errors))
    metrics["confidence_buckets"] = buckets
    metrics["confidence_rises"] = confidence_rises(buckets)
    if beyond:
        metrics.update(
            beyond_accuracy(
                scored.top_rows,
                seen_segment=seen_segment,
                seen_rows=seen_rows,
                train_user=train.user,
                train_rows=side.positions(train.item),
                titles=len(side.ids),
            )
        )
    return metrics


def confidence_rises(buckets: list[dict]) -> bool | None:
    """Does the top 10's hit rate rise from low to medium to high confidence? Judged over the
    buckets that hold recommendations (a top 10 often has no low-confidence title); None when
    fewer than two do: nothing to compare."""
    rates = [bucket["hit_rate"] for bucket in buckets if bucket["hit_rate"] is not None]
    if len(rates) < 2:
        return None
    return all(low < high for low, high in zip(rates, rates[1:], strict=False))


def confidence_buckets(
    top_confidence: np.ndarray, top_hit: np.ndarray, pair_confidence: np.ndarray, pair_error: np.ndarray
) -> list[dict]:
    """Does confidence mean something? Hit rate of the top 10 and star error, per confidence tercile."""
    buckets = []
    edges = [0.0, 1 / 3, 2 / 3, 1.0000001]
    for low, high, name in zip(edges, edges[1:], ("low", "medium", "high"), strict=False):
        top_mask = (top_confidence >= low) & (top_confidence < high)
        pair_mask = (pair_confidence >= low) & (pair_confidence < high)
        buckets.append(
            {
                "confidence": name,
                "range": [round(low, 3), round(min(high, 1.0), 3)],
                "recommendations": int(top_mask.sum()),
                "hit_rate": float(top_hit[top_mask].mean()) if top_mask.any() else None,
                "pairs": int(pair_mask.sum()),
                "mae": float(pair_error[pair_mask].mean()) if pair_mask.any() else None,
            }
        )
    return buckets
