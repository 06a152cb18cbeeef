"""The live list: every title of the active run scored for one user, best first.

``recommendation_list_live`` (or ``live_state_get`` then ``live_list_rank``) takes the user's
current vectors from ``recommender.serving.foldin`` (folding them in first when their ratings
changed) and ranks the run's titles: scoring, exclusions (rated, watchlist, not interested),
filters, and the star prediction and confidence of each title, as the run computes them.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from recommender.models import ModelRun
from recommender.serving.foldin import UserState, UserVectors, user_state_get
from recommender.serving.ranking_controls import (
    VARIETY_WINDOW,
    RankingControls,
    discovery_adjust,
    variety_order,
    year_genre_mask,
)
from recommender.serving.run_model import RunModel, active_run, run_model_get
from recommender.spark import scoring

if TYPE_CHECKING:
    from accounts.models import User

# How many titles a user can page through; beyond that, a list is noise.
LIVE_LIST_LIMIT = 200


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
    """``score_ui = x_u·y_i + popularity_weight·pop_i`` (+ the content term, DESIGN.md §11) for
    every title of the run."""
    scores = model.factors @ vectors.factors + model.popularity
    return scores + vectors.content if vectors.content is not None else scores


def stars_for(*, model: RunModel, vectors: UserVectors, positions: np.ndarray) -> np.ndarray:
    """Predicted stars (star model, clipped) for the titles at ``positions``, in one product: the
    live list's cards and every catalog card (``recommender.serving.predictions``) use this."""
    params = model.params
    mean = float(params.get("global_mean") or 3.5)
    predicted = mean + vectors.bias + model.title_bias[positions]
    if model.rating_factors is not None and vectors.rating_factors is not None:
        predicted = predicted + model.rating_factors[positions] @ vectors.rating_factors
    if vectors.rated_positions is not None and vectors.rated_residuals is not None:
        positions = np.asarray(positions, dtype=np.int64)
        predicted = predicted + scoring.neighbour_stars(
            np.zeros(positions.size, dtype=np.int64),
            positions.ravel(),
            np.zeros(len(vectors.rated_positions), dtype=np.int64),
            vectors.rated_positions,
            vectors.rated_residuals,
            1,
            offsets=model.star_neighbours.offsets,
            neighbour_rows=model.star_neighbours.rows,
            neighbour_scores=model.star_neighbours.scores,
            titles=model.size,
            model=params,
        ).reshape(positions.shape)
    return np.clip(predicted, float(params["scale_min"]), float(params["scale_max"]))


def predictions_for(*, model: RunModel, vectors: UserVectors, positions: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Predicted stars (star model, clipped) and confidence in [0, 1] for titles at ``positions``."""
    params = model.params
    predicted = stars_for(model=model, vectors=vectors, positions=positions)
    preference = model.factors[positions] @ vectors.factors
    return predicted, scoring.confidence(preference, vectors.known_ratings, model.support[positions], params)


def ranked_titles(
    *,
    model: RunModel,
    vectors: UserVectors,
    excluded: set[str],
    filters: LiveFilters | None = None,
    limit: int = LIVE_LIST_LIMIT,
    controls: RankingControls | None = None,
) -> list[ScoredTitle]:
    """The user's best ``limit`` titles, excluding ``excluded`` and titles gone from the catalog,
    under the member's ``controls`` (discovery step, variety, hidden years and genre).

    Every title is scored in float32; the best ``limit`` plus a margin are scored again in float64
    and sorted by that exact score (ties by tconst), so the order equals the run's. With "more
    variety" that order is then re-ranked by maximal marginal relevance (``ranking_controls``).
    """
    controls = controls or RankingControls()
    scores = model.factors32 @ vectors.factors.astype(np.float32) + model.popularity32
    if vectors.content is not None:
        scores += vectors.content.astype(np.float32)
    scores = discovery_adjust(scores, model.popularity_unit32, controls.discovery)
    allowed = ~model.removed
    for mask in (
        filters.mask(model) if filters else None,
        year_genre_mask(controls, year=model.year, genre_masks=model.genre_masks, support=model.support),
    ):
        if mask is not None:
            allowed &= mask
    excluded_positions = [model.index[tconst] for tconst in excluded if tconst in model.index]
    if excluded_positions:
        allowed[excluded_positions] = False
    candidates = np.flatnonzero(allowed)
    if candidates.size == 0:
        return []
    candidate_scores = scores[candidates]
    shortlist = limit + 64 + (VARIETY_WINDOW if controls.variety else 0)
    if candidates.size > shortlist:
        top = candidates[np.argpartition(-candidate_scores, shortlist - 1)[:shortlist]]
    else:
        top = candidates
    exact_scores = model.factors[top] @ vectors.factors + model.popularity[top]
    if vectors.content is not None:
        exact_scores = exact_scores + vectors.content[top]
    exact = discovery_adjust(exact_scores, model.popularity_unit[top], controls.discovery)
    # Ties broken by tconst, so the order is stable between requests and equal to the run's.
    order = np.lexsort((model.tconsts[top], -exact))
    if controls.variety:
        order = order[variety_order(exact[order], model.factors[top[order]], limit, user_vector=vectors.factors)]
    order = order[:limit]
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


def live_list_rank(
    live: LiveList,
    *,
    filters: LiveFilters | None = None,
    limit: int = LIVE_LIST_LIMIT,
    controls: RankingControls | None = None,
) -> LiveList:
    """Fill ``live.items`` with the user's ranked titles (no-op when the user has no vectors)."""
    if live.model is not None and live.state is not None and live.state.vectors is not None:
        live.items = ranked_titles(
            model=live.model,
            vectors=live.state.vectors,
            excluded=live.excluded,
            filters=filters,
            limit=limit,
            controls=controls,
        )
    return live


def recommendation_list_live(
    *,
    user: User,
    filters: LiveFilters | None = None,
    force: bool = False,
    limit: int = LIVE_LIST_LIMIT,
    controls: RankingControls | None = None,
) -> LiveList:
    """The user's ranked titles in the active run, folding them in first when their ratings changed.

    Without an active run (or a run without title factors) the list is empty and not personal;
    the page then shows the cold-start fallback.
    """
    return live_list_rank(live_state_get(user=user, force=force), filters=filters, limit=limit, controls=controls)
