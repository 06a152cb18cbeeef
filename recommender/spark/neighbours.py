"""The star model's neighbour lists (DESIGN.md §2), on the driver: numpy and scipy, no Spark.

Each title with at least ``star_neighbour_min_support`` training ratings (the
``star_neighbour_max_titles`` most rated at most) gets its ``star_neighbour_n`` most alike such
titles by the cosine of the ratings' baseline residuals z_ui = r_ui − mu − b_u − b_i, shrunk by
the number n_ij of users who rated both (Koren 2008's shrunk correlation, with each title's norm
over all its raters so one sparse product fewer is needed):

    s_ij = n_ij / (n_ij + star_neighbour_shrink) · Σ_u z_ui z_uj / (‖z_i‖ ‖z_j‖)

Only positive similarities are kept. It runs in ``prepare_arrays``, while the JVM starts: the
co-rating sums are sparse products over blocks of titles (float32), so memory stays bounded by the
block (``BLOCK_CELLS``) and the work by Σ_u n_u² over the eligible titles and by their number
squared.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import sparse

from recommender.spark import scoring

# Cells of one block of titles × eligible titles (two float32 matrices of it at a time).
BLOCK_CELLS = 1 << 22


@dataclass
class Neighbours:
    """Neighbour lists as CSR over ``owners`` (item ids, sorted): owner k's neighbours are
    ``neighbours[offsets[k]:offsets[k + 1]]`` (item ids, best first) with ``scores``."""

    owners: np.ndarray
    offsets: np.ndarray
    neighbours: np.ndarray
    scores: np.ndarray

    @classmethod
    def empty(cls) -> Neighbours:
        return cls(np.zeros(0, np.int64), np.zeros(1, np.int64), np.zeros(0, np.int64), np.zeros(0, np.float32))

    def __len__(self) -> int:
        return len(self.neighbours)


def eligible_titles(support: np.ndarray, *, min_support: int, max_titles: int) -> np.ndarray:
    """Indexes (sorted) of the titles that take part: enough ratings, the most rated first."""
    eligible = np.flatnonzero(support >= max(min_support, 1))
    if max_titles and len(eligible) > max_titles:
        order = np.lexsort((eligible, -support[eligible]))
        eligible = np.sort(eligible[order[:max_titles]])
    return eligible


def star_neighbours(
    user_index: np.ndarray,
    item_index: np.ndarray,
    residuals: np.ndarray,
    *,
    item_ids: np.ndarray,
    users: int,
    params: dict,
) -> Neighbours:
    """The neighbour lists of the titles ``item_ids`` (indexed by ``item_index``) from the
    ratings' baseline ``residuals``; empty when ``star_neighbour_n`` or the weight is 0."""
    count = int(params["star_neighbour_n"])
    if not count or not params["star_neighbour_weight"] or not len(residuals):
        return Neighbours.empty()
    support = np.bincount(item_index, minlength=len(item_ids))
    columns = eligible_titles(
        support,
        min_support=int(params["star_neighbour_min_support"]),
        max_titles=int(params["star_neighbour_max_titles"]),
    )
    if len(columns) < 2:
        return Neighbours.empty()
    column_of = np.full(len(item_ids), -1, dtype=np.int64)
    column_of[columns] = np.arange(len(columns))
    keep = column_of[item_index] >= 0
    shape = (users, len(columns))
    rows, cols = user_index[keep], column_of[item_index[keep]]
    values = np.asarray(residuals, dtype=np.float32)[keep]
    residual = sparse.csr_matrix((values, (rows, cols)), shape=shape)
    rated = sparse.csr_matrix((np.ones(len(values), dtype=np.float32), (rows, cols)), shape=shape)
    residual_t, rated_t = residual.T.tocsr(), rated.T.tocsr()
    norms = np.sqrt(np.bincount(cols, values.astype(np.float64) ** 2, len(columns))).astype(np.float32)
    shrink = np.float32(params["star_neighbour_shrink"])
    step = max(1, BLOCK_CELLS // len(columns))
    lengths, found, scores = [], [], []
    for start in range(0, len(columns), step):
        stop = min(start + step, len(columns))
        similarity = (residual_t[start:stop] @ residual).toarray()
        common = (rated_t[start:stop] @ rated).toarray()
        common /= common + shrink
        with np.errstate(invalid="ignore", divide="ignore"):
            similarity /= norms[start:stop, None]
            similarity /= norms[None, :]
        similarity *= common
        similarity[~(similarity > 0)] = -np.inf  # negatives, zeros and NaN (no common rater)
        similarity[np.arange(stop - start), np.arange(start, stop)] = -np.inf
        best, values_best, valid = scoring.top_k(similarity, count)
        lengths.append(valid.sum(axis=1))
        found.append(columns[best[valid]])
        scores.append(values_best[valid].astype(np.float32))
    counts = np.concatenate(lengths)
    return Neighbours(
        owners=np.asarray(item_ids, dtype=np.int64)[columns],
        offsets=np.concatenate([[0], np.cumsum(counts)]).astype(np.int64),
        neighbours=np.asarray(item_ids, dtype=np.int64)[np.concatenate(found)],
        scores=np.concatenate(scores),
    )
