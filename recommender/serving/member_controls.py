"""The member's saved controls over their recommendations: read them, save them (the one write).

The controls themselves (what the discovery step, variety and the hidden years and genre do to the
ranking) are ``recommender.serving.ranking_controls``; this module keeps them per member in
``RecommendationControls`` and turns the page's parameters into them. ``recommendation_items_sort``
applies the list's sort (``?sort=``, in the URL only: an order of the shown titles, not a setting).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
from django.db import transaction

from catalog.models import Title
from recommender.models import RecommendationControls
from recommender.serving.ranking_controls import SORT_DEFAULT, RankingControls, list_order

if TYPE_CHECKING:
    from accounts.models import User

CONTROL_PARAMETERS = ("discovery", "variety", "hide_before", "hide_genre")


def controls_for_user(*, user: User) -> RankingControls:
    """The member's saved controls, or the defaults (one query; none for anonymous visitors)."""
    if not getattr(user, "is_authenticated", False):
        return RankingControls()
    row = RecommendationControls.objects.filter(user=user).first()
    if row is None:
        return RankingControls()
    return RankingControls(
        discovery=row.discovery, variety=row.variety, hide_before=row.hide_before, hide_genre=row.hide_genre
    )


@transaction.atomic
def controls_save(*, user: User, controls: RankingControls) -> RecommendationControls:
    """Keep ``controls`` as the member's own; a bad value raises ``ValidationError`` and saves nothing."""
    row = RecommendationControls(
        user=user,
        discovery=controls.discovery,
        variety=controls.variety,
        hide_before=controls.hide_before,
        hide_genre=controls.hide_genre,
    )
    row.full_clean(exclude=["user"], validate_unique=False)
    row, _ = RecommendationControls.objects.update_or_create(
        user=user,
        defaults={
            "discovery": row.discovery,
            "variety": row.variety,
            "hide_before": row.hide_before,
            "hide_genre": row.hide_genre,
        },
    )
    return row


def controls_in_query(query) -> bool:
    """Does the request's query string set any control (then it overrides the saved ones)?"""
    return any(name in query for name in CONTROL_PARAMETERS)


def controls_summary(controls: RankingControls) -> str:
    """The controls in words: "Hidden gems, more variety, hiding titles before 1980 and Horror"."""
    parts = [controls.discovery_label]
    if controls.variety:
        parts.append("more variety")
    if controls.hide_before is not None:
        parts.append(f"hiding titles before {controls.hide_before}")
    if controls.hide_genre:
        parts.append(f"hiding {controls.hide_genre}")
    return ", ".join(parts)


def recommendation_items_sort(items: list, *, sort: str, model) -> list:
    """The live list's items (best match first, ``ScoredTitle``) in the order of ``sort`` (a
    validated ``LIST_SORTS`` key). Predicted stars and years come from the run; IMDb's rating and
    votes from the catalog, in one query for the whole list."""
    if sort == SORT_DEFAULT or len(items) < 2:
        return items
    count = len(items)
    imdb_rating = np.full(count, np.nan)
    votes = np.full(count, np.nan)
    if sort in ("imdb", "popularity"):
        facts = {
            tconst: (rating, number)
            for tconst, rating, number in Title.objects.filter(tconst__in=[item.tconst for item in items]).values_list(
                "tconst", "average_rating", "num_votes"
            )
        }
        for n, item in enumerate(items):
            rating, number = facts.get(item.tconst, (None, None))
            imdb_rating[n] = np.nan if rating is None else float(rating)
            votes[n] = np.nan if number is None else float(number)
    order = list_order(
        sort,
        predicted=np.array([item.predicted_rating for item in items], dtype=np.float64),
        imdb_rating=imdb_rating,
        year=np.asarray(model.year, dtype=np.float64)[[item.position for item in items]],
        votes=votes,
    )
    return [items[n] for n in order]
