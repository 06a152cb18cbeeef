"""Real-time recommendations: fold a user into the active run and rank every title, in milliseconds.

The training run (``recommender/DESIGN.md``) stores every title's vectors. Solving one user's
vectors against them is exactly one half-step of the training's alternating least squares, with
the same regularisation, alpha and star weighting read from ``run.params["model"]``. So when a user
rates, their list reflects it on the next page view, without waiting for a training.

What this module owns:

* ``run_model_get(run=...)`` — the run's title matrices as numpy arrays, loaded once per process
  and cached by run id (a new active run is a new key; old ones are dropped);
* ``user_vectors_solve`` — the fold-in of both models (ranking: implicit ALS; stars: biased ALS);
* ``user_vectors_for(user=..., run=...)`` — which vectors serve a user: their fold-in when fresh,
  the run's own ``UserFactor`` when nothing changed since the run's export, else a fold-in now,
  saved in ``UserFoldIn``;
* ``recommendation_list_live`` — scoring, exclusions (rated, watchlist, not interested), filters
  and the star prediction and confidence of each title, as the run computes them.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from django.conf import settings
from django.db import connection, transaction
from threadpoolctl import threadpool_limits

from ratings.models import NotInterested, Rating, WatchlistItem
from recommender.models import ModelRun, UserFactor, UserFoldIn
from recommender.spark import scoring

if TYPE_CHECKING:
    from accounts.models import User

logger = logging.getLogger(__name__)

# The products here are one user against the titles: too small for BLAS threads, which only
# spin-wait; on a loaded two-core machine they multiplied the CPU time of a ranking by five
# (7.4 ms -> 1.4 ms for 50,000 titles measured with one thread). Web processes use one.
threadpool_limits(limits=1, user_api="blas")

# Defaults for parameters a run may not record (older runs); the run's own values always win.
# Names are the training's (``recommender/spark/train_als.py`` stores them in run.params["model"]).
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
}
# How many titles a user can page through; beyond that, a list is noise.
LIVE_LIST_LIMIT = 200


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
    loaded_seconds: float = 0.0
    # float32 copies for the scan over every title (half the memory traffic); the short list is
    # then re-scored in float64, so the final order is exact.
    factors32: np.ndarray = field(init=False)
    popularity32: np.ndarray = field(init=False)
    title_types: list[str] = field(default_factory=list)
    genres: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.factors32 = np.ascontiguousarray(self.factors, dtype=np.float32)
        self.popularity32 = self.popularity.astype(np.float32)
        self.title_types = sorted(set(self.title_type.tolist()) - {""})
        self.genres = sorted(self.genre_masks)

    @property
    def size(self) -> int:
        return len(self.tconsts)

    @property
    def rank(self) -> int:
        return self.factors.shape[1]


@dataclass
class UserVectors:
    """A user's vectors in one run, from the run itself (``source="run"``) or a fold-in."""

    factors: np.ndarray
    rating_factors: np.ndarray | None
    bias: float
    known_ratings: int  # n_u: the user's ratings of titles the run knows
    source: str  # "run", "fold-in" or "fold-in (saved)"


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
            SELECT title_id, factors::text, rating_factors::text, bias, support
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
    return arrays


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
    model.loaded_seconds = time.perf_counter() - started
    logger.info("Loaded run %s: %d titles, rank %d, in %.2f s", run.pk, model.size, model.rank, model.loaded_seconds)
    return model


# --- the fold-in -------------------------------------------------------------------------------


def _fold_in_model(model: RunModel, scores: np.ndarray) -> dict:
    """The run's parameters as ``scoring`` reads them (mu: the run's, else the user's own mean)."""
    return {**model.params, "global_mean": float(model.params.get("global_mean") or scores.mean())}


def ranking_system(
    model: RunModel, positions: np.ndarray, scores: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The normal equations of the implicit model for one user: ``(A, b, c)`` with ``A x = b``,
    ``c_i = 1 + alpha·w_i`` (``scoring.ranking_systems``, the training's own; explanations use A)."""
    params = _fold_in_model(model, scores)
    weights = float(params["alpha"]) * scoring.strength(scores, len(positions), params)
    matrices, targets = scoring.ranking_systems(
        model.factors[positions][None], weights[None], np.array([len(positions)]), model.gram, float(params["reg"])
    )
    return matrices[0], targets[0], 1.0 + weights


def user_vectors_solve(*, model: RunModel, ratings: dict[str, int]) -> UserVectors | None:
    """Fold a user with ``ratings`` ({tconst: stars}) into ``model`` with the training's own
    equations (``scoring.fold_in``); ``None`` when the model knows none of the rated titles."""
    known = [(model.index[tconst], score) for tconst, score in ratings.items() if tconst in model.index]
    if not known:
        return None
    positions = np.fromiter((position for position, _ in known), dtype=np.int64, count=len(known))
    scores = np.fromiter((score for _, score in known), dtype=np.float64, count=len(known))
    folded = scoring.fold_in(
        np.zeros(len(positions), dtype=np.int64),
        positions,
        scores,
        1,
        factors=model.factors,
        gram=model.gram,
        rating_factors=model.rating_factors,
        title_bias=model.title_bias,
        model=_fold_in_model(model, scores),
    )
    return UserVectors(
        factors=folded.factors[0],
        rating_factors=folded.rating_factors[0] if folded.rating_factors is not None else None,
        bias=float(folded.bias[0]),
        known_ratings=len(positions),
        source="fold-in",
    )


def user_ratings(*, user: User) -> dict[str, int]:
    return dict(Rating.objects.filter(user=user).values_list("title_id", "score"))


def user_ratings_and_exclusions(*, user: User) -> tuple[dict[str, int], set[str]]:
    """``({tconst: stars}, {tconsts never to recommend})`` in one query: rated, watchlist, not interested."""
    with connection.cursor() as cursor:
        cursor.execute(
            """
            SELECT title_id, score FROM ratings_rating WHERE user_id = %(user)s
            UNION ALL SELECT title_id, NULL FROM ratings_watchlistitem WHERE user_id = %(user)s
            UNION ALL SELECT title_id, NULL FROM ratings_notinterested WHERE user_id = %(user)s
            """,
            {"user": user.pk},
        )
        rows = cursor.fetchall()
    return {tconst: score for tconst, score in rows if score is not None}, {tconst for tconst, _ in rows}


def user_excluded_tconsts(*, user: User) -> set[str]:
    """Rated, on the watchlist or not interested: never recommended. One query."""
    rated = Rating.objects.filter(user=user).values_list("title_id", flat=True)
    watchlist = WatchlistItem.objects.filter(user=user).values_list("title_id", flat=True)
    dismissed = NotInterested.objects.filter(user=user).values_list("title_id", flat=True)
    return set(rated.union(watchlist, dismissed))


def _vectors_from_arrays(factors, rating_factors, bias, known: int, source: str) -> UserVectors:
    return UserVectors(
        factors=np.asarray(factors, dtype=np.float64),
        rating_factors=np.asarray(rating_factors, dtype=np.float64) if rating_factors else None,
        bias=float(bias or 0.0),
        known_ratings=known,
        source=source,
    )


@dataclass
class UserState:
    """Everything the page needs about the user's vectors, with how they were obtained."""

    vectors: UserVectors | None
    ratings: dict[str, int]
    folded: bool  # a fold-in was computed during this call
    fold_in_ms: float = 0.0
    excluded: set[str] = field(default_factory=set)  # rated, watchlist, not interested
    version: str = ""  # changes whenever the vectors may change (cache keys)


def user_state_get(*, user: User, run: ModelRun, model: RunModel, force: bool = False) -> UserState:
    """The user's current vectors in ``run``: saved fold-in, the run's own, or a fold-in now.

    The run's ``UserFactor`` is used only when the user changed nothing since the run exported its
    ratings (no stale mark newer than the run's start): it is then the same solve. Otherwise, or
    when ``force`` (the "refresh" button), the user is folded in now and the result saved.
    """
    # The fold-in row is read before the ratings: a rating committed in between makes the row
    # newer than what we read, which user_fold_in_save detects.
    fold_in = UserFoldIn.objects.filter(user=user).first()
    ratings, excluded = user_ratings_and_exclusions(user=user)
    known = sum(1 for tconst in ratings if tconst in model.index)
    if not force and fold_in is not None and fold_in.run_id == run.pk and not fold_in.stale and fold_in.factors:
        vectors = _vectors_from_arrays(fold_in.factors, fold_in.rating_factors, fold_in.bias, known, "fold-in (saved)")
        return UserState(
            vectors=vectors,
            ratings=ratings,
            folded=False,
            excluded=excluded,
            version=f"f{fold_in.updated_at.timestamp()}",
        )
    changed_since_run = fold_in is not None and (
        fold_in.stale and (run.started_at is None or fold_in.updated_at >= run.started_at)
    )
    if not force and not changed_since_run:
        row = UserFactor.objects.filter(run=run, user=user).values_list("factors", "rating_factors", "bias").first()
        if row is not None:
            vectors = _vectors_from_arrays(row[0], row[1], row[2], known, "run")
            if fold_in is not None and (fold_in.stale or fold_in.run_id != run.pk):
                # A new run marked every fold-in stale, but this user changed nothing since its
                # export: its vectors are theirs. Recorded, so the flag stops sending them here.
                user_fold_in_save(user=user, run=run, vectors=vectors, seen_updated_at=fold_in.updated_at)
            return UserState(vectors=vectors, ratings=ratings, folded=False, excluded=excluded, version=f"r{run.pk}")
    started = time.perf_counter()
    solved = user_vectors_solve(model=model, ratings=ratings)
    elapsed = (time.perf_counter() - started) * 1000
    saved = user_fold_in_save(
        user=user, run=run, vectors=solved, seen_updated_at=fold_in.updated_at if fold_in else None
    )
    return UserState(
        vectors=solved,
        ratings=ratings,
        folded=True,
        fold_in_ms=elapsed,
        excluded=excluded,
        version=f"f{saved.updated_at.timestamp()}",
    )


@transaction.atomic
def user_fold_in_save(*, user: User, run: ModelRun, vectors: UserVectors | None, seen_updated_at=None) -> UserFoldIn:
    """Store ``user``'s folded vectors for ``run`` and clear the stale mark.

    ``seen_updated_at`` is the fold-in row's ``updated_at`` read *before* the ratings were read.
    If a rating was saved since (the row changed under us), the vectors are stored but the row
    stays stale, so the next view folds again: no rating is ever silently left out.
    """
    fold_in = UserFoldIn.objects.select_for_update().filter(user=user).first()
    changed_meanwhile = fold_in is not None and seen_updated_at is not None and fold_in.updated_at != seen_updated_at
    changed_meanwhile |= fold_in is not None and seen_updated_at is None and fold_in.stale
    values = {
        "run": run,
        "factors": [float(value) for value in vectors.factors] if vectors else None,
        "rating_factors": (
            [float(value) for value in vectors.rating_factors]
            if vectors is not None and vectors.rating_factors is not None
            else None
        ),
        "bias": vectors.bias if vectors else 0.0,
        "stale": bool(changed_meanwhile),
    }
    if fold_in is None:
        # Another request may create the row at the same moment: update_or_create settles it.
        fold_in, _ = UserFoldIn.objects.update_or_create(user=user, defaults=values)
        return fold_in
    for name, value in values.items():
        setattr(fold_in, name, value)
    fold_in.save()
    return fold_in


# --- scoring ----------------------------------------------------------------------------------


@dataclass
class ScoredTitle:
    tconst: str
    position: int
    score: float
    predicted_rating: float
    confidence: float


@dataclass
class LiveFilters:
    genre: str | None = None
    title_type: str | None = None
    year_min: int | None = None
    year_max: int | None = None

    def mask(self, model: RunModel) -> np.ndarray | None:
        masks = []
        if self.genre:
            masks.append(model.genre_masks.get(self.genre, np.zeros(model.size, dtype=bool)))
        if self.title_type:
            masks.append(model.title_type == self.title_type)
        if self.year_min is not None:
            masks.append(model.year >= self.year_min)
        if self.year_max is not None:
            masks.append(model.year <= self.year_max)
        if not masks:
            return None
        return np.logical_and.reduce(masks)


def scores_all(*, model: RunModel, vectors: UserVectors) -> np.ndarray:
    """``score_ui = x_u·y_i + popularity_weight·pop_i`` for every title of the run."""
    return model.factors @ vectors.factors + model.popularity


def predictions_for(*, model: RunModel, vectors: UserVectors, positions: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Predicted stars (star model, clipped) and confidence in [0, 1] for titles at ``positions``."""
    params = model.params
    mean = float(params.get("global_mean") or 3.5)
    predicted = mean + vectors.bias + model.title_bias[positions]
    if model.rating_factors is not None and vectors.rating_factors is not None:
        predicted = predicted + model.rating_factors[positions] @ vectors.rating_factors
    predicted = np.clip(predicted, float(params["scale_min"]), float(params["scale_max"]))
    preference = model.factors[positions] @ vectors.factors
    return predicted, scoring.confidence(preference, vectors.known_ratings, model.support[positions], params)


def ranked_titles(
    *,
    model: RunModel,
    vectors: UserVectors,
    excluded: set[str],
    filters: LiveFilters | None = None,
    limit: int = LIVE_LIST_LIMIT,
) -> list[ScoredTitle]:
    """The user's best ``limit`` titles, excluding ``excluded`` and titles gone from the catalog.

    Every title is scored in float32; the best ``limit`` plus a margin are scored again in float64
    and sorted by that exact score (ties by tconst), so the order equals the run's.
    """
    scores = model.factors32 @ vectors.factors.astype(np.float32) + model.popularity32
    allowed = ~model.removed
    mask = filters.mask(model) if filters else None
    if mask is not None:
        allowed &= mask
    excluded_positions = [model.index[tconst] for tconst in excluded if tconst in model.index]
    if excluded_positions:
        allowed[excluded_positions] = False
    candidates = np.flatnonzero(allowed)
    if candidates.size == 0:
        return []
    candidate_scores = scores[candidates]
    shortlist = limit + 64
    if candidates.size > shortlist:
        top = candidates[np.argpartition(-candidate_scores, shortlist - 1)[:shortlist]]
    else:
        top = candidates
    exact = model.factors[top] @ vectors.factors + model.popularity[top]
    # Ties broken by tconst, so the order is stable between requests and equal to the run's.
    order = np.lexsort((model.tconsts[top], -exact))[:limit]
    positions = top[order]
    exact = exact[order]
    predicted, confidence = predictions_for(model=model, vectors=vectors, positions=positions)
    return [
        ScoredTitle(
            tconst=model.tconsts[position],
            position=int(position),
            score=float(exact[n]),
            predicted_rating=float(predicted[n]),
            confidence=float(confidence[n]),
        )
        for n, position in enumerate(positions)
    ]


@dataclass
class LiveList:
    """What the recommendations page shows, with how it was computed."""

    run: ModelRun | None
    model: RunModel | None
    state: UserState | None
    items: list[ScoredTitle]
    excluded: set[str]
    computed_at: float = field(default_factory=time.time)

    @property
    def personal(self) -> bool:
        return self.state is not None and self.state.vectors is not None


def live_state_get(*, user: User, force: bool = False, run: ModelRun | None = None) -> LiveList:
    """The active run (or ``run``), its model and the user's current vectors (folding them in when
    stale), without ranking yet."""
    run = run if run is not None else active_run()
    if run is None:
        return LiveList(run=None, model=None, state=None, items=[], excluded=set())
    model = run_model_get(run=run)
    if model is None:
        return LiveList(run=run, model=None, state=None, items=[], excluded=set())
    state = user_state_get(user=user, run=run, model=model, force=force)
    return LiveList(run=run, model=model, state=state, items=[], excluded=state.excluded)


def live_list_rank(live: LiveList, *, filters: LiveFilters | None = None, limit: int = LIVE_LIST_LIMIT) -> LiveList:
    """Fill ``live.items`` with the user's ranked titles (no-op when the user has no vectors)."""
    if live.model is not None and live.state is not None and live.state.vectors is not None:
        live.items = ranked_titles(
            model=live.model, vectors=live.state.vectors, excluded=live.excluded, filters=filters, limit=limit
        )
    return live


def recommendation_list_live(
    *, user: User, filters: LiveFilters | None = None, force: bool = False, limit: int = LIVE_LIST_LIMIT
) -> LiveList:
    """The user's ranked titles in the active run, folding them in first when their ratings changed.

    Without an active run (or a run without title factors) the list is empty and not personal;
    the page then shows the cold-start fallback.
    """
    return live_list_rank(live_state_get(user=user, force=force), filters=filters, limit=limit)
