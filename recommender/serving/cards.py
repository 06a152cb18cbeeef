"""One recommendation card: its data (title, rank, predicted stars, confidence and its label,
explanation) and its markup (``card_html``, ``card_actions_render``). Rendering only: the page's
selector (``recommender.serving.page``) reads the data and calls these.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass

from django.template.loader import render_to_string
from django.utils.html import escape, format_html, format_html_join
from django.utils.safestring import SafeString, mark_safe

from catalog.display import runtime_display, title_years
from catalog.models import Title, title_type_label
from recommender.serving.explanations import PERSON_LABELS, Explanation

logger = logging.getLogger(__name__)

# Where "high" and "medium" confidence start: the thirds of [0, 1] the training measures its
# confidence buckets on (DESIGN.md §3, ``metrics["confidence_buckets"]``), so a label means what
# the run measured for it.
CONFIDENCE_HIGH = 2 / 3
CONFIDENCE_MEDIUM = 1 / 3


def confidence_buckets(run) -> dict[str, dict]:
    """The run's measured buckets by name ("low", "medium", "high"), or {} when it has none."""
    buckets = (run.metrics or {}).get("confidence_buckets") if run is not None else None
    if not isinstance(buckets, list):
        return {}
    return {bucket["confidence"]: bucket for bucket in buckets if isinstance(bucket, dict) and "confidence" in bucket}


def confidence_thresholds(run) -> tuple[float, float]:
    """(high, medium) lower bounds, from the run's measured buckets when it has them."""
    buckets = confidence_buckets(run)
    try:
        return float(buckets["high"]["range"][0]), float(buckets["medium"]["range"][0])
    except (KeyError, TypeError, ValueError, IndexError):
        return CONFIDENCE_HIGH, CONFIDENCE_MEDIUM


def confidence_label(confidence: float, thresholds: tuple[float, float] = (CONFIDENCE_HIGH, CONFIDENCE_MEDIUM)) -> str:
    high, medium = thresholds
    if confidence >= high:
        return "high"
    if confidence >= medium:
        return "medium"
    return "low"


@dataclass
class RecommendationCard:
    title: Title
    rank: int
    score: float
    predicted_rating: float
    confidence: float
    confidence_label: str
    explanation: Explanation | None = None

    @property
    def predicted_display(self) -> str:
        return f"{self.predicted_rating:.1f}"

    @property
    def confidence_percent(self) -> int:
        return round(self.confidence * 100)

    html: str = ""  # the card's own markup (card_html), built in Python: see card_html
    actions_html: str = ""  # the shared star control and list buttons (card_actions_render)


# Built with format_html rather than in the template: the template engine costs ~0.5 ms of CPU per
# card for this part, Python string building a tenth of that, and the page renders after every
# rating (real-time fold-in). The star control and list buttons stay the shared partials.
def card_html(card: RecommendationCard, *, title_url: tuple[str, str]) -> SafeString:
    title = card.title
    prefix, suffix = title_url
    # The same facts, worded the same, as the title meta line (templates/includes/_title_meta.html).
    years = title_years(title)
    meta = [years] if years else []
    meta.append(title_type_label(title.title_type))
    if title.runtime_minutes:
        meta.append(runtime_display(title.runtime_minutes))
    rating = (
        format_html(' · <span class="imdb-score" title="IMDb rating">{}</span> IMDb', title.average_rating)
        if title.average_rating is not None
        else ""
    )
    genres = (
        format_html(
            '<p class="rec-genres">{}</p>',
            format_html_join(" ", '<span class="badge">{}</span>', ((g,) for g in title.genres)),
        )
        if title.genres
        else ""
    )
    explanation = ""
    if card.explanation is not None:
        others = ", ".join(
            f"{reason.title.primary_title if reason.title else reason.tconst} {reason.star_string}"
            for reason in card.explanation.others
        )
        body: str
        # The named titles are plain text, not links: the member rated them, and a card keeps to
        # four tab stops (title, stars, watchlist, not interested) for keyboard users.
        kind = card.explanation.kind
        if kind == "person":
            first = card.explanation.reasons[0]
            body = format_html(
                '{} {}, like <em>{}</em>, which you rated <span class="explanation-stars" role="img" '
                'aria-label="{} stars">{}</span>',
                PERSON_LABELS[card.explanation.person_role],
                card.explanation.person_name,
                first.title.primary_title if first.title else first.tconst,
                first.stars,
                first.star_string,
            )
        elif kind == "ratings":
            body = format_html(
                "Because you rated {}",
                format_html_join(
                    " and ",
                    '<em>{}</em> <span class="explanation-stars" role="img" aria-label="{} stars">{}</span>',
                    (
                        (
                            reason.title.primary_title if reason.title else reason.tconst,
                            reason.stars,
                            reason.star_string,
                        )
                        for reason in card.explanation.reasons
                    ),
                ),
            )
        else:
            body = card.explanation.text
        explanation = format_html(
            '<p class="explanation"{}>{}</p>', format_html(' title="Also: {}"', others) if others else "", body
        )
    return format_html(
        '<div class="rec-top"><span class="rec-rank" aria-label="Rank {}">{}</span><div class="rec-heading">'
        '<a class="card-title" href="{}{}{}">{}</a><span class="card-meta">{}{}</span></div></div>{}'
        '<p class="rec-numbers"><span class="prediction" title="The star rating the model expects you to give">'
        "Predicted {}★</span> "
        '<span class="confidence confidence-{}" title="Confidence {}%: how much evidence backs this suggestion — how '
        'strongly the model expects you to pick it, and how many ratings you and this title have behind it">'
        "· {} confidence</span></p>{}",
        card.rank,
        card.rank,
        prefix,
        title.tconst,
        suffix,
        title.primary_title,
        " · ".join(meta),
        rating,
        genres,
        card.predicted_display,
        card.confidence_label,
        card.confidence_percent,
        card.confidence_label,
        explanation,
    )


ACTIONS_TEMPLATE = "recommender/_card_actions.html"
_TCONST_STAMP = "tt999999999"
_TITLE_STAMP = "Xq7TitleStamp"
_CSRF_INPUT = re.compile(r'name="csrfmiddlewaretoken" value="[^"]*"')


def card_actions_render(cards: list[RecommendationCard], *, request) -> None:
    """Fill each card's ``actions_html``: the shared star control and watchlist / "not interested"
    buttons (``includes/_stars.html``, ``includes/_watchlist_button.html``).

    They are rendered once with a stand-in title and stamped with each card's tconst and title:
    twenty template renders are most of the page's CPU, and the page is rendered again after every
    rating. The stamp is checked against a real render of the first card (CSRF tokens aside, which
    differ per render and are all valid); if the partials ever depend on anything else, every card
    is rendered for real.
    """
    if not cards:
        return
    stand_in = Title(tconst=_TCONST_STAMP, primary_title=_TITLE_STAMP)
    stamp = render_to_string(ACTIONS_TEMPLATE, {"title": stand_in}, request=request)

    def stamped(title: Title) -> str:
        return stamp.replace(_TCONST_STAMP, title.tconst).replace(_TITLE_STAMP, str(escape(title.primary_title)))

    first = render_to_string(ACTIONS_TEMPLATE, {"title": cards[0].title}, request=request)
    if _CSRF_INPUT.sub("", first) == _CSRF_INPUT.sub("", stamped(cards[0].title)):
        for card in cards:
            card.actions_html = mark_safe(stamped(card.title))  # noqa: S308 - rendered by the template engine
    else:
        logger.warning("Card actions cannot be stamped: rendering each card (slower)")
        for card in cards:
            card.actions_html = mark_safe(  # noqa: S308 - rendered by the template engine
                render_to_string(ACTIONS_TEMPLATE, {"title": card.title}, request=request)
            )
