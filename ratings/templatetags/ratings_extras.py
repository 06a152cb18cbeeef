"""Template helpers for cards and the profile: look up a user's score per title, profile summary.

Cards get ``scores`` from ``ratings.selectors.rating_scores_for_user`` (one query per page) and
pick each title's score with ``{{ scores|score_for:title.tconst }}``.
"""

from django import template

from ratings import selectors

register = template.Library()


@register.filter
def score_for(scores, tconst):
    """``{tconst: score}`` lookup that is ``None`` for unrated titles (and for a missing dict)."""
    if not scores:
        return None
    return scores.get(tconst)


@register.filter
def has_tconst(tconsts, tconst) -> bool:
    """Membership test for the sets returned by ``watchlist_tconsts_for_user`` and friends."""
    return bool(tconsts) and tconst in tconsts


@register.simple_tag
def rating_profile_summary(user) -> dict:
    """Counts and averages for ``templates/ratings/_profile_summary.html``."""
    return selectors.rating_profile_summary_for_user(user=user)


@register.simple_tag(takes_context=True)
def optional_include(context, template_name: str):
    """Render ``template_name`` with the current context, or nothing while it does not exist.

    The profile leaves a place for other apps to fill (``recommender/_profile_quality.html``:
    how well predictions matched the user's later ratings) without depending on them.
    """
    try:
        included = context.template.engine.get_template(template_name)
    except template.TemplateDoesNotExist:
        return ""
    with context.push():
        return included.render(context)
