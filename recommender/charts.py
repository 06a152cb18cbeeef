"""Server-rendered SVG pictures for the recommender's pages: no chart library, no extra requests.

* ``runs_chart_context`` — every run's holdout metrics over time (RMSE; precision@10 against the
  most-popular baseline; the communities' ARI), as line charts with the numbers also in a table.
* ``community_map_svg`` — the 2-D map of users (PCA of their taste vectors), coloured by community,
  with the viewer's own position marked.
"""

from __future__ import annotations

from typing import Any

from django.urls import reverse
from django.utils.html import format_html
from django.utils.safestring import SafeString, mark_safe

from recommender.models import ModelRun, TasteCommunity

PALETTE = [
    "#d97706",
    "#2563eb",
    "#16a34a",
    "#db2777",
    "#7c3aed",
    "#0891b2",
    "#dc2626",
    "#65a30d",
    "#9333ea",
    "#ea580c",
    "#0d9488",
    "#4f46e5",
]


def _f(value: float) -> str:
    """Coordinates to one decimal (format_html escapes its arguments to strings first)."""
    return f"{value:.1f}"


def community_colour(number: int) -> str:
    return PALETTE[(number - 1) % len(PALETTE)]


def _scale(values: list[float], low: float, high: float, pad: float = 0.06) -> tuple[float, float]:
    vmin, vmax = min(values), max(values)
    if vmax - vmin < 1e-9:
        vmin, vmax = vmin - 1, vmax + 1
    span = vmax - vmin
    return vmin - span * pad, vmax + span * pad


def line_chart_svg(
    *,
    series: list[dict],
    labels: list[str],
    title: str,
    value_format: str = "{:.3f}",
    width: int = 560,
    height: int = 220,
    floor: float | None = None,
    ceiling: float | None = None,
) -> SafeString:
    """A line chart: ``series`` = [{"name", "values" (None for gaps), "colour", "dash"}]."""
    left, right, top, bottom = 52, 16, 28, 34
    plot_w, plot_h = width - left - right, height - top - bottom
    present = [value for entry in series for value in entry["values"] if value is not None]
    parts = [
        format_html(
            '<svg viewBox="0 0 {} {}" role="img" aria-label="{}" xmlns="http://www.w3.org/2000/svg" class="line-chart">',
            width,
            height,
            title,
        ),
        format_html('<text x="{}" y="16" class="chart-title">{}</text>', left, title),
    ]
    if not present:
        parts.append(
            format_html(
                '<text x="{}" y="{}" class="chart-empty">No runs with this metric yet</text>', left, top + plot_h / 2
            )
        )
        parts.append(mark_safe("</svg>"))  # noqa: S308 - constant markup
        return mark_safe("".join(parts))  # noqa: S308 - every piece above is escaped by format_html
    vmin, vmax = _scale(present, 0, 1)
    # Metrics with a natural range (precision from 0, ARI up to 1) keep it, so one run is readable.
    if floor is not None:
        vmin = floor
    if ceiling is not None:
        vmax = max(ceiling, max(present))
    count = max(len(labels), 1)

    def x_of(index: int) -> float:
        return left + (plot_w * (index / (count - 1)) if count > 1 else plot_w / 2)

    def y_of(value: float) -> float:
        return top + plot_h - (value - vmin) / (vmax - vmin) * plot_h

    for tick in range(5):
        value = vmin + (vmax - vmin) * tick / 4
        y = y_of(value)
        parts.append(
            format_html(
                '<line x1="{}" x2="{}" y1="{}" y2="{}" class="grid"/><text x="{}" y="{}" class="tick" '
                'text-anchor="end">{}</text>',
                left,
                left + plot_w,
                _f(y),
                _f(y),
                left - 6,
                _f(y + 4),
                value_format.format(value),
            )
        )
    step = max(1, count // 8)
    for index, label in enumerate(labels):
        if index % step == 0 or index == count - 1:
            parts.append(
                format_html(
                    '<text x="{}" y="{}" class="tick" text-anchor="middle">{}</text>',
                    _f(x_of(index)),
                    height - 12,
                    label,
                )
            )
    for entry in series:
        points = [(x_of(index), y_of(value)) for index, value in enumerate(entry["values"]) if value is not None]
        if not points:
            continue
        path = " ".join(f"{x:.1f},{y:.1f}" for x, y in points)
        parts.append(
            format_html(
                '<polyline points="{}" fill="none" stroke="{}" stroke-width="2.2"{}/>',
                path,
                entry["colour"],
                mark_safe(' stroke-dasharray="6 4"') if entry.get("dash") else "",  # noqa: S308
            )
        )
        for (x, y), value in zip(points, [value for value in entry["values"] if value is not None], strict=True):
            parts.append(
                format_html(
                    '<circle cx="{}" cy="{}" r="3.2" fill="{}"><title>{}: {}</title></circle>',
                    _f(x),
                    _f(y),
                    entry["colour"],
                    entry["name"],
                    value_format.format(value),
                )
            )
    legend_x = left
    for entry in series:
        parts.append(
            format_html(
                '<rect x="{}" y="{}" width="12" height="3" fill="{}"/><text x="{}" y="{}" class="legend">{}</text>',
                legend_x,
                height - 4,
                entry["colour"],
                legend_x + 16,
                height - 1,
                entry["name"],
            )
        )
        legend_x += 22 + 7 * len(entry["name"])
    parts.append(mark_safe("</svg>"))  # noqa: S308 - constant markup
    return mark_safe("".join(parts))  # noqa: S308 - every piece above is escaped by format_html


def _metric(run: ModelRun, key: str) -> float | None:
    return _number((run.metrics or {}).get(key))


def _number(value) -> float | None:
    try:
        return float(value) if value is not None else None
    except (TypeError, ValueError):
        return None


def runs_chart_context(*, runs: list[ModelRun]) -> dict:
    """Charts and a table of the succeeded runs' metrics, oldest first."""
    from recommender.communities import community_metrics

    runs = [run for run in runs if run.status == ModelRun.Status.SUCCEEDED]
    labels = [f"#{run.pk}" for run in runs]
    communities = {run.pk: community_metrics(run=run) for run in runs}
    rows: list[dict[str, Any]] = [
        {
            "run": run,
            "rmse": _metric(run, "rmse"),
            "mae": _metric(run, "mae"),
            "precision": _metric(run, "precision_at_10"),
            "baseline": _metric(run, "popularity_precision_at_10"),
            "ndcg": _metric(run, "ndcg_at_10"),
            "ari": _number(communities[run.pk].get("community_ari")),
            "k": communities[run.pk].get("community_k"),
        }
        for run in runs
    ]
    return {
        "rows": rows,
        "rmse_svg": line_chart_svg(
            title="Star prediction error (RMSE, lower is better)",
            labels=labels,
            series=[
                {"name": "RMSE", "values": [row["rmse"] for row in rows], "colour": "#b3261e"},
                {"name": "MAE", "values": [row["mae"] for row in rows], "colour": "#a15c00", "dash": True},
            ],
        ),
        "precision_svg": line_chart_svg(
            title="Ranking: precision@10 against the most-popular baseline",
            labels=labels,
            floor=0.0,
            series=[
                {"name": "ALS precision@10", "values": [row["precision"] for row in rows], "colour": "#1f7a4d"},
                {
                    "name": "Most popular",
                    "values": [row["baseline"] for row in rows],
                    "colour": "#6b6b70",
                    "dash": True,
                },
            ],
        ),
        "ari_svg": line_chart_svg(
            title="Communities vs synthetic personas (adjusted Rand index)",
            labels=labels,
            series=[{"name": "ARI", "values": [row["ari"] for row in rows], "colour": "#7c3aed"}],
            value_format="{:.2f}",
            floor=min([0.0] + [row["ari"] for row in rows if row["ari"] is not None]),
            ceiling=1.0,
        ),
    }


# The map's labels: 13 px semi-bold text, at most about this wide per character, and this tall.
LABEL_CHAR_WIDTH = 8.4  # measured 8.1 in Chromium (semi-bold system-ui)
LABEL_HEIGHT = 15.0
# Where a label may go, tried in turn (offset of the text's baseline from its dot, anchor): right
# of the dot, then a line above or below it, then left of it, then two lines away.
LABEL_SLOTS = [
    (10, 4, "start"),
    (10, -12, "start"),
    (10, 20, "start"),
    (-10, 4, "end"),
    (-10, -12, "end"),
    (-10, 20, "end"),
    (10, -28, "start"),
    (10, 36, "start"),
    (-10, -28, "end"),
    (-10, 36, "end"),
]


def label_positions(
    dots: list[tuple[float, float]], names: list[str], *, width: float, height: float
) -> list[tuple[float, float, str]]:
    """(x, y, text-anchor) of each dot's label, in order (the largest communities first): the first
    slot of ``LABEL_SLOTS`` inside the map where the label overlaps no label placed before it nor
    any dot; when none is free, the first slot inside the map."""
    boxes: list[tuple[float, float, float, float]] = []
    dot_boxes = [(x - 7, y - 7, x + 7, y + 7) for x, y in dots]

    def box(x: float, y: float, anchor: str, name: str) -> tuple[float, float, float, float]:
        span = len(name) * LABEL_CHAR_WIDTH
        left = x if anchor == "start" else x - span
        return left, y - LABEL_HEIGHT + 3, left + span, y + 3

    def clear(candidate: tuple[float, float, float, float], others) -> bool:
        return all(
            candidate[2] <= o[0] or o[2] <= candidate[0] or candidate[3] <= o[1] or o[3] <= candidate[1] for o in others
        )

    def inside(candidate: tuple[float, float, float, float]) -> bool:
        return candidate[0] >= 2 and candidate[2] <= width - 2 and candidate[1] >= 2 and candidate[3] <= height - 2

    positions = []
    for (x, y), name in zip(dots, names, strict=True):
        slots = [(x + dx, y + dy, anchor) for dx, dy, anchor in LABEL_SLOTS]
        on_map = [slot for slot in slots if inside(box(*slot, name))] or slots
        chosen = next(
            (slot for slot in on_map if clear(box(*slot, name), boxes) and clear(box(*slot, name), dot_boxes)),
            on_map[0],
        )
        boxes.append(box(*chosen, name))
        positions.append(chosen)
    return positions


def community_map_svg(
    *,
    run: ModelRun | None,
    communities: list[TasteCommunity],
    place=None,
    highlight: TasteCommunity | None = None,
    width: int = 640,
    height: int = 420,
) -> SafeString:
    """Users as dots on the PCA plane, coloured by community; labels at the centres; you as a star."""
    from recommender.communities import community_map_points

    if run is None or not communities:
        return mark_safe("")
    points = community_map_points(run=run)
    xs = [point[0] for point in points] + [community.x for community in communities if community.x is not None]
    ys = [point[1] for point in points] + [community.y for community in communities if community.y is not None]
    if place is not None and place.x is not None:
        xs.append(place.x)
        ys.append(place.y)
    if not xs:
        return mark_safe("")
    # Robust bounds: a few outliers must not squash everyone into a corner.
    xs_sorted, ys_sorted = sorted(xs), sorted(ys)
    cut = len(xs_sorted) // 100
    xmin, xmax = _scale(xs_sorted[cut : len(xs_sorted) - cut] or xs_sorted, 0, 1, pad=0.08)
    ymin, ymax = _scale(ys_sorted[cut : len(ys_sorted) - cut] or ys_sorted, 0, 1, pad=0.08)
    margin = 14

    def to_px(x: float, y: float) -> tuple[float, float]:
        px = margin + (min(max(x, xmin), xmax) - xmin) / (xmax - xmin) * (width - 2 * margin)
        py = height - margin - (min(max(y, ymin), ymax) - ymin) / (ymax - ymin) * (height - 2 * margin)
        return px, py

    parts = [
        format_html(
            '<svg viewBox="0 0 {} {}" role="img" xmlns="http://www.w3.org/2000/svg" class="community-map" '
            'aria-label="Map of {} users by taste, {} communities{}">',
            width,
            height,
            len(points),
            len(communities),
            ", your position marked" if place and place.x is not None else "",
        ),
        format_html('<rect width="{}" height="{}" rx="10" class="map-bg"/>', width, height),
    ]
    for x, y, number in points:
        px, py = to_px(x, y)
        opacity = 0.75 if highlight is None or number == highlight.number else 0.16
        parts.append(
            format_html(
                '<circle cx="{}" cy="{}" r="2.6" fill="{}" fill-opacity="{}"/>',
                _f(px),
                _f(py),
                community_colour(number),
                opacity,
            )
        )
    placed = [community for community in communities if community.x is not None]
    dots = [to_px(community.x, community.y) for community in placed]  # type: ignore[arg-type]  # placed: x and y are set
    for community, (px, py), (tx, ty, anchor) in zip(
        placed,
        dots,
        label_positions(dots, [community.name for community in placed], width=width, height=height),
        strict=True,
    ):
        strong = highlight is None or community.pk == highlight.pk
        parts.append(
            format_html(
                '<a href="{}"><g class="map-label{}"><circle cx="{}" cy="{}" r="7" fill="{}" '
                'stroke="#fff" stroke-width="2"/><text x="{}" y="{}" text-anchor="{}">{}</text></g></a>',
                reverse("recommender:community_detail", args=[community.pk]),
                "" if strong else " map-label-faded",
                _f(px),
                _f(py),
                community_colour(community.number),
                _f(tx),
                _f(ty),
                anchor,
                community.name,
            )
        )
    if place is not None and place.x is not None:
        px, py = to_px(place.x, place.y)
        parts.append(
            format_html(
                '<g class="map-you"><circle cx="{}" cy="{}" r="13" fill="#1d1b2e" fill-opacity=".12"/>'
                '<text x="{}" y="{}" text-anchor="middle" class="map-you-star">★</text>'
                '<text x="{}" y="{}" text-anchor="middle" class="map-you-label">You</text></g>',
                _f(px),
                _f(py),
                _f(px),
                _f(py + 7),
                _f(px),
                _f(py - 14),
            )
        )
    parts.append(mark_safe("</svg>"))  # noqa: S308 - constant markup
    return mark_safe("".join(parts))  # noqa: S308 - every piece above is escaped by format_html
