"""The runs' holdout metrics over time as server-rendered SVG line charts: no chart library, no
extra requests (RMSE; precision@10 against the most-popular baseline; the communities' ARI), with
the numbers also in a table (``runs_chart_context``). Rendering only: the metrics are the runs'
own, the communities' read through ``recommender.communities.selectors``.
"""

from __future__ import annotations

from typing import Any

from django.utils.html import format_html
from django.utils.safestring import SafeString, mark_safe

from recommender.models import ModelRun
from recommender.svg import padded_range, svg_number


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
    vmin, vmax = padded_range(present)
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
                svg_number(y),
                svg_number(y),
                left - 6,
                svg_number(y + 4),
                value_format.format(value),
            )
        )
    step = max(1, count // 8)
    for index, label in enumerate(labels):
        if index % step == 0 or index == count - 1:
            parts.append(
                format_html(
                    '<text x="{}" y="{}" class="tick" text-anchor="middle">{}</text>',
                    svg_number(x_of(index)),
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
                    svg_number(x),
                    svg_number(y),
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
    from recommender.communities.selectors import community_metrics

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
