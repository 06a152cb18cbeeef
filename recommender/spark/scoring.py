"""The numpy side of a run, used by the Spark job's passes on the executors (no pyspark, no Django).

Fold-in, scores, top-N, predicted stars, confidence and the ranking metrics, exactly as written in
recommender/DESIGN.md. Item-side arrays are sorted by item id so lookups are one ``searchsorted``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

# Users scored together in one matrix product: 256 users x 50,000 titles of float32 is 51 MB.
USER_CHUNK = 256


@dataclass
class NeighbourLists:
    """Each title's neighbour list as CSR over a run's rows: row j's neighbours are
    ``rows[offsets[j]:offsets[j + 1]]`` with ``scores`` alongside, in the list's order (best
    first); the defaults are no lists at all."""

    offsets: np.ndarray = field(default_factory=lambda: np.zeros(1, np.int64))
    rows: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    scores: np.ndarray = field(default_factory=lambda: np.zeros(0, np.float32))


@dataclass
class ItemSide:
    ids: np.ndarray  # int64, sorted
    factors: np.ndarray  # float32 (items, rank): the ranking model's y_i
    rating_factors: np.ndarray  # float32 (items, rating_rank): the star model's q_i
    bias: np.ndarray  # float32 (items,): b_i
    support: np.ndarray  # int64 (items,): training ratings n_i
    gram: np.ndarray  # float64 (rank, rank): YᵀY over all titles
    popularity: np.ndarray  # float32 (items,): log(1 + n_i) / log(1 + max n_i)
    # The content neighbours (DESIGN.md §11): row j's most alike titles; empty without content.
    content_neighbours: NeighbourLists = field(default_factory=NeighbourLists)
    # The star model's neighbours (DESIGN.md §2): title row i's most alike titles by the shrunk
    # correlation of their rating residuals, with s_ij as scores; empty lists for titles with too
    # few ratings.
    star_neighbours: NeighbourLists = field(default_factory=NeighbourLists)
    # The item-item part of the ranking score (DESIGN.md §1, ``item_item.py``): row j's pruned EASE
    # weights B[j, i] as scores.
    item_neighbours: NeighbourLists = field(default_factory=NeighbourLists)

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

    def with_content(self, items: np.ndarray, offsets: np.ndarray, neighbours: np.ndarray, scores) -> ItemSide:
        """This side joined with the catalog's titles ``items`` (sorted) and their content
        neighbours (CSR over ``items``, neighbour item ids): titles no one rated get zero vectors,
        no support and no bias (so YᵀY and every fold-in are unchanged) and can be recommended
        through their content."""
        ids = np.union1d(self.ids, np.asarray(items, dtype=np.int64))
        old = np.searchsorted(ids, self.ids)

        def spread(values: np.ndarray) -> np.ndarray:
            out = np.zeros((len(ids), *values.shape[1:]), dtype=values.dtype)
            out[old] = values
            return out

        side = ItemSide(
            ids=ids,
            factors=spread(self.factors),
            rating_factors=spread(self.rating_factors),
            bias=spread(self.bias),
            support=spread(self.support),
            gram=self.gram,
            popularity=spread(self.popularity),
        )
        star = self.star_neighbours
        if len(star.offsets) == len(self.ids) + 1:  # the star model's lists, on the new rows
            star_counts = np.zeros(len(ids), dtype=np.int64)
            star_counts[old] = np.diff(star.offsets)
            side.star_neighbours = NeighbourLists(
                np.concatenate([[0], np.cumsum(star_counts)]).astype(np.int64), old[star.rows], star.scores
            )
        side.content_neighbours = neighbour_csr(side.positions, len(ids), items, offsets, neighbours, scores)
        return side

    def with_star_neighbours(self, owners: np.ndarray, offsets: np.ndarray, neighbours: np.ndarray, scores) -> ItemSide:
        """This side with the star model's neighbour lists: CSR over the item ids ``owners``
        (``offsets``), neighbour item ids ``neighbours``, similarities ``scores``; lists of titles
        or neighbours the side does not know are dropped."""
        self.star_neighbours = neighbour_csr(self.positions, len(self.ids), owners, offsets, neighbours, scores)
        return self

    def with_borrowed_vectors(self, prior: float) -> ItemSide:
        """Titles with few ratings borrow their content neighbours' collaborative vectors
        (DESIGN.md §11): y_i ← (1 − w_i)·y_i + w_i·ȳ_i with w_i = prior / (n_i + prior) and ȳ_i the
        similarity-weighted mean vector of i's neighbours that have ratings. A title no one rated
        takes ȳ_i whole; one rated 100 times barely moves. YᵀY is recomputed, so every fold-in
        (the job's and the site's) uses the vectors served."""
        content = self.content_neighbours
        if not prior or not len(content.rows):
            return self
        owner = np.repeat(np.arange(len(self.ids)), np.diff(content.offsets))
        weight = content.scores.astype(np.float64) * (self.support[content.rows] > 0)
        total = np.bincount(owner, weight, minlength=len(self.ids))
        borrowed = np.zeros(self.factors.shape, dtype=np.float64)
        np.add.at(borrowed, owner, weight[:, None] * self.factors[content.rows].astype(np.float64))
        has = total > 0
        borrowed[has] /= total[has, None]
        # A mean of many directions is shorter than any of them: keep the neighbours' typical length,
        # so a borrowed vector predicts a title like them rather than a faint one.
        lengths = np.bincount(
            owner, weight * np.linalg.norm(self.factors[content.rows], axis=1), minlength=len(self.ids)
        )
        norms = np.linalg.norm(borrowed, axis=1)
        scale = np.divide(lengths, total * norms, out=np.zeros(len(self.ids)), where=has & (norms > 0))
        borrowed *= scale[:, None]
        share = np.where(has, prior / (self.support + prior), 0.0)[:, None]
        factors = ((1.0 - share) * self.factors + share * borrowed).astype(np.float32)
        self.factors = factors
        self.gram = factors.astype(np.float64).T @ factors.astype(np.float64)
        return self

    def with_item_neighbours(self, sources, offsets, targets, weights) -> ItemSide:
        """This side with the item-item neighbour lists of ``item_item.ItemNeighbours`` (item ids),
        re-indexed to its rows; a pair with a title the side does not know is left out."""
        self.item_neighbours = neighbour_csr(self.positions, len(self.ids), sources, offsets, targets, weights)
        return self

    def positions(self, items) -> np.ndarray:
        """Row of each item id, -1 for items the run does not know."""
        items = np.asarray(items, dtype=np.int64)
        if not len(self.ids):
            return np.full(len(items), -1, dtype=np.int64)
        pos = np.searchsorted(self.ids, items)
        pos = np.minimum(pos, len(self.ids) - 1)
        return np.where(self.ids[pos] == items, pos, -1)


def neighbour_csr(positions, size: int, sources, offsets, targets, weights) -> NeighbourLists:
    """Neighbour lists given by item ids (CSR over ``sources``) as CSR over ``size`` rows, ``positions``
    mapping item ids to rows (-1 unknown; such pairs are left out); each list keeps its order."""
    sources, offsets, targets = (np.asarray(column, dtype=np.int64) for column in (sources, offsets, targets))
    weights = np.asarray(weights, dtype=np.float32)
    owner = positions(np.repeat(sources, np.diff(offsets)))
    target = positions(targets)
    keep = (owner >= 0) & (target >= 0)
    owner, target, weights = owner[keep], target[keep], weights[keep]
    order = np.argsort(owner, kind="stable")
    counts = np.bincount(owner, minlength=size)
    return NeighbourLists(
        np.concatenate([[0], np.cumsum(counts)]).astype(np.int64), target[order].astype(np.int64), weights[order]
    )


def strength(ratings: np.ndarray, count: int | np.ndarray, model: dict) -> np.ndarray:
    """w_ui of DESIGN.md §1: stars lift the confidence, heavy raters' single ratings weigh less."""
    span = model["scale_max"] - model["scale_min"]
    lift = 1.0 + model["star_weight"] * (np.asarray(ratings, dtype=np.float64) - model["scale_min"]) / span
    activity = (model["activity_reference"] / np.maximum(count, 1)) ** model["activity_exponent"]
    return lift * activity


@dataclass
class FoldIn:
    """Users folded into a run (DESIGN.md §1, §2): x_u, p_u, b_u and n_u (their titles the run knows)."""

    factors: np.ndarray  # float64 (users, rank)
    rating_factors: np.ndarray | None  # float64 (users, rating_rank); None without a star model
    bias: np.ndarray  # float64 (users,)
    counts: np.ndarray  # int64 (users,)


# Rating slots of one padded block of users in ``fold_in`` (users x their longest list): bounds the
# block's (slots x rank) float64 matrices to a few MB whatever the lists' lengths.
FOLD_IN_SLOTS = 1 << 15


def _fold_in_blocks(counts: np.ndarray):
    """Users with ratings in blocks of similar list lengths (sorted by length, so padding each
    block to its longest list wastes little): (users, longest list) per block."""
    order = np.argsort(counts, kind="stable")
    order = order[counts[order] > 0]
    start = 0
    while start < len(order):
        width = int(counts[order[min(start + USER_CHUNK, len(order)) - 1]])
        stop = min(start + max(1, min(USER_CHUNK, FOLD_IN_SLOTS // width)), len(order))
        yield order[start:stop], int(counts[order[stop - 1]])
        start = stop


def ranking_systems(
    vectors: np.ndarray, weights: np.ndarray, counts: np.ndarray, gram: np.ndarray, reg: float
) -> tuple[np.ndarray, np.ndarray]:
    """The ranking fold-in's normal equations of a block of users (DESIGN.md §1): for each user b
    with rated titles' vectors ``vectors[b]`` (zero rows as padding) and weights ``alpha·w``,
    A_b = YᵀY + Σ alpha w y yᵀ + reg n_b I and t_b = Σ (1 + alpha w) y; x_b = A_b⁻¹ t_b."""
    matrices = (vectors.transpose(0, 2, 1) * weights[:, None, :]) @ vectors + gram
    matrices += (reg * np.asarray(counts, dtype=np.float64))[:, None, None] * np.eye(vectors.shape[2])
    return matrices, ((1.0 + weights)[:, None, :] @ vectors)[:, 0, :]  # a zero (padding) row adds nothing


def rating_systems(
    vectors: np.ndarray, residuals: np.ndarray, counts: np.ndarray, reg: float
) -> tuple[np.ndarray, np.ndarray]:
    """The star fold-in's normal equations of a block of users (DESIGN.md §2, b_u already taken
    out of ``residuals`` = r − mu − b_u − b_i): Σ q qᵀ + rating_reg n I and Σ residual q."""
    matrices = vectors.transpose(0, 2, 1) @ vectors
    matrices += (reg * np.asarray(counts, dtype=np.float64))[:, None, None] * np.eye(vectors.shape[2])
    return matrices, (residuals[:, None, :] @ vectors)[:, 0, :]


def user_bias(
    ratings: np.ndarray, title_bias: np.ndarray, segment: np.ndarray, counts: np.ndarray, model: dict
) -> np.ndarray:
    """b_u = Σ (r_ui − mu − b_i) / (bias_reg_user + n_u) of each user (0 for users without ratings)."""
    with np.errstate(invalid="ignore", divide="ignore"):
        bias = np.bincount(segment, ratings - float(model["global_mean"]) - title_bias, len(counts)) / (
            float(model["bias_reg_user"]) + counts
        )
    return np.where(counts > 0, bias, 0.0)


def _padded(matrix: np.ndarray, rows: np.ndarray, valid: np.ndarray) -> np.ndarray:
    """``matrix``'s rows for a (block, width) table of row numbers, float64, zero where not ``valid``."""
    gathered = np.asarray(matrix[rows], dtype=np.float64)
    gathered[~valid] = 0.0
    return gathered


def fold_in(
    segment: np.ndarray,
    rows: np.ndarray,
    ratings: np.ndarray,
    users: int,
    *,
    factors: np.ndarray,
    gram: np.ndarray,
    rating_factors: np.ndarray | None,
    title_bias: np.ndarray,
    model: dict,
) -> FoldIn:
    """Fold ``users`` users in with their ratings, the titles' vectors fixed: the Spark job's
    passes and the site's live fold-in (recommender/serving/foldin.py) both call this.

    ``segment[j]`` is the user (0 .. users-1) of rating ``j``, ``rows[j]`` its title's row in
    ``factors`` (titles the run knows only), ``ratings[j]`` its stars. Per user: x_u from
    ``ranking_systems``; b_u from ``user_bias``, then p_u from ``rating_systems``. A user without
    ratings gets zero vectors and no bias. Users are taken in blocks of similar list lengths,
    each padded to its longest list with zero rows, and each block's systems solved at once."""
    segment = np.asarray(segment, dtype=np.int64)
    rows = np.asarray(rows, dtype=np.int64)
    ratings = np.asarray(ratings, dtype=np.float64)
    order = np.argsort(segment, kind="stable")
    segment, rows, ratings = segment[order], rows[order], ratings[order]
    counts = np.bincount(segment, minlength=users).astype(np.int64)
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]]).astype(np.int64)
    x = np.zeros((users, factors.shape[1]))
    p = np.zeros((users, rating_factors.shape[1])) if rating_factors is not None else None
    own_bias = np.asarray(title_bias, dtype=np.float64)[rows]
    bias = user_bias(ratings, own_bias, segment, counts, model)
    weights = float(model["alpha"]) * strength(ratings, counts[segment], model)
    residual = ratings - float(model["global_mean"]) - bias[segment] - own_bias
    gram = np.asarray(gram, dtype=np.float64)
    for block, width in _fold_in_blocks(counts):
        lanes = np.arange(width)
        valid = lanes < counts[block][:, None]
        index = np.where(valid, starts[block][:, None] + lanes, 0)
        matrices, targets = ranking_systems(
            _padded(factors, rows[index], valid),
            np.where(valid, weights[index], 0.0),
            counts[block],
            gram,
            float(model["reg"]),
        )
        x[block] = np.linalg.solve(matrices, targets[..., None])[..., 0]
        if p is not None and rating_factors is not None:  # both or neither: a run with a star model
            matrices, targets = rating_systems(
                _padded(rating_factors, rows[index], valid),
                np.where(valid, residual[index], 0.0),
                counts[block],
                float(model["rating_reg"]),
            )
            p[block] = np.linalg.solve(matrices, targets[..., None])[..., 0]
    return FoldIn(x, p, bias, counts)


def side_fold_in(
    segment: np.ndarray, rows: np.ndarray, ratings: np.ndarray, users: int, side: ItemSide, model: dict
) -> FoldIn:
    """``fold_in`` against a run's ``ItemSide``."""
    return fold_in(
        segment,
        rows,
        ratings,
        users,
        factors=side.factors,
        gram=side.gram,
        rating_factors=side.rating_factors,
        title_bias=side.bias,
        model=model,
    )


def ranking_fold_in(rows: np.ndarray, ratings: np.ndarray, side: ItemSide, model: dict) -> np.ndarray:
    """x_u of one user (the zero vector when no title is known)."""
    return side_fold_in(np.zeros(len(rows)), rows, ratings, 1, side, model).factors[0]


def rating_fold_in(rows: np.ndarray, ratings: np.ndarray, side: ItemSide, model: dict) -> tuple[np.ndarray, float]:
    """(p_u, b_u) of one user (zero and no bias when no title is known)."""
    folded = side_fold_in(np.zeros(len(rows)), rows, ratings, 1, side, model)
    assert folded.rating_factors is not None, "the side has a star model, so the fold-in has p_u"
    return folded.rating_factors[0], float(folded.bias[0])


def stars_predict(
    user_vectors: np.ndarray | None, user_bias, rows, side: ItemSide, model: dict, neighbour=None
) -> np.ndarray:
    """r̂ = clip(mu + b_u + b_i + p_u·q_i + neighbour) for the title rows ``rows`` (any shape;
    ``user_vectors`` (..., rating_rank), ``user_bias`` and ``neighbour``, the ``neighbour_stars``
    term, broadcast against it); row -1, a title the run does not know, gets mu + b_u."""
    rows = np.asarray(rows)
    known = rows >= 0
    safe = np.where(known, rows, 0)
    item_part = side.bias[safe].astype(np.float64)
    if user_vectors is not None:
        item_part = item_part + (side.rating_factors[safe] * np.asarray(user_vectors, dtype=np.float64)).sum(axis=-1)
    value = model["global_mean"] + np.asarray(user_bias, dtype=np.float64) + np.where(known, item_part, 0.0)
    if neighbour is not None:
        value = value + neighbour
    return np.clip(value, model["scale_min"], model["scale_max"])


def star_neighbours_used(neighbour_rows: np.ndarray, model: dict) -> bool:
    """Whether predicted stars take the neighbourhood term (a weight and some neighbour lists)."""
    return bool(model.get("star_neighbour_weight")) and len(neighbour_rows) > 0


def rating_residuals(
    segment, rows, ratings, vectors, bias, *, title_bias: np.ndarray, rating_factors: np.ndarray | None, model: dict
) -> np.ndarray:
    """e_uj = r_uj − (mu + b_u + b_j + p_u·q_j), not clipped: what the star model misses of each
    rating (user ``segment[j]`` with vectors ``vectors[segment]``, bias ``bias[segment]``, title
    row ``rows[j]``)."""
    segment, rows = np.asarray(segment, dtype=np.int64), np.asarray(rows, dtype=np.int64)
    predicted = float(model["global_mean"]) + np.asarray(bias, dtype=np.float64)[segment] + title_bias[rows]
    if vectors is not None and rating_factors is not None:
        predicted = predicted + np.einsum(
            "ij,ij->i", rating_factors[rows].astype(np.float64), np.asarray(vectors, dtype=np.float64)[segment]
        )
    return np.asarray(ratings, dtype=np.float64) - predicted


def neighbour_stars(
    pair_user: np.ndarray,
    pair_rows: np.ndarray,
    rated_segment: np.ndarray,
    rated_rows: np.ndarray,
    residuals: np.ndarray,
    users: int,
    *,
    offsets: np.ndarray,
    neighbour_rows: np.ndarray,
    neighbour_scores: np.ndarray,
    titles: int,
    model: dict,
) -> np.ndarray:
    """The neighbourhood term of DESIGN.md §2 for each (user, title row) pair, users 0 .. users-1
    with ratings (``rated_segment``, ``rated_rows``, their ``rating_residuals``) and the star
    model's neighbour lists (CSR over the ``titles`` rows):

        star_neighbour_weight · Σ_{j∈N(i)∩I_u} s_ij e_uj / (Σ_{j∈N(i)∩I_u} s_ij + star_neighbour_reg)

    0 for a title row -1, a title without neighbours or a user who rated none of them. The users'
    residuals are laid out as a (users, titles) grid, so each pair reads its title's list in one
    gather: no Python per user or pair. The Spark job's passes and the site (serving/ranking.py)
    both call this."""
    pair_user, pair_rows = np.asarray(pair_user, dtype=np.int64), np.asarray(pair_rows, dtype=np.int64)
    out = np.zeros(len(pair_rows))
    if not star_neighbours_used(neighbour_rows, model) or not len(pair_rows):
        return out
    grid = np.zeros(users * titles, dtype=np.float64)
    rated = np.zeros(users * titles, dtype=bool)
    keys = np.asarray(rated_segment, dtype=np.int64) * titles + np.asarray(rated_rows, dtype=np.int64)
    grid[keys], rated[keys] = residuals, True
    safe = np.maximum(pair_rows, 0)
    low, high = offsets[safe], offsets[safe + 1]
    lengths = np.where(pair_rows >= 0, high - low, 0)
    total = int(lengths.sum())
    if not total:
        return out
    owner = np.repeat(np.arange(len(pair_rows)), lengths)
    entry = np.repeat(low - np.concatenate([[0], np.cumsum(lengths)[:-1]]), lengths) + np.arange(total)
    where = pair_user[owner] * titles + neighbour_rows[entry]
    similarity = neighbour_scores[entry].astype(np.float64) * rated[where]
    numerator = np.bincount(owner, similarity * grid[where], len(pair_rows))
    denominator = np.bincount(owner, similarity, len(pair_rows))
    return float(model["star_neighbour_weight"]) * numerator / (denominator + float(model["star_neighbour_reg"]))


def confidence(preference: np.ndarray, user_count, title_support: np.ndarray, model: dict) -> np.ndarray:
    """(clip(x·y, 0, 1) · n_u/(n_u + prior_u) · n_i/(n_i + prior_i)) ^ confidence_exponent, in [0, 1]
    (DESIGN.md §3). A run without ``confidence_exponent`` took the cube root."""
    user_evidence = np.asarray(user_count, dtype=np.float64) / (user_count + model["confidence_user_prior"] + 1e-12)
    title_evidence = title_support / (title_support + model["confidence_title_prior"] + 1e-12)
    product = np.clip(preference, 0.0, 1.0) * user_evidence * title_evidence
    exponent = model.get("confidence_exponent")
    if exponent is None or exponent == 1 / 3:
        return np.clip(np.cbrt(product), 0.0, 1.0)  # bit for bit what those runs stored
    return np.clip(product ** float(exponent), 0.0, 1.0)


def content_leaning(ratings: np.ndarray, model: dict) -> np.ndarray:
    """v_uj ∈ [−1, 1]: how a rating leans toward (5 stars: 1) or away from (1 star: −1) its title's
    kind; the scale's middle is neutral."""
    middle = (model["scale_max"] + model["scale_min"]) / 2.0
    return (np.asarray(ratings, dtype=np.float64) - middle) / ((model["scale_max"] - model["scale_min"]) / 2.0)


def content_scale(counts, model: dict) -> np.ndarray:
    """content_weight / (n_u + content_prior): the content term is a shrunk mean over the ratings."""
    return float(model.get("content_weight") or 0.0) / (
        np.asarray(counts, dtype=np.float64) + float(model.get("content_prior") or 0.0) + 1e-12
    )


def content_lift(support, model: dict) -> np.ndarray | None:
    """l_i = 1 + content_few_weight · content_vector_prior / (n_i + content_vector_prior): how much
    more the content term counts for a title with few training ratings ``support`` (DESIGN.md §11).
    A title no one rated takes the whole lift, one rated 100 times about 2 % of it: where ratings
    say little, what the title is says more. None when there is no lift (older runs)."""
    weight, prior = float(model.get("content_few_weight") or 0.0), float(model.get("content_vector_prior") or 0.0)
    if not weight or not prior:
        return None
    return (1.0 + weight * prior / (np.asarray(support, dtype=np.float64) + prior)).astype(np.float32)


def content_scores(
    segment: np.ndarray,
    rows: np.ndarray,
    ratings: np.ndarray,
    users: int,
    *,
    neighbours: NeighbourLists,
    titles: int,
    model: dict,
    support: np.ndarray | None = None,
) -> np.ndarray | None:
    """The content term of DESIGN.md §11 for ``users`` users (rating ``j`` of user ``segment[j]``
    on title row ``rows[j]``): content_ui = l_i · content_weight · Σ_j v_uj s(i, j) / (n_u + content_prior),
    s(i, j) read from the neighbour list of each rated title j, l_i the ``content_lift`` of the
    titles' training ratings ``support`` (1 without). (users, titles) float32, or None when the run
    has no content or no weight. Each rating is spread over its title's neighbours in one scatter:
    no Python per user."""
    if not model.get("content_weight") or not len(neighbours.rows):
        return None
    segment = np.asarray(segment, dtype=np.int64)
    rows = np.asarray(rows, dtype=np.int64)
    counts = np.bincount(segment, minlength=users)
    weight = content_leaning(ratings, model) * content_scale(counts, model)[segment]
    scores = _spread(segment, rows, weight, users, neighbours, titles)
    lift = content_lift(support, model) if support is not None else None
    if lift is not None:
        scores *= lift[None, :]
    return scores


def _spread(segment, rows, weight, users: int, neighbours: NeighbourLists, titles: int) -> np.ndarray:
    """Σ_j weight_j · score(j → i) over each user's ratings j, read from the neighbour list (CSR) of
    each rated title: (users, titles) float32, every rating spread in one scatter."""
    low, high = neighbours.offsets[rows], neighbours.offsets[rows + 1]
    spread = high - low
    out = np.zeros(users * titles, dtype=np.float64)
    if spread.sum():
        entry = np.repeat(low - np.concatenate([[0], np.cumsum(spread)[:-1]]), spread) + np.arange(spread.sum())
        owner = np.repeat(segment, spread)
        np.add.at(out, owner * titles + neighbours.rows[entry], np.repeat(weight, spread) * neighbours.scores[entry])
    return out.reshape(users, titles).astype(np.float32)


def item_rating_weight(counts, model: dict) -> np.ndarray:
    """g_u = item_weight · (activity_reference / n_u) ^ item_activity_exponent: the weight of each of
    user u's ratings in the item-item term (DESIGN.md §1), damped for heavy raters like w_ui."""
    counts = np.maximum(np.asarray(counts, dtype=np.float64), 1.0)
    reference = float(model.get("activity_reference") or 1.0)
    return float(model.get("item_weight") or 0.0) * (reference / counts) ** float(
        model.get("item_activity_exponent") or 0.0
    )


def item_scores(
    segment: np.ndarray,
    rows: np.ndarray,
    users: int,
    *,
    neighbours: NeighbourLists,
    titles: int,
    model: dict,
) -> np.ndarray | None:
    """The item-item term of DESIGN.md §1 for ``users`` users (rating ``j`` of user ``segment[j]`` on
    title row ``rows[j]``): item_ui = g_u · Σ_{j ∈ I_u} B[j, i], B[j, i] read from j's pruned EASE
    list. (users, titles) float32, or None when the run has no item-item lists or no weight. The
    stars do not enter (EASE's matrix is binary); n_u is the number of ratings given."""
    if not model.get("item_weight") or not len(neighbours.rows):
        return None
    segment = np.asarray(segment, dtype=np.int64)
    rows = np.asarray(rows, dtype=np.int64)
    counts = np.bincount(segment, minlength=users)
    weight = item_rating_weight(counts, model)[segment]
    return _spread(segment, rows, weight, users, neighbours, titles)


def neighbour_terms(
    segment,
    rows,
    ratings,
    users: int,
    *,
    content: NeighbourLists,
    items: NeighbourLists,
    titles: int,
    model: dict,
    support: np.ndarray | None = None,
) -> np.ndarray | None:
    """The content term plus the item-item term from the content lists ``content`` and the
    item-item lists ``items`` over ``titles`` rows (None when neither), the content term lifted
    for titles with few training ratings ``support`` (``content_lift``): the job's passes (an
    ``ItemSide``'s lists) and the site's fold-in (a ``RunModel``'s) both call this."""
    content_part = content_scores(
        segment, rows, ratings, users, neighbours=content, titles=titles, model=model, support=support
    )
    item_part = item_scores(segment, rows, users, neighbours=items, titles=titles, model=model)
    if content_part is None or item_part is None:
        return content_part if item_part is None else item_part
    return content_part + item_part


def side_content_scores(segment, rows, ratings, users: int, side: ItemSide, model: dict) -> np.ndarray | None:
    """``content_scores`` against a run's ``ItemSide``."""
    return content_scores(
        segment,
        rows,
        ratings,
        users,
        neighbours=side.content_neighbours,
        titles=len(side.ids),
        model=model,
        support=side.support,
    )


def scores_for(user_vectors: np.ndarray, side: ItemSide, model: dict, content: np.ndarray | None = None) -> np.ndarray:
    """score_ui = x_u·y_i + popularity_weight * pop_i (+ the content and item-item terms) for a block of users (float32)."""
    scores = np.asarray(user_vectors, dtype=np.float32) @ side.factors.T
    if model["popularity_weight"]:
        scores += np.float32(model["popularity_weight"]) * side.popularity
    if content is not None:
        scores += content
    return scores


def _chunk(segment: np.ndarray, start: int, stop: int, *columns: np.ndarray) -> tuple[np.ndarray, ...]:
    """The entries of users ``start``..``stop`` (``segment`` sorted), their segment made local."""
    low, high = np.searchsorted(segment, [start, stop])
    return (segment[low:high] - start, *(column[low:high] for column in columns))


def top_k(scores: np.ndarray, count: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per row of ``scores`` (excluded entries set to -inf): the positions of the ``count`` best,
    best first (equal scores by position), their scores, and which are real candidates (not -inf).
    All (rows, count).

    Wide rows are not partitioned whole: each row's entries are dealt into ``4 * count`` strided
    groups (entry j into group j mod groups, so neighbouring titles, often alike, spread out), and the
    ``count``-th largest group maximum is a lower bound of the row's ``count``-th best (those maxima
    are ``count`` distinct entries); only the entries at or above it are sorted (on real scores
    barely more than ``count``)."""
    rows, width = scores.shape
    count = min(count, width)
    if count == 0:
        empty = np.zeros((rows, 0))
        return empty.astype(np.int64), empty.astype(scores.dtype), empty.astype(bool)
    depth = width // (4 * count)  # entries per group
    if depth < 4 or rows == 0:
        best = np.argsort(-scores, axis=1, kind="stable")[:, :count]  # narrow: sort it all
        values = np.take_along_axis(scores, best, axis=1)
        return best, values, np.isfinite(values)
    groups = width // depth
    maxima = scores[:, : groups * depth].reshape(rows, depth, groups).max(axis=1)
    bound = np.partition(maxima, groups - count, axis=1)[:, groups - count]
    owner, position = np.nonzero(scores >= bound[:, None])  # at least ``count`` per row
    values = scores[owner, position]
    order = np.lexsort((position, -values, owner))
    owner, position, values = owner[order], position[order], values[order]
    first = np.searchsorted(owner, np.arange(rows))
    keep = np.arange(len(owner)) - first[owner] < count
    best, values = position[keep].reshape(rows, count).astype(np.int64), values[keep].reshape(rows, count)
    return best, values, np.isfinite(values)


def folded_neighbour_stars(
    folded: FoldIn, start: int, stop: int, rated, pair_user: np.ndarray, pair_rows: np.ndarray, side: ItemSide, model
) -> np.ndarray:
    """``neighbour_stars`` of pairs of the folded users ``start``..``stop`` (``pair_user`` local to
    them), from their ratings ``rated`` = (local segment, title rows, stars); zeros without."""
    if rated is None or not star_neighbours_used(side.star_neighbours.rows, model):
        return np.zeros(len(pair_rows))
    segment, rows, ratings = rated
    known = rows >= 0
    segment, rows, ratings = segment[known], rows[known], ratings[known]
    vectors = None if folded.rating_factors is None else folded.rating_factors[start:stop]
    residuals = rating_residuals(
        segment,
        rows,
        ratings,
        vectors,
        folded.bias[start:stop],
        title_bias=side.bias,
        rating_factors=side.rating_factors,
        model=model,
    )
    return neighbour_stars(
        pair_user,
        pair_rows,
        segment,
        rows,
        residuals,
        stop - start,
        offsets=side.star_neighbours.offsets,
        neighbour_rows=side.star_neighbours.rows,
        neighbour_scores=side.star_neighbours.scores,
        titles=len(side.ids),
        model=model,
    )


def _rated_sorted(rated) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
    if rated is None:
        return None
    segment, rows, ratings = (np.asarray(column) for column in rated)
    order = np.argsort(segment, kind="stable")
    return segment[order].astype(np.int64), rows[order].astype(np.int64), ratings[order].astype(np.float64)


@dataclass
class Recommended:
    """Every user's top N as flat arrays: user u's titles are ``rows[offsets[u]:offsets[u + 1]]``."""

    offsets: np.ndarray  # int64 (users + 1)
    rows: np.ndarray  # title rows, best first per user
    scores: np.ndarray  # float32: the ranking score x_u·y_i + popularity_weight·pop_i (+ neighbour terms)
    predicted: np.ndarray  # float32: stars
    confidence: np.ndarray  # float32 in [0, 1]


def recommend(
    folded: FoldIn,
    excluded_segment: np.ndarray,
    excluded_rows: np.ndarray,
    side: ItemSide,
    model: dict,
    top_n: int,
    rated: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None,
) -> Recommended:
    """The top ``top_n`` titles of each folded-in user, leaving out the (user, title row) pairs in
    ``excluded_*`` (their rated titles, watchlist and "not interested"), with predicted stars and
    confidence; ``rated`` (segment, title rows, stars) gives the content and item-item terms; users scored
    ``USER_CHUNK`` at a time, no per-user Python."""
    users = len(folded.factors)
    order = np.argsort(excluded_segment, kind="stable")
    excluded_segment, excluded_rows = np.asarray(excluded_segment)[order], np.asarray(excluded_rows)[order]
    rated_columns = _rated_sorted(rated)
    parts: list[tuple] = []
    for start in range(0, users, USER_CHUNK):
        stop = min(start + USER_CHUNK, users)
        content = chunk_rated = None
        if rated_columns is not None:
            segment, rows, ratings = _chunk(rated_columns[0], start, stop, *rated_columns[1:])
            chunk_rated = (segment, rows, ratings)
            content = neighbour_terms(
                segment,
                rows,
                ratings,
                stop - start,
                content=side.content_neighbours,
                items=side.item_neighbours,
                titles=len(side.ids),
                model=model,
                support=side.support,
            )
        scores = scores_for(folded.factors[start:stop], side, model, content)
        low, high = np.searchsorted(excluded_segment, [start, stop])
        scores[excluded_segment[low:high] - start, excluded_rows[low:high]] = -np.inf
        best, values, valid = top_k(scores, top_n)
        preference = (side.factors[best] @ folded.factors[start:stop, :, None])[..., 0]
        predicted = stars_predict(
            None if folded.rating_factors is None else folded.rating_factors[start:stop, None, :],
            folded.bias[start:stop, None],
            best,
            side,
            model,
            neighbour=folded_neighbour_stars(
                folded,
                start,
                stop,
                chunk_rated,
                np.repeat(np.arange(stop - start), best.shape[1]),
                best.ravel(),
                side,
                model,
            ).reshape(best.shape),
        )
        trust = confidence(preference, folded.counts[start:stop, None], side.support[best], model)
        parts.append((valid.sum(axis=1), best[valid], values[valid], predicted[valid], trust[valid]))
    lengths = np.concatenate([part[0] for part in parts]) if parts else np.zeros(0, np.int64)

    def flat(position: int, dtype) -> np.ndarray:
        return np.concatenate([part[position] for part in parts]).astype(dtype) if parts else np.zeros(0, dtype)

    return Recommended(
        np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64),
        flat(1, np.int64),
        flat(2, np.float32),
        flat(3, np.float32),
        flat(4, np.float32),
    )


# "More like this" (DESIGN.md §11): content similarity s(i, j), lifted by up to SIMILAR_LIFT times
# by how alike the same viewers find the two titles (cosine of the ranking vectors, shrunk by the
# support), plus a little of that cosine alone where a title has no content, so it still has
# neighbours.
SIMILAR_LIFT = 1.0
SIMILAR_COSINE_ALONE = 0.02
SIMILAR_SUPPORT_PRIOR = 20.0


def similar_titles(
    block: np.ndarray,
    side: ItemSide,
    unit: np.ndarray,
    candidates: np.ndarray,
    count: int,
    min_support: int = 1,
    catalog=None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """For the title rows ``block``: the ``count`` most similar ``candidates``, never the title
    itself. Without content the cosine of the ranking vectors ``unit`` (normalised); with the
    catalog's ``content.Content`` the hybrid above, its content part s(i, j)·standing(i, j)
    computed against every title of the catalog. Returns (best, values, valid) as in ``top_k``,
    ``best`` indexing ``candidates``."""
    similarity = unit[block] @ unit[candidates].T
    if catalog is not None and len(catalog):
        from recommender.spark import content as content_side

        support = side.support[candidates].astype(np.float32)
        trusted = np.where(support >= min_support, support / (support + SIMILAR_SUPPORT_PRIOR), 0.0)
        cosine = np.maximum(similarity, 0.0) * trusted[None, :].astype(np.float32)
        alike = np.zeros_like(similarity)
        own_rows = catalog.positions(side.ids[block])
        other_rows = catalog.positions(side.ids[candidates])
        rows_in, columns_in = np.flatnonzero(own_rows >= 0), np.flatnonzero(other_rows >= 0)
        if len(rows_in) and len(columns_in):
            scored = content_side.similarity_block(catalog, own_rows[rows_in])
            scored *= content_side.standing(catalog.votes, own_rows[rows_in], np.arange(len(catalog)))
            alike[np.ix_(rows_in, columns_in)] = scored[:, other_rows[columns_in]]
        # The cosine alone only where content cannot speak (either title not in the catalog's
        # facts): between two titles with content, sharing nothing means not alike, however many
        # viewers they share (famous classics share most of them).
        without_content = (own_rows < 0)[:, None] | (other_rows < 0)[None, :]
        similarity = alike * (1.0 + SIMILAR_LIFT * cosine) + SIMILAR_COSINE_ALONE * cosine * without_content
        similarity[similarity <= 0] = -np.inf
    own = np.minimum(np.searchsorted(candidates, block), max(len(candidates) - 1, 0))
    is_candidate = candidates[own] == block if len(candidates) else np.zeros(len(block), bool)
    similarity[np.flatnonzero(is_candidate), own[is_candidate]] = -np.inf
    return top_k(similarity, count)


@dataclass
class Holdout:
    """What ``holdout_score`` measured: per user, per held-out pair and per top-k slot."""

    precision: np.ndarray  # (users,) precision@k of the model
    ndcg: np.ndarray  # (users,) binary NDCG@k of the model
    pop_precision: np.ndarray  # (users,) the same for "most popular" (by training support)
    pop_ndcg: np.ndarray
    pair_user: np.ndarray  # (pairs,) user of each held-out pair
    pair_predicted: np.ndarray  # predicted stars of each pair
    pair_confidence: np.ndarray
    top_confidence: np.ndarray  # (slots,) confidence of each recommended title in the top k
    top_hit: np.ndarray  # 1.0 where that title is one of the user's held-out titles
    top_rows: np.ndarray  # (users, k) the model's lists: title rows, best first, -1 for empty slots


def holdout_score(
    folded: FoldIn,
    train_segment: np.ndarray,
    train_rows: np.ndarray,
    test_segment: np.ndarray,
    test_items: np.ndarray,
    side: ItemSide,
    model: dict,
    k: int = 10,
    train_ratings: np.ndarray | None = None,
) -> Holdout:
    """DESIGN.md §8 for users with vectors ``folded``: each user's top ``k`` among titles they did
    not rate in training (``train_*``: (user, title row) pairs) against their held-out titles
    (``test_*``: user and title id, each pair once; ids the run does not know count as relevant
    but cannot be recommended), the most-popular list under the same rule, and the predicted stars
    and confidence of every held-out pair. ``USER_CHUNK`` users at a time, no per-user Python."""
    users = len(folded.factors)
    test_rows = side.positions(test_items)
    relevant_count = np.bincount(test_segment, minlength=users)
    discounts = 1.0 / np.log2(np.arange(2, k + 2))
    ideal = np.concatenate([[0.0], np.cumsum(discounts)])[np.minimum(relevant_count, k)]
    popularity_rank = np.empty(len(side.ids), dtype=np.float32)
    popularity_rank[np.argsort(-side.support, kind="stable")] = -np.arange(len(side.ids), dtype=np.float32)
    train_order, test_order = np.argsort(train_segment, kind="stable"), np.argsort(test_segment, kind="stable")
    train_segment, train_rows = train_segment[train_order], train_rows[train_order]
    if train_ratings is not None:
        train_ratings = np.asarray(train_ratings, dtype=np.float64)[train_order]
    known_test = test_rows[test_order] >= 0
    test_segment_known, test_rows_known = test_segment[test_order][known_test], test_rows[test_order][known_test]
    hits: dict[str, list] = {"model": [], "popular": []}
    top_confidence, top_hit, top_rows = [], [], []
    for start in range(0, users, USER_CHUNK):
        stop = min(start + USER_CHUNK, users)
        low, high = np.searchsorted(train_segment, [start, stop])
        seen = (train_segment[low:high] - start, train_rows[low:high])
        content = None
        if train_ratings is not None:
            known = seen[1] >= 0
            content = neighbour_terms(
                seen[0][known],
                seen[1][known],
                train_ratings[low:high][known],
                stop - start,
                content=side.content_neighbours,
                items=side.item_neighbours,
                titles=len(side.ids),
                model=model,
                support=side.support,
            )
        low, high = np.searchsorted(test_segment_known, [start, stop])
        relevant = np.zeros((stop - start, len(side.ids)), dtype=bool)
        relevant[test_segment_known[low:high] - start, test_rows_known[low:high]] = True
        for name, scores in (
            ("model", scores_for(folded.factors[start:stop], side, model, content)),
            ("popular", np.repeat(popularity_rank[None, :], stop - start, axis=0)),
        ):
            scores[seen] = -np.inf
            best, _, valid = top_k(scores, k)
            hit = np.take_along_axis(relevant, best, axis=1) & valid
            hits[name].append(hit)
            if name == "model":
                top_rows.append(np.pad(np.where(valid, best, -1), ((0, 0), (0, k - best.shape[1])), constant_values=-1))
                preference = (side.factors[best] @ folded.factors[start:stop, :, None])[..., 0]
                trust = confidence(preference, folded.counts[start:stop, None], side.support[best], model)
                top_confidence.append(trust[valid])
                top_hit.append(hit[valid].astype(np.float32))

    def metrics(name: str) -> tuple[np.ndarray, np.ndarray]:
        hit = np.concatenate(hits[name]) if hits[name] else np.zeros((0, k), dtype=bool)
        hit = np.pad(hit, ((0, 0), (0, k - hit.shape[1])))  # fewer than k titles in the run
        with np.errstate(invalid="ignore", divide="ignore"):
            ndcg = np.where(ideal > 0, (hit * discounts).sum(axis=1) / ideal, 0.0)
        return hit.sum(axis=1) / k, ndcg

    precision, ndcg = metrics("model")
    pop_precision, pop_ndcg = metrics("popular")
    neighbour = np.zeros(len(test_segment))
    if train_ratings is not None and star_neighbours_used(side.star_neighbours.rows, model):
        sorted_test = test_segment[test_order]
        for start in range(0, users, USER_CHUNK):
            stop = min(start + USER_CHUNK, users)
            low, high = np.searchsorted(train_segment, [start, stop])
            pairs = test_order[slice(*np.searchsorted(sorted_test, [start, stop]))]
            neighbour[pairs] = folded_neighbour_stars(
                folded,
                start,
                stop,
                (train_segment[low:high] - start, train_rows[low:high], train_ratings[low:high]),
                test_segment[pairs] - start,
                test_rows[pairs],
                side,
                model,
            )
    predicted = stars_predict(
        None if folded.rating_factors is None else folded.rating_factors[test_segment],
        folded.bias[test_segment],
        test_rows,
        side,
        model,
        neighbour=neighbour,
    )
    known = test_rows >= 0
    safe = np.where(known, test_rows, 0)
    preference = np.where(known, np.einsum("ij,ij->i", side.factors[safe], folded.factors[test_segment]), 0.0)
    pair_confidence = confidence(preference, folded.counts[test_segment], np.where(known, side.support[safe], 0), model)
    return Holdout(
        precision,
        ndcg,
        pop_precision,
        pop_ndcg,
        test_segment,
        predicted,
        pair_confidence,
        np.concatenate(top_confidence) if top_confidence else np.zeros(0),
        np.concatenate(top_hit) if top_hit else np.zeros(0),
        np.concatenate(top_rows) if top_rows else np.zeros((0, k), dtype=np.int64),
    )


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


def biases_solve(
    user_index: np.ndarray,
    item_index: np.ndarray,
    ratings: np.ndarray,
    *,
    mean: float,
    users: int,
    items: int,
    reg_user: float,
    reg_item: float,
    sweeps: int,
) -> tuple[np.ndarray, np.ndarray]:
    """b_u and b_i of DESIGN.md §2 by ``sweeps`` rounds of regularised alternating least squares."""
    user_counts = np.bincount(user_index, minlength=users)
    item_counts = np.bincount(item_index, minlength=items)
    user_bias, item_bias = np.zeros(users), np.zeros(items)
    for _ in range(sweeps):
        item_bias = np.bincount(item_index, ratings - mean - user_bias[user_index], items) / (item_counts + reg_item)
        user_bias = np.bincount(user_index, ratings - mean - item_bias[item_index], users) / (user_counts + reg_user)
    return user_bias, item_bias
