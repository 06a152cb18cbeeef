"""Small display helpers for catalog data: type labels, year spans, regions, professions."""

from django import template

from catalog.models import title_type_label
from catalog.regions import region_name

register = template.Library()


register.filter("title_type_label", title_type_label)


@register.filter
def title_years(title) -> str:
    """ "1942", "1951–1957" for a series that ended, "1951–" for one still running, "" if unknown."""
    start, end = getattr(title, "start_year", None), getattr(title, "end_year", None)
    if not start:
        return ""
    if title.title_type in ("tvSeries", "tvMiniSeries"):
        return f"{start}–{end}" if end and end != start else (f"{start}–" if not end else str(start))
    return str(start)


@register.filter
def runtime(minutes) -> str:
    if not minutes:
        return ""
    hours, rest = divmod(int(minutes), 60)
    return f"{hours} h {rest:02d} min" if hours else f"{rest} min"


register.filter("region_name", region_name)


@register.filter
def humanise(value: str) -> str:
    """IMDb's snake_case words for people ("archive_footage", "production_designer")."""
    return (value or "").replace("_", " ").capitalize()
