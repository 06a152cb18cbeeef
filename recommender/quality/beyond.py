"""Ranking and beyond-accuracy metrics of top-k lists, in numpy (no Django, no pyspark): the Spark
job scores every run's holdout lists with them, and ``evaluate_recommender`` scores EASE and most
popular with the same functions, so the three columns are measured alike (recommender/DESIGN.md §8).

A list is a row of a (users, k) array of title rows (positions in the run's sorted titles), best
first, -1 for an empty slot.

* precision@k and NDCG@k (binary relevance: the user rated the title in the held-out part);
* catalog coverage: distinct titles in the lists / titles that could be recommended;
* novelty: mean self-information −log2(n_i / users) of the recommended titles, n_i the title's
  training ratings and users the training users (a title everyone rated has 0 bits);
* intra-list diversity: mean over users of the mean pairwise cosine distance 1 − cos(i, j) of the
  titles' rating vectors (which training users rated them: cos = co-raters / √(n_i n_j));
* already-rated share: recommended slots the user had rated in training (0 by construction).
"""

from __future__ import annotations

import numpy as np
from scipy import sparse

# Users whose lists' pairwise similarities are computed together (the titles of 256 lists of 10).
DIVERSITY_CHUNK = 256


def ranking_metrics(
    top: np.ndarray, test_segment: np.ndarray, test_rows: np.ndarray, relevant_count: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Per user: precision@k and binary NDCG@k of the lists ``top`` (users, k) against the held-out
    (user, title row) pairs (rows -1, titles the lists cannot hold, still count in
    ``relevant_count``, each user's number of held-out titles; the ideal list has min(k, that))."""
    users, k = top.shape
    known = test_rows >= 0
    width = int(max(top.max(initial=0), test_rows.max(initial=0))) + 2
    held = np.asarray(test_segment, dtype=np.int64)[known] * width + np.asarray(test_rows, dtype=np.int64)[known]
    wanted = np.repeat(np.arange(users, dtype=np.int64), k) * width + top.ravel()
    hit = (np.isin(wanted, held) & (top.ravel() >= 0)).reshape(users, k)
    discounts = 1.0 / np.log2(np.arange(2, k + 2))
    ideal = np.concatenate([[0.0], np.cumsum(discounts)])[np.minimum(relevant_count, k)]
    with np.errstate(invalid="ignore", divide="ignore"):
        ndcg = np.where(ideal > 0, (hit * discounts).sum(axis=1) / ideal, 0.0)
    return hit.sum(axis=1) / k, ndcg


def beyond_accuracy(
    top: np.ndarray,
    *,
    seen_segment: np.ndarray,
    seen_rows: np.ndarray,
    train_user: np.ndarray,
    train_rows: np.ndarray,
    titles: int,
) -> dict:
    """Coverage, novelty, diversity and already-rated share of the lists ``top`` (users, k).

    ``seen_*``: the listed users' training (user 0..users-1, title row) pairs; ``train_*``: every
    training rating (any user id, title row; rows -1 are ignored), for the titles' support and
    rating vectors; ``titles``: how many titles the lists could hold."""
    users, k = top.shape
    valid = top >= 0
    slots = int(valid.sum())
    keep = train_rows >= 0
    train_user, train_rows = np.asarray(train_user)[keep], np.asarray(train_rows)[keep]
    user_ids, user_index = np.unique(train_user, return_inverse=True)
    support = np.bincount(train_rows, minlength=titles).astype(np.float64)
    if not slots:
        return {
            "catalog_coverage": 0.0,
            "novelty_bits": None,
            "intra_list_diversity": None,
            "already_rated_share": 0.0,
            "recommended_slots": 0,
        }
    recommended = top[valid]
    share = np.maximum(support[recommended], 1.0) / max(len(user_ids), 1)
    width = titles + 1
    seen_codes = np.asarray(seen_segment, dtype=np.int64) * width + np.asarray(seen_rows, dtype=np.int64)
    slot_codes = np.repeat(np.arange(users), k)[valid.ravel()] * width + recommended
    matrix = sparse.csc_matrix(
        (np.ones(len(train_rows), dtype=np.float32), (user_index, train_rows)), shape=(len(user_ids), titles)
    )
    matrix.sum_duplicates()
    matrix.data[:] = 1.0
    distances = []
    for start in range(0, users, DIVERSITY_CHUNK):
        block = top[start : start + DIVERSITY_CHUNK]
        block_valid = block >= 0
        columns, inverse = np.unique(np.where(block_valid, block, 0), return_inverse=True)
        inverse = inverse.reshape(block.shape)
        sub = matrix[:, columns]
        co_raters = (sub.T @ sub).toarray()
        norms = np.sqrt(np.maximum(support[columns], 1.0))
        cosine = co_raters / np.outer(norms, norms)
        pair_cosine = cosine[inverse[:, :, None], inverse[:, None, :]]
        pair_valid = block_valid[:, :, None] & block_valid[:, None, :] & np.triu(np.ones((k, k), bool), 1)
        pairs = pair_valid.sum(axis=(1, 2))
        total = np.where(pair_valid, 1.0 - pair_cosine, 0.0).sum(axis=(1, 2))
        distances.append(total[pairs > 0] / pairs[pairs > 0])
    per_user = np.concatenate(distances) if distances else np.zeros(0)
    return {
        "catalog_coverage": float(len(np.unique(recommended)) / max(titles, 1)),
        "novelty_bits": float(np.mean(-np.log2(share))),
        "intra_list_diversity": float(per_user.mean()) if len(per_user) else None,
        "already_rated_share": float(np.isin(slot_codes, seen_codes).sum() / slots),
        "recommended_slots": slots,
    }
