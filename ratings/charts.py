"""Server-rendered SVG charts for the statistics page: no JavaScript, no library, no extra request.

Each function takes plain numbers from ``selectors.rating_statistics_for_user`` and returns safe SVG
markup with ``role="img"``, a ``<title>`` and a ``<desc>`` summarising the numbers; the page also
prints every number in a table, so nothing depends on seeing the picture.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe

ACCENT = "#f5b301"
ACCENT_DARK = "#8a5a00"
INK = "#1d1d1f"
MUTED = "#6b6b70"
GRID = "#e4e2dc"


@dataclass(frozen=True)
class Bar:
    label: str
    value: float
    text: str  # what is written on/next to the bar


# Charts are drawn without a browser to measure text: widths are estimated from the character count,
# generously (0.62 em a character is wider than system-ui's digits and lower-case letters), so a
# margin sized by this estimate holds the text it was sized for.
FONT_SIZE = 12
CHARACTER_WIDTH = 0.62 * FONT_SIZE


def text_width(text: str) -> float:
    """An upper estimate of ``text``'s width in the charts' 12 px font."""
    return len(text) * CHARACTER_WIDTH


def _fmt(value: float) -> str:
    return f"{value:.0f}" if float(value).is_integer() else f"{value:.1f}"


MONTHS_BEFORE_YEARLY = 48


def timeline_bars(by_month: list[tuple]) -> list[Bar]:
    """Counts on a continuous time axis: empty months (or years) become zero bars, not gaps.

    Up to four years are shown month by month; longer histories (IMDb imports) year by year.
    """
    if not by_month:
        return []
    counts = {month: count for month, count, _ in by_month}
    first, last = by_month[0][0], by_month[-1][0]
    span = (last.year - first.year) * 12 + last.month - first.month + 1
    if span > MONTHS_BEFORE_YEARLY:
        per_year: dict[int, int] = {}
        for month, count in counts.items():
            per_year[month.year] = per_year.get(month.year, 0) + count
        return [
            Bar(str(year), per_year.get(year, 0), str(per_year.get(year, 0)))
            for year in range(first.year, last.year + 1)
        ]
    bars = []
    year, month = first.year, first.month
    for _ in range(span):
        count = counts.get(dt.date(year, month, 1), 0)
        bars.append(Bar(dt.date(year, month, 1).strftime("%b %Y"), count, str(count)))
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    return bars


def _svg(width: int, height: int, chart_id: str, title: str, desc: str, body: list[str]) -> SafeString:
    # Every piece of text interpolated into the markup goes through escape() first.
    return mark_safe(  # noqa: S308
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" width="{width}" height="{height}" '
        f'role="img" aria-labelledby="{chart_id}-title {chart_id}-desc" class="chart-svg" id="{chart_id}" '
        f'font-family="system-ui, sans-serif" font-size="12">'
        f'<title id="{chart_id}-title">{escape(title)}</title><desc id="{chart_id}-desc">{escape(desc)}</desc>'
        + "".join(body)
        + "</svg>"
    )


def _label_position(centre: float, text_w: float, width: float) -> tuple[float, str]:
    """Where a label centred under a bar goes so it stays inside the picture: a label that would
    run off an edge ("Dec 2024" under the last bar) is aligned to that edge instead."""
    if centre + text_w / 2 > width - 2:
        return width - 2, "end"
    if centre - text_w / 2 < 2:
        return 2, "start"
    return centre, "middle"


def column_chart(
    bars: list[Bar],
    *,
    chart_id: str,
    title: str,
    max_value: float | None = None,
    width: int = 560,
    height: int = 240,
    label_every: int = 1,
    color: str = ACCENT,
) -> SafeString:
    """Vertical bars with their value on top and a label under each (every ``label_every``-th)."""
    left, right, top, bottom = 36, 8, 18, 40
    plot_w, plot_h = width - left - right, height - top - bottom
    top_value = max_value if max_value is not None else max([bar.value for bar in bars] + [1])
    top_value = top_value or 1
    body: list[str] = []
    for fraction in (0, 0.5, 1):
        y = top + plot_h - fraction * plot_h
        body.append(f'<line x1="{left}" x2="{width - right}" y1="{y:.1f}" y2="{y:.1f}" stroke="{GRID}"/>')
        body.append(
            f'<text x="{left - 6}" y="{y + 4:.1f}" text-anchor="end" fill="{MUTED}">{_fmt(top_value * fraction)}</text>'
        )
    slot = plot_w / max(len(bars), 1)
    bar_w = max(min(slot * 0.7, 60), 2)
    for i, bar in enumerate(bars):
        x = left + i * slot + (slot - bar_w) / 2
        bar_h = plot_h * (bar.value / top_value) if top_value else 0
        y = top + plot_h - bar_h
        body.append(
            f'<rect x="{x:.1f}" y="{y:.1f}" width="{bar_w:.1f}" height="{bar_h:.1f}" rx="2" fill="{color}">'
            f"<title>{escape(bar.label)}: {escape(bar.text)}</title></rect>"
        )
        # Many bars: leave zero ones unlabelled so the few real values stand out.
        if bar_w >= 14 and bar.text and (bar.value or len(bars) <= 12):
            body.append(
                f'<text x="{x + bar_w / 2:.1f}" y="{y - 4:.1f}" text-anchor="middle" fill="{INK}">{escape(bar.text)}</text>'
            )
        if i % label_every == 0:
            label_x, anchor = _label_position(x + bar_w / 2, text_width(bar.label), width)
            body.append(
                f'<text x="{label_x:.1f}" y="{top + plot_h + 16}" text-anchor="{anchor}" fill="{MUTED}">'
                f"{escape(bar.label)}</text>"
            )
    desc = "; ".join(f"{bar.label}: {bar.text}" for bar in bars) or "no data"
    return _svg(width, height, chart_id, title, desc, body)


def bar_chart(
    bars: list[Bar],
    *,
    chart_id: str,
    title: str,
    max_value: float | None = None,
    width: int = 560,
    color: str = ACCENT,
) -> SafeString:
    """Horizontal bars, one row per item, label on the left and value text on the right; the
    margins are as wide as the longest label and value text ("1,234 · avg 3.5") need."""
    row_h, top = 24, 6
    left = max(60, round(max([text_width(bar.label) for bar in bars] + [0]) + 14))
    right = max(40, round(max([text_width(bar.text) for bar in bars] + [0]) + 10))
    height = top * 2 + row_h * max(len(bars), 1)
    plot_w = width - left - right
    top_value = max_value if max_value is not None else max([bar.value for bar in bars] + [1])
    top_value = top_value or 1
    body: list[str] = []
    for i, bar in enumerate(bars):
        y = top + i * row_h
        bar_w = plot_w * (bar.value / top_value)
        body.append(
            f'<text x="{left - 8}" y="{y + row_h / 2 + 4:.1f}" text-anchor="end" fill="{INK}">{escape(bar.label)}</text>'
        )
        body.append(
            f'<rect x="{left}" y="{y + 4}" width="{plot_w}" height="{row_h - 8}" rx="3" fill="{GRID}" opacity=".5"/>'
        )
        body.append(
            f'<rect x="{left}" y="{y + 4}" width="{bar_w:.1f}" height="{row_h - 8}" rx="3" fill="{color}">'
            f"<title>{escape(bar.label)}: {escape(bar.text)}</title></rect>"
        )
        body.append(
            f'<text x="{left + plot_w + 6}" y="{y + row_h / 2 + 4:.1f}" fill="{MUTED}">{escape(bar.text)}</text>'
        )
    desc = "; ".join(f"{bar.label}: {bar.text}" for bar in bars) or "no data"
    return _svg(width, height, chart_id, title, desc, body)


def statistics_charts(stats: dict, *, genres_shown: int = 12) -> dict[str, SafeString]:
    """The four charts of the statistics page, keyed by name; empty dict when there are no ratings."""
    if not stats["count"]:
        return {}
    distribution = column_chart(
        [Bar(f"{score}★", count, str(count)) for score, count in stats["distribution"]],
        chart_id="chart-distribution",
        title="How many titles you gave each score",
    )
    top_genres = stats["by_genre"][:genres_shown]
    genre_count = bar_chart(
        [Bar(row["genre"], row["count"], f"{row['count']} · avg {row['average']:.1f}") for row in top_genres],
        chart_id="chart-genres",
        title="Ratings and average score by genre",
    )
    genre_average = bar_chart(
        [Bar(row["genre"], row["average"], f"{row['average']:.2f}★") for row in top_genres],
        chart_id="chart-genre-average",
        title="Average score by genre",
        max_value=5,
        color=ACCENT_DARK,
    )
    timeline = timeline_bars(stats["by_month"])
    yearly = bool(timeline) and len(timeline[0].label) == 4
    over_time = column_chart(
        timeline,
        chart_id="chart-over-time",
        title="Ratings per year" if yearly else "Ratings per month",
        label_every=max(1, (len(timeline) + 7) // 8),
    )
    decades = column_chart(
        [Bar(f"{row['decade']}s", row["average"], f"{row['average']:.1f}") for row in stats["by_decade"]],
        chart_id="chart-decades",
        title="Average score by decade of release",
        max_value=5,
        color=ACCENT_DARK,
    )
    return {
        "distribution": distribution,
        "genres": genre_count,
        "genre_average": genre_average,
        "over_time": over_time,
        "decades": decades,
    }
