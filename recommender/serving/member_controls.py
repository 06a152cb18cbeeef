"""The member's saved controls over their recommendations: read them, save them (the one write).

The controls themselves (what the discovery step, variety and the hidden years and genre do to the
ranking) are ``recommender.serving.ranking_controls``; this module keeps them per member in
``RecommendationControls`` and turns the page's parameters into them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.db import transaction

from recommender.models import RecommendationControls
from recommender.serving.ranking_controls import RankingControls

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
