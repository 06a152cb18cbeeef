"""How a title's facts read on every page: its years and its runtime.

One function per fact, used both by the templates (``catalog_extras``'s filters, the title meta
line in ``templates/includes/_title_meta.html``) and by markup built in Python for speed (the
recommendation cards, ``recommender.serving.cards``), so a title reads the same everywhere.
"""

from __future__ import annotations


def title_years(title) -> str:
    """ "1942", "1951–1957" for a series that ended, "1951–" for one still running, "" if unknown."""
    start, end = getattr(title, "start_year", None), getattr(title, "end_year", None)
    if not start:
        return ""
    if title.title_type in ("tvSeries", "tvMiniSeries"):
        return f"{start}–{end}" if end and end != start else (f"{start}–" if not end else str(start))
    return str(start)


def runtime_display(minutes) -> str:
    """ "45 min", "2 h 05 min"; "" when unknown."""
    if not minutes:
        return ""
    hours, rest = divmod(int(minutes), 60)
    return f"{hours} h {rest:02d} min" if hours else f"{rest} min"
