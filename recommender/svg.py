"""Drawing helpers shared by the server-rendered SVG pictures (the quality charts, the community map)."""

from __future__ import annotations


def svg_number(value: float) -> str:
    """Coordinates to one decimal (format_html escapes its arguments to strings first)."""
    return f"{value:.1f}"


def padded_range(values: list[float], pad: float = 0.06) -> tuple[float, float]:
    """``values``' range widened by ``pad`` of its span on each side (a flat series by 1)."""
    vmin, vmax = min(values), max(values)
    if vmax - vmin < 1e-9:
        vmin, vmax = vmin - 1, vmax + 1
    span = vmax - vmin
    return vmin - span * pad, vmax + span * pad
