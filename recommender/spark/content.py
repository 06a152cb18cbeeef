"""The content side of the hybrid (DESIGN.md §11): what a title is, and which titles are alike.

``content_load`` reads the catalog's facts that the service exported (``content.parquet``: type,
year, runtime, genres, IMDb rating and votes; ``people.parquet``: directors, writers and leading
cast with a weight per role) into a ``Content`` of numpy arrays; ``similarity_block`` scores a
block of titles against every title; ``neighbours_pass`` keeps each title's ``content_n`` most
alike titles (the executors run it over slices of the catalog, like the similar-titles pass).

    s(i, j) = PEOPLE_SHARE · people(i, j) · fit(i, j)^½ + GENRE_SHARE · genres(i, j)² · fit(i, j)
    people  = min(1, Σ_shared people w_p(i) w_p(j))
    genres  = Σ_shared genres w_g / Σ_either's genres w_g,   w_g = log(titles / titles of genre g)
    fit     = type · exp(−|Δyear| / 20) · exp(−|Δlog runtime| / 0.75) · exp(−|Δrating| / 2)
                                                             (a missing value: a factor 0.8)

So two titles are alike only through something they share (a person, a genre), and more alike
when they also come from the same era, run as long and are rated alike on IMDb. A genre counts by
how specific it is (sharing Film-Noir says more than sharing Drama); a shared person is a link of
its own, which the fit tempers less than a genre link. How many voted is left out of s: a
lesser-known film by a member's favourite director is what the member wants to hear of. "More like
this" adds it (``standing``: exp(−|Δlog10 votes| / 0.3)), so the titles listed under a famous one
are not obscure ones.
numpy and pyarrow only: the executors import this module.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from recommender.spark.inputs import local_path

PEOPLE_SHARE = 0.55
GENRE_SHARE = 0.45
# Per role: a shared director says most about a film's feel, a shared writer or lead less.
ROLE_WEIGHTS = {"director": 1.0, "writer": 0.6, "cast": 0.7}
# The leading cast: actors and actresses billed up to this place in title.principals.
CAST_BILLING = 5
# How much the fit tempers a shared person's link: its square root (a genre link takes it whole).
PEOPLE_FIT_POWER = 0.5
OTHER_TYPE = 0.35  # a film is less like a series than like another film
YEAR_SCALE = 20.0
RUNTIME_SCALE = 0.75  # of the natural log of minutes
RATING_SCALE = 2.0
VOTES_SCALE = 0.3  # decades of votes
MISSING = 0.8
# A person credited on more titles than this (a studio's house writer, "self" in newsreels) links
# too much to mean anything; their links are left out.
PERSON_MAX_TITLES = 500
# Titles scored against the whole catalog at once: bounds a block's float32 matrices to ~16 MB.
BLOCK_CELLS = 1 << 22


@dataclass
class Content:
    """The catalog's titles as arrays sorted by item id; people as CSR both ways."""

    ids: np.ndarray  # int64 sorted
    kind: np.ndarray  # int32 code of the title type, -1 unknown
    year: np.ndarray  # float32, NaN unknown
    runtime: np.ndarray  # float32 log(minutes), NaN unknown
    rating: np.ndarray  # float32 IMDb average, NaN unknown
    votes: np.ndarray  # float32 log10(1 + votes), NaN unknown
    genres: np.ndarray  # uint64 bit mask of the genres
    genre_weights: np.ndarray  # float32 (64,): each genre bit's specificity, log(titles / its titles)
    title_offsets: np.ndarray  # int64 (titles + 1): title t's people are title_people[off[t]:off[t+1]]
    title_people: np.ndarray  # int64 person index
    title_weights: np.ndarray  # float32 role weight
    person_offsets: np.ndarray  # int64 (people + 1): person p's titles
    person_titles: np.ndarray  # int64 title row
    person_weights: np.ndarray  # float32 role weight

    def __len__(self) -> int:
        return len(self.ids)

    def positions(self, items) -> np.ndarray:
        items = np.asarray(items, dtype=np.int64)
        if not len(self.ids):
            return np.full(len(items), -1, dtype=np.int64)
        pos = np.minimum(np.searchsorted(self.ids, items), len(self.ids) - 1)
        return np.where(self.ids[pos] == items, pos, -1)


def _csr(owner: np.ndarray, value: np.ndarray, weight: np.ndarray, owners: int):
    order = np.lexsort((value, owner))
    counts = np.bincount(owner, minlength=owners)
    return np.concatenate([[0], np.cumsum(counts)]).astype(np.int64), value[order], weight[order]


def content_build(
    *,
    ids,
    kind,
    year,
    runtime,
    rating,
    votes,
    genres: list[list[str]],
    people_item=(),
    people_person=(),
    people_weight=(),
) -> Content:
    """A ``Content`` from plain columns (``kind`` strings, missing values as NaN / None)."""
    ids = np.asarray(ids, dtype=np.int64)
    order = np.argsort(ids, kind="stable")
    ids = ids[order]
    kinds = np.asarray(kind, dtype=object)[order]
    names = sorted({value for value in kinds if value})
    codes = {name: code for code, name in enumerate(names)}
    kind_code = np.array([codes.get(value, -1) if value else -1 for value in kinds], dtype=np.int32)
    genre_names = sorted({genre for row in genres for genre in (row or ())})[:64]
    genre_bit = {genre: np.uint64(1) << np.uint64(bit) for bit, genre in enumerate(genre_names)}
    masks = np.zeros(len(ids), dtype=np.uint64)
    for row, title_genres in enumerate(genres[index] for index in order):
        for genre in title_genres or ():
            if genre in genre_bit:
                masks[row] |= genre_bit[genre]

    bits = np.arange(64, dtype=np.uint64)
    genre_titles = ((masks[:, None] >> bits[None, :]) & np.uint64(1)).sum(axis=0).astype(np.float64)
    with np.errstate(divide="ignore"):
        genre_weights = np.where(genre_titles > 0, np.log(max(len(ids), 1) / np.maximum(genre_titles, 1)), 0.0)

    def floats(values) -> np.ndarray:
        return np.array(
            [np.nan if value is None else value for value in np.asarray(values, dtype=object)[order]], dtype=np.float32
        )

    minutes = floats(runtime)
    with np.errstate(invalid="ignore", divide="ignore"):
        runtime_log = np.where(minutes > 0, np.log(minutes), np.nan).astype(np.float32)
        votes_log = np.log10(1.0 + floats(votes)).astype(np.float32)
    item = np.asarray(people_item, dtype=np.int64)
    person = np.asarray(people_person, dtype=np.int64)
    weight = np.asarray(people_weight, dtype=np.float32)
    rows = np.minimum(np.searchsorted(ids, item), max(len(ids) - 1, 0))
    keep = (ids[rows] == item) if len(ids) else np.zeros(len(item), bool)
    rows, person, weight = rows[keep], person[keep], weight[keep]
    # One link per (title, person): the strongest role.
    strongest = np.lexsort((-weight, person, rows))
    rows, person, weight = rows[strongest], person[strongest], weight[strongest]
    first = np.r_[True, (rows[1:] != rows[:-1]) | (person[1:] != person[:-1])] if len(rows) else np.zeros(0, bool)
    rows, person, weight = rows[first], person[first], weight[first]
    people, person_index = np.unique(person, return_inverse=True)
    credits = np.bincount(person_index, minlength=len(people))
    keep = credits[person_index] <= PERSON_MAX_TITLES
    rows, person_index, weight = rows[keep], person_index[keep], weight[keep]
    title_offsets, title_people, title_weights = _csr(rows, person_index, weight, len(ids))
    person_offsets, person_titles, person_weights = _csr(person_index, rows, weight, len(people))
    return Content(
        ids=ids,
        kind=kind_code,
        year=floats(year),
        runtime=runtime_log,
        rating=floats(rating),
        votes=votes_log,
        genres=masks,
        genre_weights=genre_weights.astype(np.float32),
        title_offsets=title_offsets,
        title_people=title_people,
        title_weights=title_weights,
        person_offsets=person_offsets,
        person_titles=person_titles,
        person_weights=person_weights,
    )


def content_load(input_dir: str) -> Content | None:
    """The exported catalog facts, or None when the input has none (a bare ratings file)."""
    from pathlib import Path

    titles_path = Path(local_path(f"{input_dir}/content.parquet"))
    if not titles_path.exists():
        return None
    titles = pq.read_table(titles_path)
    people_path = Path(local_path(f"{input_dir}/people.parquet"))
    people = pq.read_table(people_path) if people_path.exists() else None

    def column(name: str):
        return titles.column(name).to_numpy(zero_copy_only=False) if name in titles.column_names else None

    size = titles.num_rows
    nan = np.full(size, np.nan)
    return content_build(
        ids=column("item"),
        kind=column("kind") if column("kind") is not None else np.full(size, "", dtype=object),
        year=column("year") if column("year") is not None else nan,
        runtime=column("runtime") if column("runtime") is not None else nan,
        rating=column("rating") if column("rating") is not None else nan,
        votes=column("votes") if column("votes") is not None else nan,
        genres=titles.column("genres").to_pylist() if "genres" in titles.column_names else [[]] * size,
        people_item=people.column("item").to_numpy(zero_copy_only=False) if people else (),
        people_person=people.column("person").to_numpy(zero_copy_only=False) if people else (),
        people_weight=people.column("weight").to_numpy(zero_copy_only=False) if people else (),
    )


def _closeness(values: np.ndarray, block: np.ndarray, scale: float) -> np.ndarray:
    """exp(−|Δ| / scale) of ``values[block]`` against every value; MISSING where either is unknown."""
    difference = np.abs(values[block][:, None] - values[None, :])
    return np.where(np.isnan(difference), np.float32(MISSING), np.exp(-difference / np.float32(scale)))


def people_shared(content: Content, block: np.ndarray) -> np.ndarray:
    """Σ over shared people of w_p(i)·w_p(j), (len(block), titles) float32: each of the block's
    people spread over that person's titles through the inverted index, no Python per title."""
    size = len(content)
    out = np.zeros(len(block) * size, dtype=np.float32)
    starts, stops = content.title_offsets[block], content.title_offsets[block + 1]
    lengths = stops - starts
    if not lengths.sum():
        return out.reshape(len(block), size)
    owner = np.repeat(np.arange(len(block)), lengths)
    entry = np.concatenate([np.arange(start, stop) for start, stop in zip(starts, stops, strict=True)])
    person, weight = content.title_people[entry], content.title_weights[entry]
    low, high = content.person_offsets[person], content.person_offsets[person + 1]
    spread = high - low
    owner, weight = np.repeat(owner, spread), np.repeat(weight, spread)
    other = np.concatenate([np.arange(start, stop) for start, stop in zip(low, high, strict=True)])
    np.add.at(out, owner * size + content.person_titles[other], weight * content.person_weights[other])
    return out.reshape(len(block), size)


def genres_alike(content: Content, block: np.ndarray) -> np.ndarray:
    """The weighted Jaccard of the genre sets of ``block`` (rows) against every title, each genre
    weighted by its specificity (``genre_weights``): (len(block), titles) float32. Sharing Film-Noir
    (one title in nine of the sample) says more than sharing Drama (two in three): Seven Samurai
    (Action, Drama) is not like every drama, and a film-noir is like other films-noirs."""
    used = np.flatnonzero(content.genre_weights > 0)
    bits = (content.genres[:, None] >> used.astype(np.uint64)[None, :]) & np.uint64(1)
    weighted = bits.astype(np.float32) * content.genre_weights[used][None, :]
    shared = weighted[block] @ bits.T.astype(np.float32)
    totals = weighted.sum(axis=1)
    union = totals[block][:, None] + totals[None, :] - shared
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(union > 0, shared / union, 0.0).astype(np.float32)


def similarity_block(content: Content, block: np.ndarray) -> np.ndarray:
    """s(i, j) of the module docstring for the titles ``block`` (rows) against every title; a
    title's own entry is 0."""
    people = np.minimum(people_shared(content, block), 1.0)
    jaccard = genres_alike(content, block)
    same_type = content.kind[block][:, None] == content.kind[None, :]
    fit = np.where(same_type, np.float32(1.0), np.float32(OTHER_TYPE))
    fit = fit * _closeness(content.year, block, YEAR_SCALE)
    fit = fit * _closeness(content.runtime, block, RUNTIME_SCALE)
    fit = fit * _closeness(content.rating, block, RATING_SCALE)
    # Squared: two of three genres shared (0.25) says far more than one of five (0.04). A shared
    # person is a link of its own (a director's film ten years on is still theirs); the fit tempers
    # it less than a genre link, which needs era, length and standing to mean much.
    similarity = (
        np.float32(PEOPLE_SHARE) * people * fit**PEOPLE_FIT_POWER + np.float32(GENRE_SHARE) * jaccard * jaccard * fit
    ).astype(np.float32)
    similarity[np.arange(len(block)), block] = 0.0
    return similarity


def standing(votes: np.ndarray, block: np.ndarray, others: np.ndarray) -> np.ndarray:
    """exp(−|Δlog10 votes| / VOTES_SCALE) of the titles ``block`` against ``others`` (log10 votes,
    NaN unknown: MISSING): how alike two titles stand with IMDb's voters."""
    difference = np.abs(votes[block][:, None] - votes[others][None, :])
    return np.where(np.isnan(difference), np.float32(MISSING), np.exp(-difference / np.float32(VOTES_SCALE)))


def neighbours_of(content: Content, rows: np.ndarray, count: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The ``count`` most alike titles of each of ``rows`` (similarity above 0), as CSR:
    (offsets, neighbour rows, similarities), best first."""
    from recommender.spark.scoring import top_k

    lengths, found, values = [], [], []
    step = max(1, BLOCK_CELLS // max(len(content), 1))
    for start in range(0, len(rows), step):
        block = rows[start : start + step]
        similarity = similarity_block(content, block)
        similarity[similarity <= 0] = -np.inf
        best, scores, valid = top_k(similarity, count)
        lengths.append(valid.sum(axis=1))
        found.append(best[valid])
        values.append(scores[valid])
    if not lengths:
        return np.zeros(1, np.int64), np.zeros(0, np.int64), np.zeros(0, np.float32)
    offsets = np.concatenate([[0], np.cumsum(np.concatenate(lengths))]).astype(np.int64)
    return offsets, np.concatenate(found).astype(np.int64), np.concatenate(values).astype(np.float32)


NEIGHBOURS_SCHEMA = pa.schema(
    [("item", pa.int32()), ("neighbours", pa.list_(pa.int32())), ("scores", pa.list_(pa.float32()))]
)


def neighbours_pass(content: Content, part: int, parts: int, count: int) -> pa.RecordBatch:
    """The ``part``-th of ``parts`` slices of the catalog with their neighbours (item ids)."""
    rows = np.array_split(np.arange(len(content)), parts)[part]
    offsets, found, values = neighbours_of(content, rows, count)
    return pa.RecordBatch.from_arrays(
        [
            pa.array(content.ids[rows].astype(np.int32)),
            pa.ListArray.from_arrays(pa.array(offsets.astype(np.int32)), pa.array(content.ids[found].astype(np.int32))),
            pa.ListArray.from_arrays(pa.array(offsets.astype(np.int32)), pa.array(values, type=pa.float32())),
        ],
        schema=NEIGHBOURS_SCHEMA,
    )


def neighbours_read(path: str) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The pass's files as (items, offsets, neighbour items, similarities), items sorted."""
    import pyarrow.dataset as pds

    table = pds.dataset(local_path(path), format="parquet").to_table()
    if not table.num_rows:
        return np.zeros(0, np.int64), np.zeros(1, np.int64), np.zeros(0, np.int64), np.zeros(0, np.float32)
    table = table.take(pc.sort_indices(table["item"]))
    lists = table["neighbours"].combine_chunks()
    lengths = pc.list_value_length(lists).fill_null(0).to_numpy(zero_copy_only=False)
    return (
        table["item"].to_numpy().astype(np.int64),
        np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64),
        pc.list_flatten(lists).to_numpy(zero_copy_only=False).astype(np.int64),
        pc.list_flatten(table["scores"].combine_chunks()).to_numpy(zero_copy_only=False).astype(np.float32),
    )
