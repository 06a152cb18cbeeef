"""Template helpers for cards: look up the member's score per title.

Cards get ``scores`` from ``ratings.selectors.rating_scores_for_user`` (one query per page) and
pick each title's score with ``{{ scores|score_for:title.tconst }}``.
"""

from django import template

register = template.Library()


@register.filter
def score_for(scores, tconst):
    """``{tconst: score}`` lookup that is ``None`` for unrated titles (and for a missing dict)."""
    if not scores:
        return None
    return scores.get(tconst)
