"""Real-time fold-in: a user's vectors in the active run, solved in milliseconds when they rate.

Solving one user's vectors against the run's title vectors is exactly one half-step of the
training's alternating least squares, with the same regularisation, alpha and star weighting read
from ``run.params["model"]``. So when a user rates, their list reflects it on the next page view,
without waiting for a training.

What this module owns:

* ``user_vectors_solve`` — the fold-in of both models (ranking: implicit ALS; stars: biased ALS);
* ``user_state_get(user=..., run=..., model=...)`` — which vectors serve a user: their fold-in when
  fresh, the run's own ``UserFactor`` when nothing changed since the run's export, else a fold-in
  now, saved in ``UserFoldIn`` (``user_fold_in_save``, the one write);
* the user's ratings and exclusions (rated, watchlist, not interested) the fold-in and the live list
  read.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np
from django.db import connection, transaction

from ratings.models import NotInterested, Rating, WatchlistItem
from recommender.models import ModelRun, UserFactor, UserFoldIn
from recommender.serving.run_model import RunModel
from recommender.spark import scoring

if TYPE_CHECKING:
    from accounts.models import User


@dataclass
class UserVectors:
    """A user's vectors in one run, from the run itself (``source="run"``) or a fold-in."""

    factors: np.ndarray
    rating_factors: np.ndarray | None
    bias: float
    known_ratings: int  # n_u: the user's ratings of titles the run knows
    source: str  # "run", "fold-in" or "fold-in (saved)"
    # The content term (DESIGN.md §11) plus the item-item term (§1) of every title of the run, from
    # the user's ratings; None when the run has neither.
    content: np.ndarray | None = None
    # The user's rated titles the run knows (positions) and what the star model misses of each
    # rating (``scoring.rating_residuals``): the star neighbourhood term reads them (DESIGN.md §2).
    # None when the run has no star neighbours.
    rated_positions: np.ndarray | None = None
    rated_residuals: np.ndarray | None = None


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


def rated_known(model: RunModel, ratings: dict[str, int]) -> tuple[np.ndarray, np.ndarray]:
    """(positions, stars) of the user's ratings of titles the run knows, in the ratings' order."""
    known = [(model.index[tconst], score) for tconst, score in ratings.items() if tconst in model.index]
    positions = np.fromiter((position for position, _ in known), dtype=np.int64, count=len(known))
    scores = np.fromiter((score for _, score in known), dtype=np.float64, count=len(known))
    return positions, scores


def fitted_known(model: RunModel, positions: np.ndarray) -> np.ndarray:
    """Which of ``positions`` the collaborative fit knows: a title no one had rated at training
    has a zero vector, and the training's fold-in leaves it out (recommender/spark/passes.py)."""
    return model.support[positions] > 0


def content_term(
    *, model: RunModel, ratings: dict[str, int], rated: tuple[np.ndarray, np.ndarray] | None = None
) -> np.ndarray | None:
    """The content term of DESIGN.md §11 plus the item-item term of §1 for every title of ``model``,
    from ``ratings``: the training's own ``scoring.neighbour_terms``; None when the run has neither.
    ``rated``: ``rated_known(model, ratings)``, when the caller has it already."""
    positions, scores = rated if rated is not None else rated_known(model, ratings)
    if not len(positions):
        return None
    terms = scoring.neighbour_terms(
        np.zeros(len(positions), dtype=np.int64),
        positions,
        scores,
        1,
        content=model.content_neighbours,
        items=model.item_neighbours,
        titles=model.size,
        model=model.params,
        support=model.support,
    )
    return None if terms is None else terms[0]


def ratings_attach(
    *,
    model: RunModel,
    vectors: UserVectors,
    ratings: dict[str, int],
    rated: tuple[np.ndarray, np.ndarray] | None = None,
) -> UserVectors:
    """``vectors`` with what the user's ``ratings`` add beside them: the content term (DESIGN.md
    §11) and the star model's residuals of each rating (§2), the training's own equations.
    ``rated``: ``rated_known(model, ratings)``, when the caller has it already."""
    rated = rated if rated is not None else rated_known(model, ratings)
    vectors.content = content_term(model=model, ratings=ratings, rated=rated)
    return star_residuals_attach(model=model, vectors=vectors, ratings=ratings, rated=rated)


def star_residuals_attach(
    *,
    model: RunModel,
    vectors: UserVectors,
    ratings: dict[str, int],
    rated: tuple[np.ndarray, np.ndarray] | None = None,
) -> UserVectors:
    """``vectors`` with the star model's residual of each of the user's ``ratings`` (DESIGN.md §2:
    the neighbourhood term of predicted stars reads them); unchanged when the run has no star
    neighbours."""
    positions, scores = rated if rated is not None else rated_known(model, ratings)
    if len(positions) and scoring.star_neighbours_used(model.star_neighbours.rows, model.params):
        vectors.rated_positions = positions
        vectors.rated_residuals = scoring.rating_residuals(
            np.zeros(len(positions), dtype=np.int64),
            positions,
            scores,
            None if vectors.rating_factors is None else vectors.rating_factors[None, :],
            np.array([vectors.bias]),
            title_bias=model.title_bias,
            rating_factors=model.rating_factors,
            model=_fold_in_model(model, scores),
        )
    return vectors


def user_vectors_solve(*, model: RunModel, ratings: dict[str, int]) -> UserVectors | None:
    """Fold a user with ``ratings`` ({tconst: stars}) into ``model`` with the training's own
    equations (``scoring.fold_in``; the collaborative part over the titles the fit knows, the
    content term over every rated title of the run); ``None`` when the model knows none of them."""
    rated = rated_known(model, ratings)  # the content term reads it too
    known_positions, known_scores = rated
    if not len(known_positions):
        return None
    fitted = fitted_known(model, known_positions)
    positions, scores = known_positions[fitted], known_scores[fitted]
    folded = scoring.fold_in(
        np.zeros(len(positions), dtype=np.int64),
        positions,
        scores,
        1,
        factors=model.factors,
        gram=model.gram,
        rating_factors=model.rating_factors,
        title_bias=model.title_bias,
        model=_fold_in_model(model, scores if len(scores) else np.array([3.0])),
    )
    vectors = UserVectors(
        factors=folded.factors[0],
        rating_factors=folded.rating_factors[0] if folded.rating_factors is not None else None,
        bias=float(folded.bias[0]),
        known_ratings=len(known_positions),
        source="fold-in",
    )
    return ratings_attach(model=model, vectors=vectors, ratings=ratings, rated=rated)


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
        vectors = ratings_attach(model=model, vectors=vectors, ratings=ratings)
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
            vectors = ratings_attach(model=model, vectors=vectors, ratings=ratings)
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
