"""The ranking score's item-item part (recommender/DESIGN.md §1): a pruned EASE model of the training
ratings, fitted on the driver while the Spark session starts (numpy and scipy, no pyspark).

EASE (Steck 2019) on the binary user × title matrix X of the ``item_max_titles`` most-rated titles
(at least ``ITEM_MIN_SUPPORT`` ratings each, ties by id): P = (XᵀX + item_lambda·I)⁻¹ and
B = I − P·diagMat(1/diag(P)), so B[j, i] = −P[j, i] / P[i, i] off the diagonal. Each title j keeps
its ``item_n`` largest positive weights B[j, i] (its neighbour list, best first): the scoring side
(``scoring.item_scores``) spreads each of a member's ratings over its title's list, so the term stays
linear in the member's ratings and the live fold-in reproduces it exactly.

Cost: one dense ``item_max_titles``² Gram matrix and its inverse (3,000 titles: 72 MB, a second or
two); the rest of the catalog has no neighbour list and gets no item-item term.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import sparse

# A title rated fewer times than this has too little evidence for EASE's weights.
ITEM_MIN_SUPPORT = 2


@dataclass
class ItemNeighbours:
    """Each source title's neighbour list as CSR over ``sources`` (item ids, sorted):
    ``targets[offsets[s]:offsets[s + 1]]`` (item ids, best first) with ``weights`` B[j, i]."""

    sources: np.ndarray  # int64
    offsets: np.ndarray  # int64 (sources + 1)
    targets: np.ndarray  # int64
    weights: np.ndarray  # float32

    @classmethod
    def empty(cls) -> ItemNeighbours:
        return cls(np.zeros(0, np.int64), np.zeros(1, np.int64), np.zeros(0, np.int64), np.zeros(0, np.float32))


def item_neighbours_fit(
    users: np.ndarray, items: np.ndarray, *, max_titles: int, lam: float, count: int
) -> ItemNeighbours:
    """The pruned EASE weights of the (user, item) training pairs (module docstring)."""
    if not max_titles or not count or not len(items):
        return ItemNeighbours.empty()
    item_ids, item_index, support = np.unique(
        np.asarray(items, dtype=np.int64), return_inverse=True, return_counts=True
    )
    eligible = np.flatnonzero(support >= ITEM_MIN_SUPPORT)
    chosen = np.sort(eligible[np.lexsort((item_ids[eligible], -support[eligible]))[:max_titles]])
    if len(chosen) < 2:
        return ItemNeighbours.empty()
    keep = np.isin(item_index, chosen)
    columns = np.searchsorted(chosen, item_index[keep])
    _, rows = np.unique(np.asarray(users, dtype=np.int64)[keep], return_inverse=True)
    matrix = sparse.csr_matrix((np.ones(len(rows), np.float32), (rows, columns)), shape=(rows.max() + 1, len(chosen)))
    matrix.sum_duplicates()
    matrix.data[:] = 1.0
    gram = (matrix.T @ matrix).toarray().astype(np.float64)
    gram[np.diag_indices_from(gram)] += lam
    inverse = np.linalg.inv(gram)
    del gram
    weights = -inverse / np.diag(inverse)[None, :]  # B[j, i] = −P[j, i] / P[i, i]
    np.fill_diagonal(weights, 0.0)
    count = min(count, len(chosen) - 1)
    best = np.argpartition(-weights, count - 1, axis=1)[:, :count]
    values = np.take_along_axis(weights, best, axis=1)
    order = np.lexsort((best, -values), axis=1)  # best first, equal weights by column
    best, values = np.take_along_axis(best, order, axis=1), np.take_along_axis(values, order, axis=1)
    positive = values > 0
    lengths = positive.sum(axis=1)
    return ItemNeighbours(
        sources=item_ids[chosen].astype(np.int64),
        offsets=np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64),
        targets=item_ids[chosen][best[positive]].astype(np.int64),
        weights=values[positive].astype(np.float32),
    )
