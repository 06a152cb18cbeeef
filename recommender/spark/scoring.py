"""The numpy side of a run, used by the Spark job's passes on the executors (no pyspark, no Django).

Fold-in, scores, top-N, predicted stars, confidence and the ranking metrics, exactly as written in
recommender/DESIGN.md. Item-side arrays are sorted by item id so lookups are one ``searchsorted``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

# Users scored together in one matrix product: 256 users x 50,000 titles of float32 is 51 MB.
USER_CHUNK = 256


@dataclass
class ItemSide:
    ids: np.ndarray  # int64, sorted
    factors: np.ndarray  # float32 (items, rank): the ranking model's y_i
    rating_factors: np.ndarray  # float32 (items, rating_rank): the star model's q_i
    bias: np.ndarray  # float32 (items,): b_i
    support: np.ndarray  # int64 (items,): training ratings n_i
    gram: np.ndarray  # float64 (rank, rank): YᵀY over all titles
    popularity: np.ndarray  # float32 (items,): log(1 + n_i) / log(1 + max n_i)

    @classmethod
    def build(cls, *, ids, factors, rating_factors, bias, support) -> ItemSide:
        order = np.argsort(ids, kind="stable")
        ids = np.asarray(ids, dtype=np.int64)[order]
        factors = np.asarray(factors, dtype=np.float32)[order]
        support = np.asarray(support, dtype=np.int64)[order]
        max_support = max(int(support.max()) if len(support) else 1, 1)
        return cls(
            ids=ids,
            factors=factors,
            rating_factors=np.asarray(rating_factors, dtype=np.float32)[order],
            bias=np.asarray(bias, dtype=np.float32)[order],
            support=support,
            gram=factors.astype(np.float64).T @ factors.astype(np.float64),
            popularity=(np.log1p(support) / math.log1p(max_support)).astype(np.float32),
        )

    def positions(self, items) -> np.ndarray:
        """Row of each item id, -1 for items the run does not know."""
        items = np.asarray(items, dtype=np.int64)
        if not len(self.ids):
            return np.full(len(items), -1, dtype=np.int64)
        pos = np.searchsorted(self.ids, items)
        pos = np.minimum(pos, len(self.ids) - 1)
        return np.where(self.ids[pos] == items, pos, -1)


def strength(ratings: np.ndarray, count: int | np.ndarray, model: dict) -> np.ndarray:
    """w_ui of DESIGN.md §1: stars lift the confidence, heavy raters' single ratings weigh less."""
    span = model["scale_max"] - model["scale_min"]
    lift = 1.0 + model["star_weight"] * (np.asarray(ratings, dtype=np.float64) - model["scale_min"]) / span
    activity = (model["activity_reference"] / np.maximum(count, 1)) ** model["activity_exponent"]
    return lift * activity


def ranking_system(rows: np.ndarray, ratings: np.ndarray, side: ItemSide, model: dict) -> tuple[np.ndarray, np.ndarray]:
    """The ranking fold-in's normal equations (matrix, target) for one user with known titles:
    x_u = (YᵀY + Σ alpha w y yᵀ + reg n I)⁻¹ Σ (1 + alpha w) y."""
    count = len(rows)
    vectors = side.factors[rows].astype(np.float64)
    weights = model["alpha"] * strength(ratings, count, model)
    matrix = side.gram + (vectors.T * weights) @ vectors + model["reg"] * count * np.eye(vectors.shape[1])
    return matrix, (1.0 + weights) @ vectors


def rating_system(rows: np.ndarray, ratings: np.ndarray, side: ItemSide,
                  model: dict) -> tuple[np.ndarray, np.ndarray, float]:
    """The star fold-in (DESIGN.md §2, the titles' q_i and b_i fixed) for one user with known
    titles: b_u, then the normal equations (matrix, target) of p_u."""
    count = len(rows)
    ratings = np.asarray(ratings, dtype=np.float64)
    title_bias = side.bias[rows].astype(np.float64)
    user_bias = float((ratings - model["global_mean"] - title_bias).sum() / (model["bias_reg_user"] + count))
    residual = ratings - model["global_mean"] - user_bias - title_bias
    vectors = side.rating_factors[rows].astype(np.float64)
    matrix = vectors.T @ vectors + model["rating_reg"] * count * np.eye(vectors.shape[1])
    return matrix, vectors.T @ residual, user_bias


def ranking_fold_in(rows: np.ndarray, ratings: np.ndarray, side: ItemSide, model: dict) -> np.ndarray:
    """x_u of one user (the zero vector when no title is known)."""
    if len(rows) == 0:
        return np.zeros(side.factors.shape[1], dtype=np.float32)
    return np.linalg.solve(*ranking_system(rows, ratings, side, model)).astype(np.float32)


def rating_fold_in(rows: np.ndarray, ratings: np.ndarray, side: ItemSide, model: dict) -> tuple[np.ndarray, float]:
    """(p_u, b_u) of one user (zero and no bias when no title is known)."""
    if len(rows) == 0:
        return np.zeros(side.rating_factors.shape[1], dtype=np.float32), 0.0
    matrix, target, user_bias = rating_system(rows, ratings, side, model)
    return np.linalg.solve(matrix, target).astype(np.float32), user_bias


def fold_in_batch(rows_list: list[np.ndarray], ratings_list: list[np.ndarray], side: ItemSide,
                  model: dict) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``ranking_fold_in`` and ``rating_fold_in`` of many users at once: each user's normal
    equations built in turn, all of them solved in two batched calls (the solve's per-call
    overhead, not its arithmetic, dominates at these sizes). Returns (x_u, p_u, b_u)."""
    count = len(rows_list)
    rank, rating_rank = side.factors.shape[1], side.rating_factors.shape[1]
    matrices, targets = np.empty((count, rank, rank)), np.zeros((count, rank))
    rating_matrices, rating_targets = np.empty((count, rating_rank, rating_rank)), np.zeros((count, rating_rank))
    biases = np.zeros(count)
    for index, (rows, ratings) in enumerate(zip(rows_list, ratings_list, strict=True)):
        if len(rows) == 0:  # nothing known: the zero vector and no bias (identity systems, zero targets)
            matrices[index], rating_matrices[index] = np.eye(rank), np.eye(rating_rank)
            continue
        matrices[index], targets[index] = ranking_system(rows, ratings, side, model)
        rating_matrices[index], rating_targets[index], biases[index] = rating_system(rows, ratings, side, model)
    if not count:
        return np.zeros((0, rank), np.float32), np.zeros((0, rating_rank), np.float32), biases
    solved = np.linalg.solve(matrices, targets[..., None])[..., 0].astype(np.float32)
    rating_solved = np.linalg.solve(rating_matrices, rating_targets[..., None])[..., 0].astype(np.float32)
    return solved, rating_solved, biases


def stars_predict(user_vector, user_bias, rows: np.ndarray, side: ItemSide, model: dict) -> np.ndarray:
    """r̂ = clip(mu + b_u + b_i + p_u·q_i); titles the run does not know (row -1) get mu + b_u."""
    known = rows >= 0
    safe = np.where(known, rows, 0)
    item_part = side.bias[safe] + side.rating_factors[safe] @ np.asarray(user_vector, dtype=np.float32)
    value = model["global_mean"] + user_bias + np.where(known, item_part, 0.0)
    return np.clip(value, model["scale_min"], model["scale_max"])


def confidence(preference: np.ndarray, user_count, title_support: np.ndarray, model: dict) -> np.ndarray:
    """(clip(x·y, 0, 1) · n_u/(n_u + prior_u) · n_i/(n_i + prior_i)) ^ (1/3), in [0, 1]."""
    user_evidence = np.asarray(user_count, dtype=np.float64) / (user_count + model["confidence_user_prior"] + 1e-12)
    title_evidence = title_support / (title_support + model["confidence_title_prior"] + 1e-12)
    product = np.clip(preference, 0.0, 1.0) * user_evidence * title_evidence
    return np.clip(np.cbrt(product), 0.0, 1.0)


def scores_for(user_vectors: np.ndarray, side: ItemSide, model: dict) -> np.ndarray:
    """score_ui = x_u·y_i + popularity_weight * pop_i for a block of users (float32)."""
    scores = np.asarray(user_vectors, dtype=np.float32) @ side.factors.T
    if model["popularity_weight"]:
        scores += np.float32(model["popularity_weight"]) * side.popularity
    return scores


def top_rows(scores: np.ndarray, excluded: list[np.ndarray], count: int) -> list[np.ndarray]:
    """Per row of ``scores``: the positions of the ``count`` best, best first, skipping ``excluded``."""
    scores = scores.copy()
    for index, rows in enumerate(excluded):
        rows = rows[rows >= 0]
        if len(rows):
            scores[index, rows] = -np.inf
    width = scores.shape[1]
    count = min(count, width)
    if count == 0:
        return [np.empty(0, dtype=np.int64) for _ in excluded]
    best = np.argpartition(-scores, count - 1, axis=1)[:, :count] if count < width else np.tile(np.arange(width), (len(scores), 1))
    result = []
    for index in range(len(scores)):
        candidates = best[index]
        values = scores[index, candidates]
        ordered = candidates[np.argsort(-values, kind="stable")]
        result.append(ordered[np.isfinite(scores[index, ordered])])
    return result


def ranking_metrics(recommended: np.ndarray, relevant: set, k: int = 10) -> tuple[float, float]:
    """precision@k (hits / k) and binary NDCG@k of one user's list."""
    hits = np.array([1.0 if item in relevant else 0.0 for item in recommended[:k]])
    discounts = 1.0 / np.log2(np.arange(2, k + 2))
    dcg = float((hits * discounts[: len(hits)]).sum())
    ideal = float(discounts[: min(k, len(relevant))].sum())
    return float(hits.sum() / k), (dcg / ideal if ideal else 0.0)


# --- preparing the ratings on the driver -----------------------------------------------------------


def _mix64(values: np.ndarray) -> np.ndarray:
    """splitmix64's finaliser: a well-spread 64-bit hash of each value (uint64 in, uint64 out)."""
    with np.errstate(over="ignore"):
        values = (values ^ (values >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        values = (values ^ (values >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        return values ^ (values >> np.uint64(31))


def pair_draw(users: np.ndarray, items: np.ndarray, seed: int) -> np.ndarray:
    """A number in [0, 1) fixed by (user, item, seed): the same rating always lands on the same side."""
    with np.errstate(over="ignore"):
        key = (users.astype(np.int64).astype(np.uint64) << np.uint64(32)) ^ items.astype(np.int64).astype(np.uint64)
        key = _mix64(key ^ _mix64(np.full(len(key), seed, dtype=np.uint64) + np.uint64(0x9E3779B97F4A7C15)))
    return (key >> np.uint64(11)).astype(np.float64) / float(1 << 53)


def holdout_mask(users: np.ndarray, items: np.ndarray, *, fraction: float, seed: int, min_ratings: int) -> np.ndarray:
    """Which ratings are held out: each with probability ``fraction``, only from users with at least
    ``min_ratings`` ratings; every user and every title keeps at least one rating in training."""
    draw = pair_draw(users, items, seed)
    _, user_index, user_counts = np.unique(users, return_inverse=True, return_counts=True)
    held = (draw < fraction) & (user_counts[user_index] >= min_ratings)
    for index in (user_index, np.unique(items, return_inverse=True)[1]):
        size = index.max() + 1 if len(index) else 0
        total = np.bincount(index, minlength=size)
        held_count = np.bincount(index[held], minlength=size)
        emptied = np.flatnonzero((held_count == total) & (total > 0))
        if len(emptied):
            # Give back each emptied user's (title's) rating with the largest draw.
            rows = np.flatnonzero(np.isin(index, emptied))
            order = rows[np.lexsort((draw[rows], index[rows]))]
            last = order[np.r_[index[order][1:] != index[order][:-1], True]]
            held[last] = False
    return held


def group_lists(keys: np.ndarray, *values: np.ndarray) -> tuple[np.ndarray, list[list[np.ndarray]]]:
    """Distinct keys (sorted) and, for each of ``values``, the list of its values per key."""
    order = np.argsort(keys, kind="stable")
    sorted_keys = keys[order]
    distinct, starts = np.unique(sorted_keys, return_index=True)
    return distinct, [np.split(value[order], starts[1:]) for value in values]


def biases_solve(user_index: np.ndarray, item_index: np.ndarray, ratings: np.ndarray, *, mean: float, users: int,
                 items: int, reg_user: float, reg_item: float, sweeps: int) -> tuple[np.ndarray, np.ndarray]:
    """b_u and b_i of DESIGN.md §2 by ``sweeps`` rounds of regularised alternating least squares."""
    user_counts = np.bincount(user_index, minlength=users)
    item_counts = np.bincount(item_index, minlength=items)
    user_bias, item_bias = np.zeros(users), np.zeros(items)
    for _ in range(sweeps):
        item_bias = np.bincount(item_index, ratings - mean - user_bias[user_index], items) / (item_counts + reg_item)
        user_bias = np.bincount(user_index, ratings - mean - item_bias[item_index], users) / (user_counts + reg_user)
    return user_bias, item_bias
