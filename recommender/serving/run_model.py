"""The active run's title side as numpy arrays: loaded once per process, shared between processes.

The training run (``recommender/DESIGN.md``) stores every title's vectors. The site scores and folds
users in against them many times a second, so they are read once (one query, or the file cache a
sibling process wrote) and kept by run id:

* ``active_run()`` — the run being served;
* ``model_params(run)`` — the formulation's parameters recorded by the run, defaults filled in;
* ``run_model_get(run=...)`` / ``run_model_forget`` — the run's ``RunModel`` from this process's
  cache (a new active run is a new key; old ones are dropped), with the catalog facts the filters
  need read fresh.

Reads only: nothing here writes to the database.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from django.conf import settings
from django.db import connection
from threadpoolctl import threadpool_limits

from recommender.models import ModelRun
from recommender.spark.scoring import NeighbourLists

logger = logging.getLogger(__name__)

# The products here are one user against the titles: too small for BLAS threads, which only
# spin-wait; on a loaded two-core machine they multiplied the CPU time of a ranking by five
# (7.4 ms -> 1.4 ms for 50,000 titles measured with one thread). Web processes use one.
threadpool_limits(limits=1, user_api="blas")

# Defaults for parameters a run may not record (older runs); the run's own values always win.
# Names are the training's (``recommender/spark/fit.py``, ``MODEL_KEYS``, stored in run.params["model"]).
MODEL_DEFAULTS = {
    "scale_min": 1.0,
    "scale_max": 5.0,
    "reg": 0.1,
    "alpha": 1.0,
    "star_weight": 0.0,
    "activity_exponent": 0.0,
    "activity_reference": 1.0,
    "popularity_weight": 0.0,
    "rating_reg": 0.1,
    "bias_reg_user": 5.0,
    "bias_reg_title": 5.0,
    "confidence_user_prior": 10.0,
    "confidence_title_prior": 10.0,
    # runs before issue 18 part 6 took the cube root (DESIGN.md §3): their stored confidence stays theirs
    "confidence_exponent": 1 / 3,
    # a run without a content side (older runs): no content term
    "content_weight": 0.0,
    "content_prior": 5.0,
    # a run before the lift of titles with few ratings (DESIGN.md §11): none
    "content_few_weight": 0.0,
    "content_vector_prior": 0.0,
    # a run without item-item lists (older runs): no item-item term
    "item_weight": 0.0,
    "item_activity_exponent": 0.0,
}


# The names DESIGN.md first used for the ranking model's parameters.
PARAM_ALIASES = {"ranking_reg": "reg", "ranking_alpha": "alpha", "ranking_star_weight": "star_weight"}


def model_params(run: ModelRun) -> dict:
    """The formulation's parameters of ``run`` (``run.params["model"]``) with defaults filled in."""
    params = dict(MODEL_DEFAULTS)
    recorded = (run.params or {}).get("model") or {}
    for key, value in recorded.items():
        if value is not None:
            params[PARAM_ALIASES.get(key, key)] = value
    return params


@dataclass
class RunModel:
    """One run's title side, as arrays indexed by position (``tconsts[i]`` is row ``i``)."""

    run_id: int
    params: dict
    tconsts: np.ndarray
    index: dict[str, int]
    factors: np.ndarray  # (n, k) ranking vectors y_i
    gram: np.ndarray  # YᵀY over all titles of the run
    rating_factors: np.ndarray | None  # (n, k2) star vectors q_i, None when the run has none
    title_bias: np.ndarray  # b_i
    support: np.ndarray  # n_i, training ratings per title
    popularity: np.ndarray  # popularity_weight * pop_i, added to the dot product
    removed: np.ndarray  # bool: titles gone from the catalog since the run
    title_type: np.ndarray
    year: np.ndarray  # float, NaN when unknown
    genre_masks: dict[str, np.ndarray] = field(default_factory=dict)
    # The content neighbours (DESIGN.md §11) over positions, best first; empty without content.
    content_neighbours: NeighbourLists = field(default_factory=NeighbourLists)
    # The star model's neighbours (DESIGN.md §2) over positions; empty when the run has none.
    star_neighbours: NeighbourLists = field(default_factory=NeighbourLists)
    # The item-item lists (DESIGN.md §1) over positions, largest weight first; empty without.
    item_neighbours: NeighbourLists = field(default_factory=NeighbourLists)
    loaded_seconds: float = 0.0
    # float32 copies for the scan over every title (half the memory traffic); the short list is
    # then re-scored in float64, so the final order is exact.
    factors32: np.ndarray = field(init=False)
    popularity32: np.ndarray = field(init=False)
    # pop_i = log(1 + n_i) / log(1 + max n) unweighted: the discovery control moves its weight
    popularity_unit: np.ndarray = field(init=False)
    popularity_unit32: np.ndarray = field(init=False)
    title_types: list[str] = field(default_factory=list)
    genres: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.factors32 = np.ascontiguousarray(self.factors, dtype=np.float32)
        self.popularity32 = self.popularity.astype(np.float32)
        max_support = float(self.params.get("max_support") or (self.support.max() if len(self.support) else 1.0))
        self.popularity_unit = np.log1p(self.support) / np.log1p(max(max_support, 1.0))
        self.popularity_unit32 = self.popularity_unit.astype(np.float32)
        self.title_types = sorted(set(self.title_type.tolist()) - {""})
        self.genres = sorted(self.genre_masks)

    @property
    def size(self) -> int:
        return len(self.tconsts)

    @property
    def rank(self) -> int:
        return self.factors.shape[1]


_models: dict[tuple, RunModel] = {}
_models_lock = threading.Lock()


def active_run() -> ModelRun | None:
    """The run being served (one indexed query: a switch is seen by the very next request)."""
    return ModelRun.objects.filter(is_active=True).first()


def run_model_get(*, run: ModelRun) -> RunModel | None:
    """The run's title matrices, from this process's cache or loaded now (one query).

    ``None`` when the run has no title factors. Only the newest two runs stay cached, so a process
    serving through a switch never holds more than the old and the new model.
    """
    key = (run.pk, run.created_at)  # a run id reused by another database is another run
    model = _models.get(key)
    if model is not None:
        return model
    with _models_lock:
        model = _models.get(key)
        if model is None:
            model = _run_model_load(run)
            if model is None:
                return None
            _models[key] = model
            for old in sorted(_models, key=lambda item: item[0])[:-2]:
                del _models[old]
    return model


def run_model_forget(*, run_id: int | None = None) -> None:
    """Drop cached models (all, or one run's): tests and a run whose rows were replaced."""
    with _models_lock:
        if run_id is None:
            _models.clear()
        else:
            for key in [key for key in _models if key[0] == run_id]:
                del _models[key]


def _parse_float_arrays(texts: list[str | None], width: int) -> np.ndarray:
    """Postgres ``float8[]`` text (``{0.1,0.2}``) to an (n, width) array in one C-level parse."""
    if not texts:
        return np.zeros((0, width))
    joined = ",".join(text[1:-1] if text else ",".join(["nan"] * width) for text in texts)
    return np.fromstring(joined, dtype=np.float64, sep=",").reshape(len(texts), width)


def _cache_path(run: ModelRun) -> Path | None:
    """Where this process and its siblings keep the run's matrices (``RECOMMENDER_MODEL_CACHE_DIR``).

    The name carries the database and the run's creation time, so a run id reused by another
    database (tests, a reset) never reads someone else's file.
    """
    directory = getattr(settings, "RECOMMENDER_MODEL_CACHE_DIR", None) or Path(settings.BASE_DIR) / "var" / "cache"
    database = connection.settings_dict.get("NAME") or "db"
    stamp = run.created_at.strftime("%Y%m%dT%H%M%S%f") if run.created_at else "0"
    return Path(directory) / f"recommender-{database}-run{run.pk}-{stamp}.npz"


def _factors_from_database(run: ModelRun) -> dict[str, np.ndarray] | None:
    with connection.cursor() as cursor:
        # Arrays as text and one numpy parse: ten times faster than Python lists per row.
        cursor.execute(
            """
            SELECT title_id, factors::text, rating_factors::text, bias, support,
                   neighbours::text, neighbour_scores::text, star_neighbours::text, star_neighbour_scores::text,
                   item_neighbours::text, item_neighbour_weights::text
            FROM recommender_titlefactor WHERE run_id = %s ORDER BY title_id
            """,
            [run.pk],
        )
        rows = cursor.fetchall()
    if not rows:
        return None
    rank = rows[0][1].count(",") + 1
    arrays = {
        "tconsts": np.array([row[0] for row in rows], dtype=str),
        "factors": _parse_float_arrays([row[1] for row in rows], rank),
        "title_bias": np.array([row[3] or 0.0 for row in rows], dtype=np.float64),
        "support": np.array([row[4] or 0 for row in rows], dtype=np.float64),
    }
    if rows[0][2]:
        rating_rank = rows[0][2].count(",") + 1
        arrays["rating_factors"] = np.nan_to_num(_parse_float_arrays([row[2] for row in rows], rating_rank))
    arrays.update(_neighbours_parse(arrays["tconsts"], [row[5] for row in rows], [row[6] for row in rows]))
    star = _neighbours_parse(arrays["tconsts"], [row[7] for row in rows], [row[8] for row in rows])
    arrays.update(
        star_offsets=star["neighbour_offsets"], star_rows=star["neighbour_rows"], star_scores=star["neighbour_scores"]
    )
    items = _neighbours_parse(arrays["tconsts"], [row[9] for row in rows], [row[10] for row in rows])
    arrays.update(
        item_offsets=items["neighbour_offsets"],
        item_rows=items["neighbour_rows"],
        item_weights=items["neighbour_scores"],
    )
    return arrays


def _ragged(texts: list[str | None]) -> tuple[np.ndarray, str]:
    """Postgres array texts of varying length: (lengths, their values joined by commas)."""
    bodies = [text[1:-1] if text and len(text) > 2 else "" for text in texts]
    lengths = np.array([body.count(",") + 1 if body else 0 for body in bodies], dtype=np.int64)
    return lengths, ",".join(body for body in bodies if body)


def _neighbours_parse(tconsts: np.ndarray, neighbours: list[str | None], scores: list[str | None]) -> dict:
    """The titles' neighbour lists (item ids; content or item-item) as CSR over the run's positions."""
    lengths, joined = _ragged(neighbours)
    items = np.fromstring(joined, dtype=np.int64, sep=",") if joined else np.zeros(0, np.int64)
    _, joined_scores = _ragged(scores)
    values = np.fromstring(joined_scores, dtype=np.float32, sep=",") if joined_scores else np.zeros(0, np.float32)
    own = np.array([int(tconst[2:]) for tconst in tconsts], dtype=np.int64)
    order = np.argsort(own, kind="stable")
    where = np.minimum(np.searchsorted(own[order], items), max(len(own) - 1, 0))
    found = own[order][where] == items if len(own) else np.zeros(len(items), bool)
    rows = np.where(found, order[where], -1)
    owner = np.repeat(np.arange(len(tconsts)), lengths)[found]
    counts = np.bincount(owner, minlength=len(tconsts))
    return {
        "neighbour_offsets": np.concatenate([[0], np.cumsum(counts)]).astype(np.int64),
        "neighbour_rows": rows[found].astype(np.int64),
        "neighbour_scores": values[found] if len(values) == len(items) else np.zeros(int(found.sum()), np.float32),
    }


def _factors_get(run: ModelRun) -> dict[str, np.ndarray] | None:
    """The run's title arrays from the shared file cache, or from the database (then cached).

    A run's factors never change once written, so the file is valid for the run's life; the first
    process to load a run pays the database read, its sibling workers read the file.
    """
    path = _cache_path(run)
    if path is not None and path.exists():
        try:
            with np.load(path, allow_pickle=False) as stored:
                return {name: stored[name] for name in stored.files}
        except (OSError, ValueError) as error:  # a torn or foreign file: read the database instead
            logger.warning("Ignoring model cache %s: %s", path, error)
    arrays = _factors_from_database(run)
    if arrays is not None and path is not None:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            temporary = path.with_suffix(f".{os.getpid()}.tmp.npz")
            np.savez(temporary, **arrays)  # type: ignore[arg-type]  # numpy's stub types **kwds as allow_pickle's bool
            os.replace(temporary, path)  # atomic: a reader never sees half a file
            _cache_prune(path)
        except OSError as error:
            logger.warning("Could not write model cache %s: %s", path, error)
    return arrays


def _cache_prune(newest: Path, keep: int = 8) -> None:
    """Keep the ``keep`` most recently written model files (any database: dev, tests, benchmarks).
    A process whose file was pruned reads the database again; nothing breaks."""
    files = sorted(newest.parent.glob("recommender-*-run*.npz"), key=lambda item: item.stat().st_mtime, reverse=True)
    for old in files[keep:]:
        if old != newest:
            old.unlink(missing_ok=True)


def _run_model_load(run: ModelRun) -> RunModel | None:
    started = time.perf_counter()
    params = model_params(run)
    arrays = _factors_get(run)
    if arrays is None:
        return None
    tconsts = arrays["tconsts"].astype(object)
    factors = arrays["factors"]
    rating_factors = arrays.get("rating_factors")
    support = arrays["support"]
    # Catalog facts can change under a run (a title removed by a newer dump): always read them fresh.
    size = len(tconsts)
    removed = np.ones(size, dtype=bool)
    title_type = np.full(size, "", dtype=object)
    year = np.full(size, np.nan)
    genre_masks: dict[str, np.ndarray] = {}
    index = {tconst: position for position, tconst in enumerate(tconsts)}
    with connection.cursor() as cursor:
        cursor.execute(
            """
            SELECT t.tconst, t.removed_at IS NOT NULL, t.title_type, t.start_year, t.genres
            FROM recommender_titlefactor f JOIN catalog_title t ON t.tconst = f.title_id
            WHERE f.run_id = %s
            """,
            [run.pk],
        )
        for tconst, is_removed, kind, start_year, genres in cursor.fetchall():
            position = index.get(tconst)
            if position is None:
                continue
            removed[position] = is_removed
            title_type[position] = kind
            if start_year is not None:
                year[position] = start_year
            for genre in genres or ():
                mask = genre_masks.get(genre)
                if mask is None:
                    mask = genre_masks[genre] = np.zeros(size, dtype=bool)
                mask[position] = True
    max_support = float(params.get("max_support") or support.max() or 1.0)
    model = RunModel(
        run_id=run.pk,
        params=params,
        tconsts=tconsts,
        index=index,
        factors=factors,
        gram=factors.T @ factors,
        rating_factors=rating_factors,
        title_bias=arrays["title_bias"],
        support=support,
        popularity=float(params["popularity_weight"]) * np.log1p(support) / np.log1p(max(max_support, 1.0)),
        removed=removed,
        title_type=title_type,
        year=year,
        genre_masks=genre_masks,
    )
    # The file cache keeps each triple's arrays under these names (files written before stay valid).
    for lists, names in (
        ("content_neighbours", ("neighbour_offsets", "neighbour_rows", "neighbour_scores")),
        ("star_neighbours", ("star_offsets", "star_rows", "star_scores")),
        ("item_neighbours", ("item_offsets", "item_rows", "item_weights")),
    ):
        if names[0] in arrays:
            offsets, rows, scores = (arrays[name] for name in names)
            setattr(model, lists, NeighbourLists(offsets, rows, scores.astype(np.float32)))
    model.loaded_seconds = time.perf_counter() - started
    logger.info("Loaded run %s: %d titles, rank %d, in %.2f s", run.pk, model.size, model.rank, model.loaded_seconds)
    return model
