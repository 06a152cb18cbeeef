"""Small display helpers for catalog data: type labels, year spans, regions, professions."""

from django import template

from catalog.display import runtime_display, title_years
from catalog.models import title_type_label
from catalog.regions import region_name

register = template.Library()


register.filter("title_type_label", title_type_label)


register.filter("title_years", title_years)
register.filter("runtime", runtime_display)
register.filter("region_name", region_name)


@register.filter
def humanise(value: str) -> str:
    """IMDb's snake_case words for people ("archive_footage", "production_designer")."""
    return (value or "").replace("_", " ").capitalize()
