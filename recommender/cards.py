"""The recommendations page's content: one card per title, with prediction, confidence and reason.

``recommendation_page_get`` is the page's one selector. It asks ``recommender.foldin`` for the
user's ranked titles (folding them in first when their ratings changed), keeps the requested page,
loads those titles in one query and explains each from the factors (``recommender.explanations``).
Below the unlock threshold (``recommender.onboarding``) the page is the cold-start fallback.
"""

from __future__ import annotations

import hashlib
import logging
import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from django.core.paginator import Page, Paginator
from django.db import connection
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils.html import escape, format_html, format_html_join
from django.utils.safestring import SafeString, mark_safe

from catalog.models import Title, title_type_label
from recommender.explanations import Explanation, explanations_for
from recommender.foldin import LIVE_LIST_LIMIT, LiveFilters, LiveList, live_list_rank, live_state_get
from recommender.onboarding import OnboardingProgress, onboarding_progress, popular_in_genres

if TYPE_CHECKING:
    from accounts.models import User

logger = logging.getLogger(__name__)

PAGE_SIZE = 20
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
    meta = [str(title.start_year)] if title.start_year else []
    meta.append(title_type_label(title.title_type))
    if title.runtime_minutes:
        meta.append(f"{title.runtime_minutes} min")
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
        if card.explanation.reasons:
            body = format_html(
                "Because you rated {}",
                format_html_join(
                    " and ",
                    '<a href="{}{}{}"><em>{}</em></a> <span class="explanation-stars" aria-label="{} stars">{}</span>',
                    (
                        (
                            prefix,
                            reason.tconst,
                            suffix,
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


@dataclass
class RecommendationPage:
    live: LiveList
    progress: OnboardingProgress
    page: Page | None = None
    cards: list[RecommendationCard] = field(default_factory=list)
    fallback: list[Title] = field(default_factory=list)
    genres: list[str] = field(default_factory=list)
    title_types: list[str] = field(default_factory=list)
    limit: int = LIVE_LIST_LIMIT
    buckets: dict = field(default_factory=dict)  # the run's measured confidence buckets
    place: object = None  # the user's taste community (recommender.communities.UserPlace)
    discover: list = field(default_factory=list)  # [{"community", "titles"}] of neighbouring communities

    @property
    def personal(self) -> bool:
        return self.live.personal and self.progress.unlocked


def recommendation_page_get(
    *,
    user: User,
    filters: LiveFilters | None = None,
    page_number=1,
    force: bool = False,
    page_size: int = PAGE_SIZE,
    live: LiveList | None = None,
) -> RecommendationPage:
    """Everything the recommendations page shows for ``user``: cards or the cold-start fallback.

    ``live`` is the user's state from ``live_state_get`` when the caller already has it.
    """
    if live is None:
        live = live_state_get(user=user, force=force)
    live_list_rank(live, filters=filters)
    progress = onboarding_progress(user=user) if live.state is None else _progress_from(live)
    result = RecommendationPage(live=live, progress=progress)
    if live.model is not None:
        result.genres = live.model.genres
        result.title_types = live.model.title_types
    if not result.personal:
        result.fallback = popular_in_genres(user=user, limit=page_size)
        return result
    assert live.state is not None and live.model is not None  # personal: the user has vectors in the run
    result.page = Paginator(live.items, page_size).get_page(page_number)
    items = list(result.page.object_list)
    explanations = explanations_for(
        model=live.model, ratings=live.state.ratings, positions=[item.position for item in items], with_titles=False
    )
    # One query for the cards' titles and the titles their explanations name.
    named = {reason.tconst for explanation in explanations for reason in explanation.reasons + explanation.others}
    titles = Title.objects.in_bulk([item.tconst for item in items] + sorted(named))
    for explanation in explanations:
        for reason in explanation.reasons + explanation.others:
            reason.title = titles.get(reason.tconst)
    thresholds = confidence_thresholds(live.run)
    result.buckets = confidence_buckets(live.run)
    prefix, suffix = reverse("catalog:title_detail", args=["TCONST"]).split("TCONST", 1)
    title_url = (prefix, suffix)
    first_rank = result.page.start_index()
    if result.page.number == 1:
        _discovery_add(result, user=user)
    for offset, (item, explanation) in enumerate(zip(items, explanations, strict=True)):
        title = titles.get(item.tconst)
        if title is None:  # deleted from the catalog since the model was loaded
            continue
        result.cards.append(
            RecommendationCard(
                title=title,
                rank=first_rank + offset,
                score=item.score,
                predicted_rating=item.predicted_rating,
                confidence=item.confidence,
                confidence_label=confidence_label(item.confidence, thresholds),
                explanation=explanation,
            )
        )
        result.cards[-1].html = card_html(result.cards[-1], title_url=title_url)
    return result


def _discovery_add(result: RecommendationPage, *, user, per_community: int = 4) -> None:
    """The user's community and, for discovery, titles loved in the two neighbouring communities
    that the user has not rated, listed or dismissed and that are not on this page already."""
    from recommender.communities import community_neighbours, community_titles, user_place

    state = result.live.state
    assert state is not None and state.vectors is not None  # only for personal pages
    result.place = user_place(
        user=user, run=result.live.run, vectors=state.vectors.factors if state.vectors.source != "run" else None
    )
    if result.place is None or result.place.community is None:
        return
    shown = {item.tconst for item in result.page.object_list} if result.page else set()
    exclude = set(result.live.excluded) | shown
    for neighbour in community_neighbours(community=result.place.community):
        titles = community_titles(community=neighbour, limit=per_community, exclude=exclude)
        if titles:
            result.discover.append({"community": neighbour, "titles": titles})
            exclude |= {title.tconst for title in titles}


def page_fingerprint(*, user) -> tuple | None:
    """What the user's list depends on, read in one small query; ``None`` when the user is stale
    (the page must fold them in, not show a cached list) or no run is active.

    Rows are only inserted, deleted or (ratings) updated with a new ``updated_at``, and new rows
    get later timestamps than old ones, so (count, latest time) per list changes whenever the list
    does. The fold-in row's time and run change with every fold-in.
    """
    with connection.cursor() as cursor:
        cursor.execute(
            """
            SELECT (SELECT concat_ws('/', id, created_at) FROM recommender_modelrun WHERE is_active),
                   (SELECT concat_ws('/', run_id, stale, updated_at) FROM recommender_userfoldin WHERE user_id = %(u)s),
                   (SELECT concat_ws('/', count(*), max(updated_at)) FROM ratings_rating WHERE user_id = %(u)s),
                   (SELECT concat_ws('/', count(*), max(created_at)) FROM ratings_watchlistitem WHERE user_id = %(u)s),
                   (SELECT concat_ws('/', count(*), max(created_at)) FROM ratings_notinterested WHERE user_id = %(u)s),
                   (SELECT stale FROM recommender_userfoldin WHERE user_id = %(u)s)
            """,
            {"u": user.pk},
        )
        run, fold_in, ratings, watchlist, dismissed, stale = cursor.fetchone()
    if stale or not run:
        return None
    return (run, fold_in or "", ratings, watchlist, dismissed)


def page_cache_key(*, user, fingerprint: tuple, variant: str, csrf_secret: str) -> str:
    """The cache key of the rendered list: the fingerprint, the filters and page, the user's CSRF
    secret (the fragment holds forms) and staff status."""
    digest = hashlib.blake2b(digest_size=16)
    for part in (*map(str, fingerprint), variant, csrf_secret, str(bool(user.is_staff))):
        digest.update(part.encode())
        digest.update(b"\0")
    return f"recommender:page:v2:{user.pk}:{digest.hexdigest()}"


def _progress_from(live: LiveList) -> OnboardingProgress:
    from recommender.onboarding import unlock_threshold

    assert live.state is not None  # only called with a state
    return OnboardingProgress(rated=len(live.state.ratings), needed=unlock_threshold())


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
