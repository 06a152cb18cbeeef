""" "More like this" in time linear in the titles (DESIGN.md §11): each title is scored only against
candidates it already has, with the score ``scoring.similar_titles`` gives every pair.

``scoring.similar_titles`` ranks each title against every title of the run: the cosine of the
ranking vectors of all pairs, O(titles²). At full size (466,870 rated titles) that pass alone was
projected at 96 minutes. Here the candidates of title i are

* the titles the job already lists as alike, both ways: its content neighbours (``content_n``,
  and the titles whose content lists name i), its star-model neighbours and its item-item
  (EASE) neighbours;
* every title that shares a director, writer or leading actor with i (the catalog's inverted
  index, a person with more than ``content.PERSON_MAX_TITLES`` titles already left out);
* the ``pool`` titles with the most training ratings (``SIMILAR_POOL``): the famous titles that a
  famous title's list is mostly made of, and the cosine-only candidates of titles without content.

Each title has at most a few hundred candidates besides the pool, whatever the catalog's size, so
the pass is linear in the titles. Every candidate pair is scored exactly as the quadratic version
does (content s(i, j) · standing · (1 + cosine lift), the cosine alone where content cannot speak),
so a title's list differs from the quadratic one only where a title outside its candidates would
have ranked among its first ``count``: ``tests/recommender/test_similar_linear.py`` checks the
two agree when the candidates cover every title, and the figures on the bundled sample are in
docs/full-size.md.

numpy only: the executors import this module.
"""

from __future__ import annotations

import numpy as np

from recommender.spark import content as content_side
from recommender.spark.scoring import SIMILAR_COSINE_ALONE, SIMILAR_LIFT, SIMILAR_SUPPORT_PRIOR, ItemSide

# The most-rated titles every title is also scored against.
SIMILAR_POOL = 1000
# Candidate pairs scored at once: bounds a block's arrays (a few float32 and int64 columns of it,
# plus the gathered vectors: rank × 4 bytes each) to some tens of MB.
PAIRS_PER_BLOCK = 1 << 19


class Candidates:
    """What the pass needs besides the side and the catalog, built once per task: the linked
    titles of every title (the side's three neighbour lists, both ways) as CSR over side rows,
    the pool, and the row maps between side and catalog."""

    def __init__(self, side: ItemSide, catalog: content_side.Content | None, pool: int = SIMILAR_POOL):
        titles = len(side.ids)
        sources, targets = [], []
        for lists in (side.content_neighbours, side.star_neighbours, side.item_neighbours):
            offsets, rows = lists.offsets, lists.rows
            if len(offsets) != titles + 1 or not len(rows):
                continue
            owner = np.repeat(np.arange(titles, dtype=np.int64), np.diff(offsets))
            sources += [owner, np.asarray(rows, dtype=np.int64)]
            targets += [np.asarray(rows, dtype=np.int64), owner]
        source = np.concatenate(sources) if sources else np.zeros(0, np.int64)
        target = np.concatenate(targets) if targets else np.zeros(0, np.int64)
        keys = _distinct(source * max(titles, 1) + target)
        source, target = keys // max(titles, 1), keys % max(titles, 1)
        self.linked_offsets = np.concatenate([[0], np.cumsum(np.bincount(source, minlength=titles))]).astype(np.int64)
        self.linked_rows = target
        self.pool = np.sort(np.lexsort((np.arange(titles), -side.support))[: min(pool, titles)]).astype(np.int64)
        self.catalog = catalog
        if catalog is not None and len(catalog):
            self.catalog_row = catalog.positions(side.ids)  # side row → catalog row, -1 without content
            self.side_row = np.full(len(catalog), -1, dtype=np.int64)
            self.side_row[self.catalog_row[self.catalog_row >= 0]] = np.flatnonzero(self.catalog_row >= 0)
            self.genre_bytes = _genre_byte_weights(catalog.genre_weights)
            self.genre_totals = _genre_weight_sum(catalog.genres, self.genre_bytes)
        else:
            self.catalog = None

    def per_title(self) -> int:
        """About how many candidates a title has (to size the blocks)."""
        titles = max(len(self.linked_offsets) - 1, 1)
        return len(self.pool) + len(self.linked_rows) // titles + 200


def _csr_entries(offsets: np.ndarray, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The entries of CSR rows ``rows`` as (position of the row in ``rows``, index of the entry),
    no Python per row."""
    starts, lengths = offsets[rows], offsets[rows + 1] - offsets[rows]
    owner = np.repeat(np.arange(len(rows), dtype=np.int64), lengths)
    first = np.concatenate([[0], np.cumsum(lengths)[:-1]]).astype(np.int64)
    entry = np.arange(len(owner), dtype=np.int64) - np.repeat(first - starts, lengths)
    return owner, entry


def _genre_byte_weights(genre_weights: np.ndarray) -> np.ndarray:
    """(8, 256) float32: for byte k of a genre mask, the summed weights of the bits each value sets."""
    values = np.arange(256, dtype=np.int64)
    bits = (values[:, None] >> np.arange(8)[None, :]) & 1  # (256, 8)
    weights = np.zeros(64, dtype=np.float32)
    weights[: len(genre_weights)] = np.maximum(genre_weights, 0)
    return (bits[None, :, :] * weights.reshape(8, 1, 8)).sum(axis=2).astype(np.float32)


def _genre_weight_sum(masks: np.ndarray, byte_weights: np.ndarray) -> np.ndarray:
    total = np.zeros(len(masks), dtype=np.float32)
    for byte in range(8):
        total += byte_weights[byte][((masks >> np.uint64(8 * byte)) & np.uint64(0xFF)).astype(np.int64)]
    return total


def _people_pairs(catalog: content_side.Content, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Σ over shared people of w_p(i)·w_p(j) for the catalog rows ``rows`` and every title they
    share someone with, as (keys ``position of i in rows × titles + j``, sorted; sums):
    ``content.people_shared`` without its dense (rows × titles) matrix."""
    size = len(catalog)
    owner, entry = _csr_entries(catalog.title_offsets, rows)
    person, weight = catalog.title_people[entry], catalog.title_weights[entry]
    other_owner, other_entry = _csr_entries(catalog.person_offsets, person)
    keys = owner[other_owner] * size + catalog.person_titles[other_entry]
    values = weight[other_owner] * catalog.person_weights[other_entry]
    unique, inverse = np.unique(keys, return_inverse=True)
    return unique, np.bincount(inverse, weights=values, minlength=len(unique)).astype(np.float32)


def _closeness(values: np.ndarray, first: np.ndarray, second: np.ndarray, scale: float) -> np.ndarray:
    difference = np.abs(values[first] - values[second])
    return np.where(
        np.isnan(difference), np.float32(content_side.MISSING), np.exp(-difference / np.float32(scale))
    ).astype(np.float32)


def _content_pairs(found: Candidates, first: np.ndarray, second: np.ndarray, people: np.ndarray) -> np.ndarray:
    """s(i, j) · standing(i, j) for catalog rows ``first`` and ``second`` (pairs), ``people``
    their Σ shared people weights: ``content.similarity_block`` and ``content.standing`` per pair."""
    catalog = found.catalog
    assert catalog is not None
    shared = _genre_weight_sum(catalog.genres[first] & catalog.genres[second], found.genre_bytes)
    union = found.genre_totals[first] + found.genre_totals[second] - shared
    with np.errstate(invalid="ignore", divide="ignore"):
        jaccard = np.where(union > 0, shared / union, 0.0).astype(np.float32)
    fit = np.where(catalog.kind[first] == catalog.kind[second], np.float32(1.0), np.float32(content_side.OTHER_TYPE))
    fit = fit * _closeness(catalog.year, first, second, content_side.YEAR_SCALE)
    fit = fit * _closeness(catalog.runtime, first, second, content_side.RUNTIME_SCALE)
    fit = fit * _closeness(catalog.rating, first, second, content_side.RATING_SCALE)
    similarity = (
        np.float32(content_side.PEOPLE_SHARE) * np.minimum(people, 1.0) * fit**content_side.PEOPLE_FIT_POWER
        + np.float32(content_side.GENRE_SHARE) * jaccard * jaccard * fit
    ).astype(np.float32)
    return similarity * _closeness(catalog.votes, first, second, content_side.VOTES_SCALE)


def _distinct(keys: np.ndarray) -> np.ndarray:
    """``keys`` sorted, each once (a sort and a comparison: faster than ``np.unique`` here)."""
    keys = np.sort(keys)
    return keys[np.r_[True, keys[1:] != keys[:-1]]] if len(keys) else keys


def _pair_scores(
    block: np.ndarray,
    owner: np.ndarray,
    other: np.ndarray,
    cosine: np.ndarray,
    side: ItemSide,
    found: Candidates,
    people: tuple[np.ndarray, np.ndarray],
    min_support: int,
) -> np.ndarray:
    """``scoring.similar_titles``' score of the pairs (``block[owner]``, ``other``) whose ranking
    cosine is ``cosine``; -inf where that version leaves a pair out (the title itself, no content
    shared between two titles with content, too few ratings without a catalog)."""
    if found.catalog is None:
        return np.where((side.support[other] >= min_support) & (other != block[owner]), cosine, -np.inf)
    catalog = found.catalog
    support = side.support[other].astype(np.float32)
    trusted = np.where(support >= min_support, support / (support + np.float32(SIMILAR_SUPPORT_PRIOR)), 0.0)
    cosine = np.maximum(cosine, 0.0) * trusted.astype(np.float32)
    first, second = found.catalog_row[block[owner]], found.catalog_row[other]
    both = (first >= 0) & (second >= 0)
    alike = np.zeros(len(owner), dtype=np.float32)
    people_keys, people_sums = people
    pair_keys = owner[both] * len(catalog) + second[both]
    shared = np.zeros(len(pair_keys), np.float32)
    if len(people_keys):
        at = np.minimum(np.searchsorted(people_keys, pair_keys), len(people_keys) - 1)
        shared = np.where(people_keys[at] == pair_keys, people_sums[at], np.float32(0.0)).astype(np.float32)
    alike[both] = _content_pairs(found, first[both], second[both], shared)
    similarity = alike * (1.0 + np.float32(SIMILAR_LIFT) * cosine) + np.float32(SIMILAR_COSINE_ALONE) * cosine * (~both)
    return np.where((similarity > 0) & (other != block[owner]), similarity, -np.inf).astype(np.float32)


def similar_block(
    block: np.ndarray,
    side: ItemSide,
    unit: np.ndarray,
    found: Candidates,
    count: int,
    min_support: int = 1,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """For the title rows ``block``: the ``count`` most similar of their candidates (module
    docstring), best first, equal scores by row, never the title itself, as (lengths per title,
    title rows, scores): ``scoring.similar_titles``' score, pair by pair. The pool is scored as a
    dense (titles × pool) matrix, the other candidates as pairs."""
    from recommender.spark.scoring import top_k

    titles, size = len(side.ids), len(block)
    catalog = found.catalog
    people: tuple[np.ndarray, np.ndarray] = (np.zeros(0, np.int64), np.zeros(0, np.float32))
    owners, others = [], []
    owner, entry = _csr_entries(found.linked_offsets, block)
    owners.append(owner)
    others.append(found.linked_rows[entry])
    if catalog is not None:
        own_catalog = found.catalog_row[block]
        with_content = np.flatnonzero(own_catalog >= 0)
        keys, sums = _people_pairs(catalog, own_catalog[with_content])
        # Keyed by (position in ``with_content``, catalog row): re-keyed by position in ``block``.
        position, other_catalog = with_content[keys // len(catalog)], keys % len(catalog)
        people = (position * len(catalog) + other_catalog, sums)  # still sorted: ``with_content`` is
        owners.append(position)
        others.append(found.side_row[other_catalog])
    # The pool's pairs: a dense block.
    pool = found.pool
    pool_owner = np.repeat(np.arange(size, dtype=np.int64), len(pool))
    pool_scores = _pair_scores(
        block, pool_owner, np.tile(pool, size), (unit[block] @ unit[pool].T).ravel(), side, found, people, min_support
    ).reshape(size, len(pool))
    best, values, valid = top_k(pool_scores, count)
    # The other candidates, each once and not in the pool: pairs.
    in_pool = np.zeros(titles, dtype=bool)
    in_pool[pool] = True
    keys = np.concatenate(owners) * titles + np.concatenate(others)
    keys = _distinct(keys[~in_pool[keys % titles]])
    owner, other = keys // titles, keys % titles
    cosine = np.einsum("ij,ij->i", unit[block[owner]], unit[other]).astype(np.float32)
    scores = _pair_scores(block, owner, other, cosine, side, found, people, min_support)
    kept = np.isfinite(scores)
    owner = np.concatenate([owner[kept], np.repeat(np.arange(size), valid.sum(axis=1))])
    other = np.concatenate([other[kept], pool[best[valid]]])
    scores = np.concatenate([scores[kept], values[valid].astype(np.float32)])
    order = np.lexsort((other, -scores, owner))
    owner, other, scores = owner[order], other[order], scores[order]
    rank = np.arange(len(owner)) - np.searchsorted(owner, np.arange(size))[owner]
    first = rank < count
    return np.bincount(owner[first], minlength=size), other[first], scores[first]


def similar_rows(
    rows: np.ndarray, side: ItemSide, found: Candidates, count: int, min_support: int = 1
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``similar_block`` over ``rows`` in blocks of about PAIRS_PER_BLOCK candidate pairs."""
    norms = np.linalg.norm(side.factors, axis=1, keepdims=True)
    unit = (side.factors / np.maximum(norms, 1e-12)).astype(np.float32)
    step = max(1, PAIRS_PER_BLOCK // found.per_title())
    lengths, similar, values = [np.zeros(0, np.int64)], [np.zeros(0, np.int64)], [np.zeros(0, np.float32)]
    for start in range(0, len(rows), step):
        block_lengths, block_rows, block_values = similar_block(
            rows[start : start + step], side, unit, found, count, min_support
        )
        lengths.append(block_lengths)
        similar.append(block_rows)
        values.append(block_values)
    return np.concatenate(lengths), np.concatenate(similar), np.concatenate(values)
