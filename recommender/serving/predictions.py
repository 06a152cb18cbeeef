"""Predicted stars on every title card and title page, for a member with a personal model.

A catalog page (home, browse, search, a person, a title, "More like this") asks for the stars of
the titles it shows. Per request the member's vectors are found once and kept on the request's user
object, so a page with several lists still folds in at most once:

* the saved fold-in when it is fresh (one query, the usual case);
* after a rating (the fold-in row is stale and newer than the run), the same query brings the
  member's ratings and they are folded in now, in memory (``user_vectors_solve``, about a
  millisecond) and not saved: saving cost the first page after a rating a locked read, an update
  and a commit (about 20 ms of the 23 ms measured at 50,000 titles); the recommendations page
  saves it as before;
* otherwise ``user_state_get`` as the list page does (the run's own vectors, or a fold-in now).

Each list's stars are then one numpy product over its titles (``ranking.stars_for``, the function
the live list's cards use).

"Personal" means what it means on /recommendations/: the member has vectors in the active run and
has rated at least the unlock threshold. Titles the run does not know get no prediction (the star
model would only say ``mu + b_u``, the same for all of them).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
from django.db import connection

from recommender.serving.foldin import UserVectors, star_residuals_attach, user_state_get, user_vectors_solve
from recommender.serving.onboarding import unlock_threshold
from recommender.serving.ranking import stars_for
from recommender.serving.run_model import RunModel, active_run, run_model_get
from recommender.spark import scoring

if TYPE_CHECKING:
    from accounts.models import User
    from recommender.models import ModelRun

# Where a request's state lives: on the request's own user object, gone with the request.
_STATE_ATTRIBUTE = "_recommender_prediction_state"


@dataclass
class PredictionState:
    model: RunModel | None
    vectors: UserVectors | None  # None: no personal model, no predictions

    @property
    def personal(self) -> bool:
        return self.model is not None and self.vectors is not None


def prediction_state_get(*, user: User | None) -> PredictionState:
    """The member's model state for this request (computed once per user object)."""
    if user is None:
        return PredictionState(model=None, vectors=None)
    state = getattr(user, _STATE_ATTRIBUTE, None)
    if state is not None:
        return state
    state = PredictionState(model=None, vectors=None)
    if getattr(user, "is_authenticated", False):
        run = active_run()
        model = run_model_get(run=run) if run is not None else None
        if run is not None and model is not None:
            vectors = _saved_vectors(user=user, run=run, model=model)
            if vectors is None:  # stale, another run, or never folded in: as the list page does
                user_state = user_state_get(user=user, run=run, model=model)
                if user_state.vectors is not None and len(user_state.ratings) >= unlock_threshold():
                    vectors = user_state.vectors
            if vectors is not None:
                state = PredictionState(model=model, vectors=vectors)
    setattr(user, _STATE_ATTRIBUTE, state)
    return state


def _saved_vectors(*, user: User, run: ModelRun, model: RunModel | None = None) -> UserVectors | None:
    """The member's vectors in ``run`` from one query, when they have unlocked their
    recommendations: the saved fold-in when it is fresh; with ``model``, a fold-in now from the
    ratings the same query read when the member rated since both the fold-in and the run (not
    saved). None otherwise (no row, or a run switch: ``user_state_get`` decides)."""
    with connection.cursor() as cursor:
        cursor.execute(
            """
            SELECT f.factors::text, f.rating_factors::text, f.bias,
                   (SELECT count(*) FROM ratings_rating WHERE user_id = %(user)s),
                   f.run_id = %(run)s AND NOT f.stale AND f.factors IS NOT NULL,
                   f.stale AND (%(started)s::timestamptz IS NULL OR f.updated_at >= %(started)s::timestamptz),
                   CASE WHEN f.stale OR %(ratings)s THEN
                       (SELECT array_agg(title_id ORDER BY title_id) FROM ratings_rating WHERE user_id = %(user)s)
                   END,
                   CASE WHEN f.stale OR %(ratings)s THEN
                       (SELECT array_agg(score ORDER BY title_id) FROM ratings_rating WHERE user_id = %(user)s)
                   END
            FROM recommender_userfoldin f
            WHERE f.user_id = %(user)s
            """,
            {
                "user": user.pk,
                "run": run.pk,
                "started": run.started_at,
                # the star neighbourhood term reads the member's ratings even with a fresh fold-in
                "ratings": model is not None and scoring.star_neighbours_used(model.star_neighbours.rows, model.params),
            },
        )
        row = cursor.fetchone()
    if row is None or row[3] < unlock_threshold():
        return None
    factors, rating_factors, bias, count, fresh, rated_since, tconsts, scores = row
    if not fresh:
        if not rated_since or model is None or not tconsts:
            return None
        return user_vectors_solve(model=model, ratings=dict(zip(tconsts, scores, strict=True)))
    vectors = UserVectors(
        factors=np.fromstring(factors[1:-1], sep=","),
        rating_factors=np.fromstring(rating_factors[1:-1], sep=",") if rating_factors else None,
        bias=float(bias or 0.0),
        known_ratings=int(count),
        source="fold-in (saved)",
    )
    if model is not None and tconsts:
        vectors = star_residuals_attach(model=model, vectors=vectors, ratings=dict(zip(tconsts, scores, strict=True)))
    return vectors


def predicted_stars(*, user: User | None, tconsts: Iterable[str]) -> dict[str, float]:
    """{tconst: predicted stars} for the titles the active run knows; empty without a personal model."""
    state = prediction_state_get(user=user)
    if not state.personal:
        return {}
    assert state.model is not None and state.vectors is not None
    # Titles the star model learned from (a title no one had rated joins the run through its
    # content only: its stars would be the member's own mean, so it shows none).
    known = [
        tconst
        for tconst in dict.fromkeys(tconsts)
        if tconst in state.model.index and state.model.support[state.model.index[tconst]] > 0
    ]
    if not known:
        return {}
    positions = np.fromiter((state.model.index[tconst] for tconst in known), dtype=np.int64, count=len(known))
    stars = stars_for(model=state.model, vectors=state.vectors, positions=positions)
    return dict(zip(known, stars.tolist(), strict=True))


def titles_predict(*, user: User | None, titles: list) -> None:
    """Set ``predicted_rating`` (stars, or None) on each title: one product for the whole list."""
    stars = predicted_stars(user=user, tconsts=[title.tconst for title in titles])
    for title in titles:
        title.predicted_rating = stars.get(title.tconst)
