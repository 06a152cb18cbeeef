"""What the members' controls do to their lists, measured offline on a MovieLens split.

``controls_measure`` takes a trained run's title side (ranking vectors, support), the users'
folded-in vectors and their training and held-out titles, and ranks every user's top 10 with
each setting through ``recommender.serving.ranking_controls`` — the functions the live list
uses — reporting per setting:

* precision@10 — held-out titles among the 10 (any star value), averaged over users;
* median support — the median training-rating count of every title in every user's top 10;
* intra-list diversity — the figure ``evaluate_recommender`` reports (``quality.beyond``, the same
  function): the mean pairwise cosine distance of the 10 titles' **rating vectors** (which training
  users rated them), averaged over users; beside it the same distance of the titles' ranking vectors
  (what "more variety" penalises), and of the genres' Jaccard distance when genres are given.

The re-ranking's similarity (``basis``) is the served one, the ranking vectors' cosine, unless the
bench asks for another to compare: ``"genres"`` (the genres' Jaccard similarity, servable: the live
model has every title's genres) or ``"ratings"`` (the rating vectors' cosine, the very similarity
evaluate_recommender's figure measures; not servable, the live list has no rating matrix: the
upper bound of re-ranking on that measure). ``tradeoff=1`` gives the most diverse greedy list of the
pool, which the bench reports as the pool's ceiling.

``controls_from_output`` reads what the Spark job wrote (``titles.parquet``, ``users.parquet``)
for ``bench/bench_controls.py``. No Django and no pyspark here.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
from scipy import sparse

from recommender.quality.beyond import beyond_accuracy
from recommender.serving.ranking_controls import (
    DISCOVERY_STEPS,
    VARIETY_WINDOW,
    RankingControls,
    discovery_adjust,
    genre_diversity,
    genre_similarity,
    intra_list_diversity,
    variety_order,
    year_genre_mask,
)

TOP = 10
BASES = ("vectors", "genres", "ratings")


@dataclass
class ControlsSide:
    ids: np.ndarray  # item ids, sorted
    factors: np.ndarray  # (items, rank) ranking vectors
    support: np.ndarray  # training ratings per item
    popularity: np.ndarray  # pop_i = log(1 + n_i) / log(1 + max n)
    popularity_weight: float  # the run's own weight on pop_i
    genres: list[frozenset] | None = None  # per item, for the model-free diversity
    genre_matrix: np.ndarray | None = None  # (items, genres) 0/1, for the genre re-ranking

    def positions(self, items: np.ndarray) -> np.ndarray:
        pos = np.minimum(np.searchsorted(self.ids, items), len(self.ids) - 1)
        return np.where(self.ids[pos] == items, pos, -1)


@dataclass
class ControlsResult:
    controls: RankingControls
    precision_at_10: float
    median_support: float
    diversity: float  # evaluate_recommender's intra-list diversity (rating vectors)
    vector_diversity: float  # the same over the ranking vectors
    genre_diversity: float | None
    users: int


def top_for(
    controls: RankingControls,
    side: ControlsSide,
    user_vector: np.ndarray,
    seen: np.ndarray,
    count: int = TOP,
    *,
    tradeoff: float | None = None,
    window: int | None = None,
    similarity_of: Callable[[np.ndarray], np.ndarray] | None = None,
) -> np.ndarray:
    """One user's top ``count`` title rows under ``controls``, as the live list ranks them;
    ``similarity_of(rows)``: the re-ranking's similarity of those title rows (default: the
    ranking vectors' cosine, as served)."""
    window = VARIETY_WINDOW if window is None else window
    scores = side.factors @ user_vector + side.popularity_weight * side.popularity
    scores = discovery_adjust(scores, side.popularity, controls.discovery)
    allowed = np.ones(len(scores), dtype=bool)
    mask = year_genre_mask(controls, year=np.full(len(scores), np.nan), genre_masks={}, support=side.support)
    if mask is not None:
        allowed &= mask
    allowed[seen] = False
    candidates = np.flatnonzero(allowed)
    pool = count + window if controls.variety else count
    if candidates.size > pool:
        candidates = candidates[np.argpartition(-scores[candidates], pool - 1)[:pool]]
    candidates = candidates[np.lexsort((candidates, -scores[candidates]))]
    if controls.variety:
        return candidates[
            variety_order(
                scores[candidates],
                side.factors[candidates],
                count,
                user_vector=user_vector,
                tradeoff=tradeoff,
                window=window,
                similarity=None if similarity_of is None else similarity_of(candidates),
            )
        ]
    return candidates[:count]


def similarity_for(
    basis: str, side: ControlsSide, train_users: np.ndarray, train_rows: np.ndarray
) -> Callable[[np.ndarray], np.ndarray] | None:
    """The re-ranking's similarity of title rows for ``basis`` (``BASES``); None: the served one."""
    if basis == "vectors":
        return None
    if basis == "genres":
        if side.genre_matrix is None:
            raise ValueError("the genre re-ranking needs the titles' genres (genres_attach)")
        matrix = side.genre_matrix
        return lambda rows: genre_similarity(matrix[rows])
    if basis == "ratings":
        keep = train_rows >= 0
        _, user_index = np.unique(np.asarray(train_users)[keep], return_inverse=True)
        raters = sparse.csc_matrix(
            (np.ones(int(keep.sum())), (user_index, np.asarray(train_rows)[keep])),
            shape=(int(user_index.max(initial=-1)) + 1, len(side.ids)),
        )
        raters.sum_duplicates()
        raters.data[:] = 1.0
        support = np.asarray(raters.sum(axis=0)).ravel()

        def rating_cosine(rows: np.ndarray) -> np.ndarray:
            columns = raters[:, rows]
            norms = np.sqrt(np.maximum(support[rows], 1.0))
            return (columns.T @ columns).toarray() / np.outer(norms, norms)

        return rating_cosine
    raise ValueError(f"unknown basis {basis!r}: one of {', '.join(BASES)}")


def controls_measure(
    side: ControlsSide,
    user_ids: np.ndarray,
    user_factors: np.ndarray,
    train_users: np.ndarray,
    train_items: np.ndarray,
    test_users: np.ndarray,
    test_items: np.ndarray,
    settings: list[RankingControls],
    *,
    tradeoff: float | None = None,
    window: int | None = None,
    basis: str = "vectors",
) -> list[ControlsResult]:
    """Each setting's figures over the users with held-out titles (``user_ids`` sorted, one row of
    ``user_factors`` each); ``tradeoff`` and ``window``: variety's λ and window (default: the served
    ``VARIETY_TRADEOFF`` and ``VARIETY_WINDOW``); ``basis``: the re-ranking's similarity (``BASES``)."""
    train_rows = side.positions(train_items)
    similarity_of = similarity_for(basis, side, train_users, train_rows)
    test_rows = side.positions(test_items)
    seen_by_user = _grouped(train_users, train_rows)
    relevant_by_user = _grouped(test_users, test_rows)
    evaluated = np.unique(test_users)
    user_row = {int(user): n for n, user in enumerate(user_ids)}
    results = []
    for controls in settings:
        precision, supports, diversity, genre_div, lists, listed = [], [], [], [], [], []
        for user in evaluated:
            row = user_row.get(int(user))
            if row is None:
                continue
            seen = seen_by_user.get(int(user), np.zeros(0, dtype=np.int64))
            top = top_for(
                controls,
                side,
                user_factors[row],
                seen[seen >= 0],
                tradeoff=tradeoff,
                window=window,
                similarity_of=similarity_of,
            )
            lists.append(np.pad(top, (0, TOP - len(top)), constant_values=-1))
            listed.append(int(user))
            relevant = relevant_by_user.get(int(user), np.zeros(0, dtype=np.int64))
            precision.append(np.isin(top, relevant[relevant >= 0]).sum() / TOP)
            supports.append(side.support[top])
            diversity.append(intra_list_diversity(side.factors[top]))
            if side.genres is not None:
                genre_div.append(genre_diversity([side.genres[position] for position in top]))
        results.append(
            ControlsResult(
                controls=controls,
                precision_at_10=float(np.mean(precision)) if precision else 0.0,
                median_support=float(np.median(np.concatenate(supports))) if supports else 0.0,
                diversity=_rating_vector_diversity(lists, listed, seen_by_user, train_users, train_rows, len(side.ids)),
                vector_diversity=float(np.mean(diversity)) if diversity else 0.0,
                genre_diversity=float(np.mean(genre_div)) if genre_div else None,
                users=len(precision),
            )
        )
    return results


def default_settings() -> list[RankingControls]:
    """Every discovery step without variety, then "balanced" with variety, and both ends with it."""
    settings = [RankingControls(discovery=step) for step in DISCOVERY_STEPS]
    settings += [RankingControls(discovery=step, variety=True) for step in DISCOVERY_STEPS]
    return settings


def _rating_vector_diversity(
    lists: list[np.ndarray],
    listed: list[int],
    seen_by_user: dict[int, np.ndarray],
    train_users: np.ndarray,
    train_rows: np.ndarray,
    titles: int,
) -> float:
    """evaluate_recommender's intra-list diversity of ``lists`` (one per user of ``listed``), by
    the function it uses, so the two figures cannot drift apart."""
    if not lists:
        return 0.0
    seen = [seen_by_user.get(user, np.zeros(0, dtype=np.int64)) for user in listed]
    figures = beyond_accuracy(
        np.vstack(lists),
        seen_segment=np.repeat(np.arange(len(listed)), [len(rows) for rows in seen]),
        seen_rows=np.concatenate(seen) if seen else np.zeros(0, dtype=np.int64),
        train_user=train_users,
        train_rows=train_rows,
        titles=titles,
    )
    return float(figures["intra_list_diversity"] or 0.0)


def _grouped(users: np.ndarray, rows: np.ndarray) -> dict[int, np.ndarray]:
    order = np.argsort(users, kind="stable")
    users, rows = np.asarray(users)[order], np.asarray(rows)[order]
    unique, starts = np.unique(users, return_index=True)
    return {int(user): part for user, part in zip(unique, np.split(rows, starts[1:]), strict=True)}


def controls_from_output(
    output_dir: str | Path, *, popularity_weight: float
) -> tuple[ControlsSide, np.ndarray, np.ndarray]:
    """The title side and the users' folded-in vectors the Spark job wrote to ``output_dir``."""
    output_dir = Path(output_dir)
    titles = pq.read_table(output_dir / "titles.parquet")
    ids = titles.column("item").to_numpy().astype(np.int64)
    factors = np.array(titles.column("factors").to_pylist(), dtype=np.float64)
    support = titles.column("support").to_numpy().astype(np.int64)
    order = np.argsort(ids)
    ids, factors, support = ids[order], factors[order], support[order]
    popularity = np.log1p(support) / np.log1p(max(int(support.max()), 1))
    users = pq.read_table(output_dir / "users.parquet", columns=["user", "factors"])
    user_ids = users.column("user").to_numpy().astype(np.int64)
    user_factors = np.array(users.column("factors").to_pylist(), dtype=np.float64)
    order = np.argsort(user_ids)
    side = ControlsSide(ids, factors, support, popularity, popularity_weight)
    return side, user_ids[order], user_factors[order]


def genres_attach(side: ControlsSide, movies_csv: str | Path) -> None:
    """Each title's genres from MovieLens's ``movies.csv`` (movieId,title,genres with ``|``)."""
    import csv

    by_id: dict[int, frozenset] = {}
    with open(movies_csv, newline="", encoding="utf-8") as handle:
        for row in csv.DictReader(handle):
            genres = row["genres"]
            by_id[int(row["movieId"])] = frozenset() if genres == "(no genres listed)" else frozenset(genres.split("|"))
    side.genres = [by_id.get(int(item), frozenset()) for item in side.ids]
    names = sorted(set().union(*side.genres))
    side.genre_matrix = np.array([[name in genres for name in names] for genres in side.genres], dtype=np.float64)
