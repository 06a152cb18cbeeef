"""The communities map as a server-rendered SVG: users as dots on the 2-D plane (PCA of their
taste vectors), coloured by community, labels at the centres placed so they do not cover each
other, the viewer's own position marked (``community_map_svg``). Rendering only: the points come
from ``recommender.communities.selectors``.
"""

from __future__ import annotations

from django.urls import reverse
from django.utils.html import format_html
from django.utils.safestring import SafeString, mark_safe

from recommender.communities.shared import SEPARATOR
from recommender.models import ModelRun, TasteCommunity
from recommender.svg import padded_range, svg_number

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


def community_colour(number: int) -> str:
    return PALETTE[(number - 1) % len(PALETTE)]


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


def map_label(community: TasteCommunity) -> str:
    """The community's name on the map: its genres only (the decade and the director it shares
    are on its card and page), so the labels of a crowded map stay apart."""
    return community.name.split(SEPARATOR)[0]


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
    from recommender.communities.selectors import community_map_points

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
    xmin, xmax = padded_range(xs_sorted[cut : len(xs_sorted) - cut] or xs_sorted, pad=0.08)
    ymin, ymax = padded_range(ys_sorted[cut : len(ys_sorted) - cut] or ys_sorted, pad=0.08)
    margin = 14

    def to_px(x: float, y: float) -> tuple[float, float]:
        px = margin + (min(max(x, xmin), xmax) - xmin) / (xmax - xmin) * (width - 2 * margin)
        py = height - margin - (min(max(y, ymin), ymax) - ymin) / (ymax - ymin) * (height - 2 * margin)
        return px, py

    parts = [
        format_html(
            # role="group", not "img": the communities' labels inside are links, and an image's
            # content is not reachable by screen readers (axe: nested-interactive).
            '<svg viewBox="0 0 {} {}" role="group" xmlns="http://www.w3.org/2000/svg" class="community-map" '
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
                svg_number(px),
                svg_number(py),
                community_colour(number),
                opacity,
            )
        )
    placed = [community for community in communities if community.x is not None]
    dots = [to_px(community.x, community.y) for community in placed]  # type: ignore[arg-type]  # placed: x and y are set
    for community, (px, py), (tx, ty, anchor) in zip(
        placed,
        dots,
        label_positions(dots, [map_label(community) for community in placed], width=width, height=height),
        strict=True,
    ):
        strong = highlight is None or community.pk == highlight.pk
        parts.append(
            format_html(
                '<a href="{}"><g class="map-label{}"><circle cx="{}" cy="{}" r="7" fill="{}" '
                'stroke="#fff" stroke-width="2"/><text x="{}" y="{}" text-anchor="{}">{}</text></g></a>',
                reverse("recommender:community_detail", args=[community.pk]),
                "" if strong else " map-label-faded",
                svg_number(px),
                svg_number(py),
                community_colour(community.number),
                svg_number(tx),
                svg_number(ty),
                anchor,
                map_label(community),
            )
        )
    if place is not None and place.x is not None:
        px, py = to_px(place.x, place.y)
        parts.append(
            format_html(
                '<g class="map-you"><circle cx="{}" cy="{}" r="13" fill="#1d1b2e" fill-opacity=".12"/>'
                '<text x="{}" y="{}" text-anchor="middle" class="map-you-star">★</text>'
                '<text x="{}" y="{}" text-anchor="middle" class="map-you-label">You</text></g>',
                svg_number(px),
                svg_number(py),
                svg_number(px),
                svg_number(py + 7),
                svg_number(px),
                svg_number(py - 14),
            )
        )
    parts.append(mark_safe("</svg>"))  # noqa: S308 - constant markup
    return mark_safe("".join(parts))  # noqa: S308 - every piece above is escaped by format_html
