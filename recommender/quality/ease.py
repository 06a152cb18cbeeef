"""EASE (Steck, "Embarrassingly Shallow Autoencoders for Sparse Data", 2019): the item-item
baseline ``evaluate_recommender`` scores beside the model. Plain numpy: an evaluation baseline, never
served, so no Spark.

B = I − P·diagMat(1/diag(P)), P = (XᵀX + λI)⁻¹, X the binary user × title matrix of the training
part, titles capped at the ``EASE_MAX_TITLES`` most rated; a user's scores are x_u·B.

P is never formed: with XᵀX = V diag(s) Vᵀ (its non-zero eigenpairs, from the smaller of XᵀX and
XXᵀ), P = (I − V diag(s/(s+λ)) Vᵀ)/λ, so one eigendecomposition serves every λ tried:
diag(P) = (1 − Σ_k V_ik² s_k/(s_k+λ))/λ and x_u·P = (x_u − (x_u V) diag(s/(s+λ)) Vᵀ)/λ. On
ml-latest-small (610 users, 9,000 titles) that is a 610 × 610 eigendecomposition instead of
9,000 × 9,000 inverses.

λ is chosen on a validation part of the training data (``EASE_VALIDATION_FRACTION`` of its
ratings, seeded), by NDCG@10, then EASE is refitted on the whole training part with it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import sparse

from recommender.quality.beyond import ranking_metrics
from recommender.spark.scoring import top_k

EASE_MAX_TITLES = 20_000
EASE_LAMBDAS = (10.0, 30.0, 100.0, 300.0, 1000.0, 3000.0)
EASE_VALIDATION_FRACTION = 0.2
# Users scored together: 512 users x 20,000 titles of float64 is 82 MB.
EASE_USER_CHUNK = 512


@dataclass
class EaseModel:
    titles: np.ndarray  # item ids of the columns, sorted
    vectors: np.ndarray  # V (titles, r): eigenvectors of XᵀX with non-zero eigenvalue
    values: np.ndarray  # s (r,)

    def positions(self, items: np.ndarray) -> np.ndarray:
        """Column of each item id, -1 for titles outside the model."""
        items = np.asarray(items, dtype=np.int64)
        if not len(self.titles):
            return np.full(len(items), -1, dtype=np.int64)
        pos = np.minimum(np.searchsorted(self.titles, items), len(self.titles) - 1)
        return np.where(self.titles[pos] == items, pos, -1)


def ease_fit(users: np.ndarray, items: np.ndarray, *, max_titles: int = EASE_MAX_TITLES) -> EaseModel:
    """The eigendecomposition behind EASE of the (user, item) pairs, on the ``max_titles`` most
    rated titles (ties by id)."""
    item_ids, item_index, support = np.unique(items, return_inverse=True, return_counts=True)
    if len(item_ids) > max_titles:
        chosen = np.sort(np.lexsort((item_ids, -support))[:max_titles])
        keep = np.isin(item_index, chosen)
        item_ids, item_index = item_ids[chosen], np.searchsorted(chosen, item_index[keep])
        users = np.asarray(users)[keep]
    user_ids, user_index = np.unique(users, return_inverse=True)
    matrix = sparse.csr_matrix(
        (np.ones(len(user_index)), (user_index, item_index)), shape=(len(user_ids), len(item_ids))
    )
    matrix.sum_duplicates()
    matrix.data[:] = 1.0
    if len(user_ids) < len(item_ids):
        values, left = np.linalg.eigh((matrix @ matrix.T).toarray())
        keep = values > 1e-9 * max(float(values.max(initial=0.0)), 1.0)
        values, left = values[keep], left[:, keep]
        vectors = np.asarray(matrix.T @ left) / np.sqrt(values)  # X = U √s Vᵀ, so V = Xᵀ U / √s
    else:
        values, vectors = np.linalg.eigh((matrix.T @ matrix).toarray())
        keep = values > 1e-9 * max(float(values.max(initial=0.0)), 1.0)
        values, vectors = values[keep], vectors[:, keep]
    return EaseModel(np.asarray(item_ids, dtype=np.int64), vectors, values)


def ease_scores(model: EaseModel, rows: np.ndarray, lam: float) -> np.ndarray:
    """x_u·B for the users whose binary rows (users, titles) are given: x − (x·P) / diag(P)."""
    shrink = model.values / (model.values + lam)
    diagonal = (1.0 - (model.vectors**2) @ shrink) / lam
    projected = (rows - ((rows @ model.vectors) * shrink) @ model.vectors.T) / lam
    return rows - projected / diagonal


def ease_top(
    model: EaseModel, lam: float, segment: np.ndarray, items: np.ndarray, users: int, k: int = 10
) -> np.ndarray:
    """Each of ``users`` users' top ``k`` columns (-1 for empty slots) among the titles they did not
    rate: ``segment``/``items`` are their (user 0..users-1, item id) training pairs."""
    columns = model.positions(items)
    segment = np.asarray(segment, dtype=np.int64)
    inside = columns >= 0
    segment, columns = segment[inside], columns[inside]
    order = np.argsort(segment, kind="stable")
    segment, columns = segment[order], columns[order]
    out = np.full((users, k), -1, dtype=np.int64)
    for start in range(0, users, EASE_USER_CHUNK):
        stop = min(start + EASE_USER_CHUNK, users)
        low, high = np.searchsorted(segment, [start, stop])
        rows = np.zeros((stop - start, len(model.titles)))
        rows[segment[low:high] - start, columns[low:high]] = 1.0
        scores = ease_scores(model, rows, lam)
        scores[segment[low:high] - start, columns[low:high]] = -np.inf
        best, _, valid = top_k(scores, k)
        out[start:stop, : best.shape[1]] = np.where(valid, best, -1)
    return out


def ease_lambda_choose(
    users: np.ndarray, items: np.ndarray, *, seed: int, lambdas=EASE_LAMBDAS, max_titles: int = EASE_MAX_TITLES
) -> tuple[float, list[dict]]:
    """λ with the best NDCG@10 on a validation part (``EASE_VALIDATION_FRACTION`` of these training
    pairs, seeded) after fitting on the rest; returns it and every λ's validation scores."""
    users, items = np.asarray(users), np.asarray(items)
    held = np.random.default_rng(seed).random(len(users)) < EASE_VALIDATION_FRACTION
    model = ease_fit(users[~held], items[~held], max_titles=max_titles)
    user_ids = np.unique(users[held])
    fit_segment = np.searchsorted(user_ids, users[~held])
    in_validation = np.isin(users[~held], user_ids)
    test_segment = np.searchsorted(user_ids, users[held])
    test_columns = model.positions(items[held])
    relevant = np.bincount(test_segment, minlength=len(user_ids))
    records = []
    for lam in lambdas:
        top = ease_top(model, lam, fit_segment[in_validation], items[~held][in_validation], len(user_ids))
        precision, ndcg = ranking_metrics(top, test_segment, test_columns, relevant)
        records.append({"lambda": lam, "precision_at_10": float(precision.mean()), "ndcg_at_10": float(ndcg.mean())})
    best = max(records, key=lambda record: record["ndcg_at_10"])
    return float(best["lambda"]), records
