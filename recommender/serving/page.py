"""The recommendations page's content: one card per title, with prediction, confidence and reason.

``recommendation_page_get`` is the page's one selector. It asks ``recommender.serving.ranking`` for
the user's ranked titles (folding them in first when their ratings changed), keeps the requested
page, loads those titles in one query and explains each from the factors
(``recommender.serving.explanations``); each card's markup comes from ``recommender.serving.cards``.
Below the unlock threshold (``recommender.serving.onboarding``) the page is the cold-start fallback.
``page_fingerprint`` and ``page_cache_key`` say when a rendered list may be served from the cache.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from django.core.paginator import Page, Paginator
from django.db import connection
from django.urls import reverse

from catalog.models import Title
from recommender.serving.cards import (
    RecommendationCard,
    card_html,
    confidence_buckets,
    confidence_label,
    confidence_thresholds,
)
from recommender.serving.explanations import explanations_for
from recommender.serving.member_controls import recommendation_items_sort
from recommender.serving.onboarding import OnboardingProgress, onboarding_progress, popular_in_genres
from recommender.serving.ranking import LIVE_LIST_LIMIT, LiveFilters, LiveList, live_list_rank, live_state_get
from recommender.serving.ranking_controls import SORT_DEFAULT, RankingControls

if TYPE_CHECKING:
    from accounts.models import User

PAGE_SIZE = 20


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
    place: object = None  # the user's taste community (recommender.communities.selectors.UserPlace)
    discover: list = field(default_factory=list)  # [{"community", "titles"}] of neighbouring communities

    @property
    def personal(self) -> bool:
        return self.live.personal and self.progress.unlocked


def recommendation_page_get(
    *,
    user: User,
    filters: LiveFilters | None = None,
    controls: RankingControls | None = None,
    page_number=1,
    force: bool = False,
    page_size: int = PAGE_SIZE,
    live: LiveList | None = None,
    sort: str = SORT_DEFAULT,
) -> RecommendationPage:
    """Everything the recommendations page shows for ``user``: cards or the cold-start fallback.

    ``live`` is the user's state from ``live_state_get`` when the caller already has it; ``sort``
    a validated ``LIST_SORTS`` key (the ranked list reordered, ``member_controls``).
    """
    if live is None:
        live = live_state_get(user=user, force=force)
    live_list_rank(live, filters=filters, controls=controls)
    if live.model is not None:
        live.items = recommendation_items_sort(live.items, sort=sort, model=live.model)
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
    from recommender.communities.selectors import community_neighbours, community_titles, user_place

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
        # Only what the neighbours really favour over the member's own community (counts shown).
        titles = community_titles(
            community=neighbour, limit=per_community, exclude=exclude, versus=result.place.community
        )
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


CACHED_PAGES = 3  # the first pages of a list are the ones viewed again


def page_cache_key(*, user, fingerprint: tuple, variant: str, csrf_secret: str) -> str:
    """The cache key of the rendered list: the fingerprint, the filters and page, the user's CSRF
    secret (the fragment holds forms) and staff status."""
    digest = hashlib.blake2b(digest_size=16)
    for part in (*map(str, fingerprint), variant, csrf_secret, str(bool(user.is_staff))):
        digest.update(part.encode())
        digest.update(b"\0")
    return f"{page_cache_prefix(user_id=user.pk)}{digest.hexdigest()}"


def page_cache_prefix(*, user_id: int) -> str:
    """The start of every cached page of one user: deleting the user deletes them all by it."""
    return f"recommender:page:v2:{user_id}:"


def _progress_from(live: LiveList) -> OnboardingProgress:
    from recommender.serving.onboarding import unlock_threshold

    assert live.state is not None  # only called with a state
    return OnboardingProgress(rated=len(live.state.ratings), needed=unlock_threshold())
