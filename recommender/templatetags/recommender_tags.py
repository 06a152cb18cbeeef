"""Display filters for the recommender's templates. They run no queries: views (and the
recommender's providers, ``recommender/providers.py``) pass what the templates show."""

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


@register.filter
def share_percent(value) -> str:
    """A share that is never shown as "0%" when it is not zero: 0.4% keeps a decimal."""
    if value is None:
        return "–"
    percent_value = float(value) * 100
    if 0 < percent_value < 1:
        return f"{percent_value:.1f}%"
    return f"{percent_value:.0f}%"


@register.filter
def community_class(number) -> str:
    """``community-K``: the CSS class that sets ``--community`` to the community's palette colour
    (recommender.css), so pages need no inline style under the Content-Security-Policy."""
    from recommender.communities.map import PALETTE

    try:
        return f"community-{(int(number) - 1) % len(PALETTE) + 1}"
    except (TypeError, ValueError):
        return "community-none"


@register.filter
def community_colour(number) -> str:
    from recommender.communities.map import community_colour as colour

    try:
        return colour(int(number))
    except (TypeError, ValueError):
        return "#f5b301"
