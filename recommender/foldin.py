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
import threading
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np
from django.db import connection, transaction

from ratings.models import NotInterested, Rating, WatchlistItem
from recommender.models import ModelRun, UserFactor, UserFoldIn

if TYPE_CHECKING:
    from accounts.models import User

logger = logging.getLogger(__name__)

# Defaults for parameters a run may not record (older runs); the run's own values always win.
MODEL_DEFAULTS = {
    "scale_min": 1.0,
    "scale_max": 5.0,
    "ranking_reg": 0.1,
    "ranking_alpha": 1.0,
    "ranking_star_weight": 0.0,
    "popularity_weight": 0.0,
    "rating_reg": 0.1,
    "bias_reg_user": 5.0,
    "bias_reg_title": 5.0,
    "confidence_user_prior": 10.0,
    "confidence_title_prior": 10.0,
}
# How many titles a user can page through; beyond that, a list is noise.
LIVE_LIST_LIMIT = 200
# How long a process trusts its idea of which run is active before asking the database again.
ACTIVE_RUN_TTL_SECONDS = 2.0


def model_params(run: ModelRun) -> dict:
    """The formulation's parameters of ``run`` (``run.params["model"]``) with defaults filled in."""
    params = dict(MODEL_DEFAULTS)
    recorded = (run.params or {}).get("model") or {}
    params.update({key: value for key, value in recorded.items() if value is not None})
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
    title_evidence: np.ndarray  # n_i / (n_i + prior)
    removed: np.ndarray  # bool: titles gone from the catalog since the run
    title_type: np.ndarray
    year: np.ndarray  # float, NaN when unknown
    genre_masks: dict[str, np.ndarray] = field(default_factory=dict)
    loaded_seconds: float = 0.0

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


_models: dict[int, RunModel] = {}
_models_lock = threading.Lock()
_active_cache: dict[str, object] = {"at": 0.0, "run": None}


def active_run(*, fresh: bool = False) -> ModelRun | None:
    """The active run, re-read from the database at most every ``ACTIVE_RUN_TTL_SECONDS``."""
    now = time.monotonic()
    if fresh or now - _active_cache["at"] > ACTIVE_RUN_TTL_SECONDS:
        _active_cache["run"] = ModelRun.objects.filter(is_active=True).first()
        _active_cache["at"] = now
    return _active_cache["run"]


def run_model_get(*, run: ModelRun) -> RunModel | None:
    """The run's title matrices, from this process's cache or loaded now (one query).

    ``None`` when the run has no title factors. Only the newest two runs stay cached, so a process
    serving through a switch never holds more than the old and the new model.
    """
    model = _models.get(run.pk)
    if model is not None:
        return model
    with _models_lock:
        model = _models.get(run.pk)
        if model is None:
            model = _run_model_load(run)
            if model is None:
                return None
            _models[run.pk] = model
            for old in sorted(_models)[:-2]:
                del _models[old]
    return model


def run_model_forget(*, run_id: int | None = None) -> None:
    """Drop cached models (all, or one run's): tests and a run whose rows were replaced."""
    with _models_lock:
        if run_id is None:
            _models.clear()
        else:
            _models.pop(run_id, None)
    _active_cache["at"] = 0.0


def _parse_float_arrays(texts: list[str | None], width: int) -> np.ndarray:
    """Postgres ``float8[]`` text (``{0.1,0.2}``) to an (n, width) array in one numpy parse."""
    joined = ",".join(text[1:-1] if text else ",".join(["nan"] * width) for text in texts)
    return np.array(joined.split(","), dtype=np.float64).reshape(len(texts), width) if texts else np.zeros((0, width))


def _run_model_load(run: ModelRun) -> RunModel | None:
    started = time.perf_counter()
    params = model_params(run)
    with connection.cursor() as cursor:
        # Arrays as text and one numpy parse: ten times faster than building Python lists per row.
        cursor.execute(
            """
            SELECT f.title_id, f.factors::text, f.rating_factors::text, f.bias, f.support,
                   t.removed_at IS NOT NULL OR t.tconst IS NULL, coalesce(t.title_type, ''), t.start_year,
                   coalesce(t.genres, '{}')
            FROM recommender_titlefactor f LEFT JOIN catalog_title t ON t.tconst = f.title_id
            WHERE f.run_id = %s ORDER BY f.title_id
            """,
            [run.pk],
        )
        rows = cursor.fetchall()
    if not rows:
        return None
    tconsts = np.array([row[0] for row in rows], dtype=object)
    rank = rows[0][1].count(",") + 1
    factors = _parse_float_arrays([row[1] for row in rows], rank)
    rating_factors = None
    if rows[0][2]:
        rating_rank = rows[0][2].count(",") + 1
        rating_factors = _parse_float_arrays([row[2] for row in rows], rating_rank)
        rating_factors = np.nan_to_num(rating_factors)
    title_bias = np.array([row[3] or 0.0 for row in rows], dtype=np.float64)
    support = np.array([row[4] or 0 for row in rows], dtype=np.float64)
    max_support = float(params.get("max_support") or support.max() or 1.0)
    popularity = float(params["popularity_weight"]) * np.log1p(support) / np.log1p(max(max_support, 1.0))
    title_evidence = support / (support + float(params["confidence_title_prior"]))
    genre_masks: dict[str, np.ndarray] = {}
    for position, row in enumerate(rows):
        for genre in row[8]:
            mask = genre_masks.get(genre)
            if mask is None:
                mask = genre_masks[genre] = np.zeros(len(rows), dtype=bool)
            mask[position] = True
    model = RunModel(
        run_id=run.pk,
        params=params,
        tconsts=tconsts,
        index={tconst: position for position, tconst in enumerate(tconsts)},
        factors=factors,
        gram=factors.T @ factors,
        rating_factors=rating_factors,
        title_bias=title_bias,
        support=support,
        popularity=popularity,
        title_evidence=title_evidence,
        removed=np.array([row[5] for row in rows], dtype=bool),
        title_type=np.array([row[6] for row in rows], dtype=object),
        year=np.array([row[7] if row[7] is not None else np.nan for row in rows], dtype=np.float64),
        genre_masks=genre_masks,
    )
    model.loaded_seconds = time.perf_counter() - started
    logger.info("Loaded run %s: %d titles, rank %d, in %.2f s", run.pk, model.size, model.rank, model.loaded_seconds)
    return model


# --- the fold-in -------------------------------------------------------------------------------


def rating_strength(model: RunModel, scores: np.ndarray) -> np.ndarray:
    """``w = 1 + star_weight * (r - min) / (max - min)``: five stars count more than one."""
    params = model.params
    span = float(params["scale_max"]) - float(params["scale_min"]) or 1.0
    return 1.0 + float(params["ranking_star_weight"]) * (scores - float(params["scale_min"])) / span


def ranking_system(model: RunModel, positions: np.ndarray, scores: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The normal equations of the implicit model for one user: ``(A, b, c)`` with ``A x = b``.

    ``A = YᵀY + Σ alpha·w_i y_i y_iᵀ + reg·n_u·I``, ``b = Σ c_i y_i``, ``c_i = 1 + alpha·w_i``.
    """
    params = model.params
    alpha = float(params["ranking_alpha"])
    rated = model.factors[positions]
    weights = alpha * rating_strength(model, scores)
    system = model.gram + (rated.T * weights) @ rated
    system[np.diag_indices_from(system)] += float(params["ranking_reg"]) * len(positions)
    confidence = 1.0 + weights
    return system, rated.T @ confidence, confidence


def user_vectors_solve(*, model: RunModel, ratings: dict[str, int]) -> UserVectors | None:
    """Fold a user with ``ratings`` ({tconst: stars}) into ``model``; ``None`` when the model knows
    none of the rated titles (nothing to learn from)."""
    known = [(model.index[tconst], score) for tconst, score in ratings.items() if tconst in model.index]
    if not known:
        return None
    positions = np.fromiter((position for position, _ in known), dtype=np.int64, count=len(known))
    scores = np.fromiter((score for _, score in known), dtype=np.float64, count=len(known))
    system, target, _ = ranking_system(model, positions, scores)
    factors = np.linalg.solve(system, target)

    params = model.params
    n_u = len(positions)
    mean = float(params.get("global_mean") or scores.mean())
    residual = scores - mean - model.title_bias[positions]
    bias = float(residual.sum() / (float(params["bias_reg_user"]) + n_u))
    rating_factors = None
    if model.rating_factors is not None:
        rated = model.rating_factors[positions]
        system = rated.T @ rated
        system[np.diag_indices_from(system)] += float(params["rating_reg"]) * n_u
        rating_factors = np.linalg.solve(system, rated.T @ (residual - bias))
    return UserVectors(factors=factors, rating_factors=rating_factors, bias=bias, known_ratings=n_u, source="fold-in")


def user_ratings(*, user: User) -> dict[str, int]:
    return dict(Rating.objects.filter(user=user).values_list("title_id", "score"))


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
    version: str = ""  # changes whenever the vectors may change (cache keys)


def user_state_get(*, user: User, run: ModelRun, model: RunModel, force: bool = False) -> UserState:
    """The user's current vectors in ``run``: saved fold-in, the run's own, or a fold-in now.

    The run's ``UserFactor`` is used only when the user changed nothing since the run exported its
    ratings (no stale mark newer than the run's start): it is then the same solve. Otherwise, or
    when ``force`` (the "refresh" button), the user is folded in now and the result saved.
    """
    fold_in = UserFoldIn.objects.filter(user=user).first()
    ratings = user_ratings(user=user)
    known = sum(1 for tconst in ratings if tconst in model.index)
    if not force and fold_in is not None and fold_in.run_id == run.pk and not fold_in.stale and fold_in.factors:
        vectors = _vectors_from_arrays(fold_in.factors, fold_in.rating_factors, fold_in.bias, known, "fold-in (saved)")
        return UserState(vectors=vectors, ratings=ratings, folded=False, version=f"f{fold_in.updated_at.timestamp()}")
    changed_since_run = fold_in is not None and (
        fold_in.stale and (run.started_at is None or fold_in.updated_at >= run.started_at)
    )
    if not force and not changed_since_run:
        row = UserFactor.objects.filter(run=run, user=user).values_list("factors", "rating_factors", "bias").first()
        if row is not None:
            vectors = _vectors_from_arrays(row[0], row[1], row[2], known, "run")
            return UserState(vectors=vectors, ratings=ratings, folded=False, version=f"r{run.pk}")
    started = time.perf_counter()
    vectors = user_vectors_solve(model=model, ratings=ratings)
    elapsed = (time.perf_counter() - started) * 1000
    saved = user_fold_in_save(
        user=user, run=run, vectors=vectors, seen_updated_at=fold_in.updated_at if fold_in else None
    )
    return UserState(
        vectors=vectors, ratings=ratings, folded=True, fold_in_ms=elapsed, version=f"f{saved.updated_at.timestamp()}"
    )


@transaction.atomic
def user_fold_in_save(
    *, user: User, run: ModelRun, vectors: UserVectors | None, seen_updated_at=None
) -> UserFoldIn:
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


@transaction.atomic
def user_fold_in_mark_stale(*, user: User) -> None:
    """The user's ratings or lists changed: fold them in again on their next page view."""
    UserFoldIn.objects.update_or_create(user=user, defaults={"stale": True})


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
    preference = np.clip(model.factors[positions] @ vectors.factors, 0.0, 1.0)
    user_evidence = vectors.known_ratings / (vectors.known_ratings + float(params["confidence_user_prior"]))
    confidence = np.cbrt(preference * user_evidence * model.title_evidence[positions])
    return predicted, np.clip(confidence, 0.0, 1.0)


def ranked_titles(
    *,
    model: RunModel,
    vectors: UserVectors,
    excluded: set[str],
    filters: LiveFilters | None = None,
    limit: int = LIVE_LIST_LIMIT,
) -> list[ScoredTitle]:
    """The user's best ``limit`` titles, excluding ``excluded`` and titles gone from the catalog."""
    scores = scores_all(model=model, vectors=vectors)
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
    if candidates.size > limit:
        top = np.argpartition(-candidate_scores, limit - 1)[:limit]
    else:
        top = np.arange(candidates.size)
    # Ties broken by tconst, so the order is stable between requests and equal to the run's.
    order = np.lexsort((model.tconsts[candidates[top]], -candidate_scores[top]))
    positions = candidates[top][order]
    predicted, confidence = predictions_for(model=model, vectors=vectors, positions=positions)
    return [
        ScoredTitle(
            tconst=model.tconsts[position],
            position=int(position),
            score=float(scores[position]),
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


def recommendation_list_live(
    *, user: User, filters: LiveFilters | None = None, force: bool = False, limit: int = LIVE_LIST_LIMIT
) -> LiveList:
    """The user's ranked titles in the active run, folding them in first when their ratings changed.

    Without an active run (or a run without title factors) the list is empty and not personal;
    the page then shows the cold-start fallback.
    """
    run = active_run()
    if run is None:
        return LiveList(run=None, model=None, state=None, items=[], excluded=set())
    model = run_model_get(run=run)
    if model is None:
        return LiveList(run=run, model=None, state=None, items=[], excluded=set())
    state = user_state_get(user=user, run=run, model=model, force=force)
    excluded = user_excluded_tconsts(user=user)
    if state.vectors is None:
        return LiveList(run=run, model=model, state=state, items=[], excluded=excluded)
    items = ranked_titles(model=model, vectors=state.vectors, excluded=excluded, filters=filters, limit=limit)
    return LiveList(run=run, model=model, state=state, items=items, excluded=excluded)

