"""Template helpers so the recommender's partials load their own data wherever they are included
(title page, profile, system page) without the including view knowing about the recommender."""

from django import template

register = template.Library()


@register.filter
def star_string(count) -> str:
    """3 -> "★★★"."""
    try:
        return "★" * max(0, min(5, int(count)))
    except (TypeError, ValueError):
        return ""


@register.filter
def percent(value) -> str:
    return "–" if value is None else f"{float(value) * 100:.0f}%"


@register.simple_tag
def similar_titles_for(title, limit=12):
    """``SimilarItem``s for ``title``: the active run's nearest titles, or content-based ones."""
    from recommender.similar import similar_title_list

    return similar_title_list(title=title, limit=int(limit))


@register.simple_tag
def profile_quality_for(user, limit=8):
    """How the model's earlier predictions compared with the ratings ``user`` gave afterwards."""
    from recommender.quality import quality_for_user

    if not getattr(user, "is_authenticated", False):
        return None
    quality = quality_for_user(user=user, limit=int(limit))
    quality.recent = quality.matched[: int(limit)]
    return quality


@register.simple_tag
def profile_taste_for(user):
    """The user's taste community in the active run, its map position and the unlock progress."""
    from recommender.communities import community_titles, user_place
    from recommender.foldin import active_run
    from recommender.onboarding import onboarding_progress

    if not getattr(user, "is_authenticated", False):
        return None
    run = active_run()
    place = user_place(user=user, run=run)
    titles = community_titles(community=place.community, limit=4) if place and place.community else []
    return {"run": run, "place": place, "titles": titles, "progress": onboarding_progress(user=user)}


@register.simple_tag
def runs_chart_for(limit=60):
    """Charts of the last ``limit`` runs' metrics, oldest first (for the staff pages)."""
    from recommender.charts import runs_chart_context
    from recommender.models import ModelRun

    runs = list(ModelRun.objects.order_by("-created_at")[: int(limit)])
    return runs_chart_context(runs=list(reversed(runs)))


@register.filter
def type_label(value: str) -> str:
    from recommender.forms import TITLE_TYPE_LABELS

    return TITLE_TYPE_LABELS.get(value, value)


@register.filter
def community_colour(number) -> str:
    from recommender.charts import community_colour as colour

    try:
        return colour(int(number))
    except (TypeError, ValueError):
        return "#f5b301"
