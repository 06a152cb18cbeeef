"""Pages of the recommendations experience. Each view parses its input, calls one selector or
service, and renders."""

from __future__ import annotations

from urllib.parse import urlencode

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.cache import cache
from django.core.exceptions import ValidationError
from django.http import Http404, JsonResponse
from django.middleware.csrf import get_token
from django.shortcuts import get_object_or_404, redirect, render
from django.template.loader import render_to_string
from django.urls import NoReverseMatch, reverse
from django.utils.safestring import mark_safe
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_POST

from catalog.models import Title
from imdbrec.parsing import ascii_int, page_number
from imdbrec.ratelimits import rate_limited
from ratings.selectors import rating_scores_for_user
from recommender.communities import selectors as community_selectors
from recommender.communities.map import community_map_svg
from recommender.forms import GenrePickForm, RecommendationFilterForm
from recommender.models import ModelRun, TasteCommunity
from recommender.serving import onboarding
from recommender.serving.cards import card_actions_render
from recommender.serving.page import page_cache_key, page_cache_variant, page_fingerprint, recommendation_page_get
from recommender.serving.ranking import LiveFilters, live_state_get
from recommender.serving.run_model import active_run
from recommender.serving.similar import similar_title_list


def _run_admin_url(run: ModelRun | None) -> str | None:
    if run is None:
        return None
    try:
        return reverse("admin:recommender_modelrun_change", args=[run.pk])
    except NoReverseMatch:  # the admin does not register runs: the staff models page shows them
        return reverse("system:models")


PAGE_CACHE_SECONDS = 600


@never_cache
@login_required
@rate_limited("recommendations")
def recommendations(request):
    """The user's recommendations: the active run's, folded in again at once when they changed.

    The list part is cached per user state: a repeat view of an unchanged list costs one small
    query (``page_fingerprint``) and a cache read; a rating, a watchlist or "not interested"
    change, a new run or other filters give a new key, and a stale user is always folded in.
    """
    key = None
    variant = page_cache_variant(request.GET)  # None: junk or a rarely repeated view, not cached
    fingerprint = page_fingerprint(user=request.user) if variant is not None else None  # includes the run
    if fingerprint is not None and variant is not None:
        if not request.META.get("CSRF_COOKIE"):
            get_token(request)  # the user has a CSRF secret now; the cached forms carry tokens made from it
        key = page_cache_key(
            user=request.user,
            fingerprint=fingerprint,
            variant=variant,
            csrf_secret=request.META.get("CSRF_COOKIE", ""),
        )
    body = cache.get(key) if key else None
    if body is None:
        body, cacheable = _recommendations_body(request, run=active_run())
        if key and cacheable:
            cache.set(key, body, PAGE_CACHE_SECONDS)
    return render(request, "recommender/recommendations.html", {"body": mark_safe(body)})  # noqa: S308 - our render


def _recommendations_body(request, *, run) -> tuple[str, bool]:
    """Render the list part; cacheable unless it was just folded in (it says "updated just now")."""
    live = live_state_get(user=request.user, run=run)
    if live.model is not None:
        model_genres, model_types = live.model.genres, live.model.title_types
    else:
        model_genres, model_types = onboarding.genre_choices(), ["movie", "tvSeries", "tvMiniSeries"]
    form = RecommendationFilterForm(request.GET or None, genres=model_genres, title_types=model_types)
    filters = LiveFilters()
    kept = {}
    if form.is_bound and form.is_valid():
        data = form.cleaned_data
        filters = LiveFilters(
            genre=data.get("genre") or None,
            title_type=data.get("type") or None,
            year_min=data.get("year_min"),
            year_max=data.get("year_max"),
        )
        kept = {key: value for key, value in data.items() if value not in (None, "")}
    page = recommendation_page_get(
        user=request.user, filters=filters, page_number=page_number(request.GET.get("page")), live=live
    )
    card_actions_render(page.cards, request=request)
    body = render_to_string(
        "recommender/_recommendations_body.html",
        {
            "form": form,
            "result": page,
            "page_obj": page.page,
            "cards": page.cards,
            "query_string": urlencode(kept),
            "filtered": bool(kept),
            "run": page.live.run,
            "run_admin_url": _run_admin_url(page.live.run) if request.user.is_staff else None,
            "state": page.live.state,
            # Title links without a reverse() per card: (prefix, suffix) around the tconst.
            "title_path": reverse("catalog:title_detail", args=["TCONST"]).split("TCONST", 1),
        },
        request=request,
    )
    return body, page.personal and not page.live.state.folded  # type: ignore[union-attr]  # personal: a state


@require_POST
@login_required
def recommendations_refresh(request):
    """Fold the user in again now, whatever the stale flag says, and show the new list."""
    page = recommendation_page_get(user=request.user, force=True, page_size=1)
    state = page.live.state
    if state is not None and state.folded:
        messages.success(
            request,
            f"Recomputed from your {len(state.ratings)} rating{'s' if len(state.ratings) != 1 else ''} "
            f"in {state.fold_in_ms:.1f} ms.",
        )
    elif page.live.run is None:
        messages.info(request, "There is no trained model yet: these are popular titles in your genres.")
    query = request.POST.get("query", "")
    target = reverse("recommender:recommendations")
    return redirect(f"{target}?{query}" if query and "//" not in query else target)


@never_cache
@login_required
def onboarding_view(request):
    """Cold start: pick genres, rate well-known titles by genre and decade, watch the progress."""
    genres = onboarding.genre_choices()
    if request.method == "POST":
        form = GenrePickForm(request.POST, genres=genres)
        if form.is_valid():
            try:
                onboarding.onboarding_genres_set(user=request.user, genres=form.cleaned_data["genres"])
            except ValidationError as error:
                form.add_error("genres", error)
            else:
                messages.success(request, "Saved your genres: the titles below follow them.")
                return redirect(reverse("recommender:onboarding") + "#rate")
    else:
        form = GenrePickForm(initial={"genres": request.user.favourite_genres}, genres=genres)
    offset = min(ascii_int(request.GET.get("more"), max_digits=2) or 0, 50)
    return render(
        request,
        "recommender/onboarding.html",
        {
            "form": form,
            "progress": onboarding.onboarding_progress(user=request.user),
            "groups": onboarding.onboarding_groups(user=request.user, offset=offset * onboarding.GROUP_COUNT),
            "next_more": offset + 1,
            "fallback": onboarding.popular_in_genres(user=request.user, limit=12),
        },
    )


@never_cache
@login_required
def onboarding_progress(request):
    """JSON for the onboarding page's live progress bar (``data-progress-url`` in site.js)."""
    progress = onboarding.onboarding_progress(user=request.user)
    return JsonResponse(
        {
            "progress": progress.fraction,
            "message": progress.message,
            "done": progress.unlocked,
            "rated": progress.rated,
            "remaining": progress.remaining,
        }
    )


@login_required
def community_list(request):
    run = active_run()
    communities = community_selectors.community_list(run=run)
    place = community_selectors.user_place(user=request.user, run=run)
    return render(
        request,
        "recommender/community_list.html",
        {
            "run": run,
            "communities": communities,
            "place": place,
            "map_svg": community_map_svg(run=run, communities=communities, place=place) if communities else "",
        },
    )


@login_required
def community_detail(request, pk: int):
    run = active_run()
    community = get_object_or_404(TasteCommunity.objects.select_related("run"), pk=pk)
    if run is None or community.run_id != run.pk:
        # Communities of an older run are gone from the map; their numbers mean something else now.
        raise Http404("This community belongs to an older model; see the current communities.")
    communities = community_selectors.community_list(run=run)
    place = community_selectors.user_place(user=request.user, run=run)
    from recommender.serving.foldin import user_excluded_tconsts

    excluded = user_excluded_tconsts(user=request.user)
    neighbours = [
        {
            "community": neighbour,
            "titles": community_selectors.community_titles(community=neighbour, limit=6, exclude=excluded),
        }
        for neighbour in community_selectors.community_neighbours(community=community)
    ]
    genres = community.defining_genres[:10]
    titles = community_selectors.community_titles(community=community, limit=12)
    return render(
        request,
        "recommender/community_detail.html",
        {
            "run": run,
            "community": community,
            "communities": communities,
            "place": place,
            "is_mine": place is not None and place.community is not None and place.community.pk == community.pk,
            "titles": titles,
            "scores": rating_scores_for_user(user=request.user, tconsts=[title.tconst for title in titles]),
            "genres": genres,
            "genre_max": max([max(entry["share"], entry["overall_share"]) for entry in genres] or [1]),
            "neighbours": neighbours,
            "map_svg": community_map_svg(run=run, communities=communities, place=place, highlight=community),
        },
    )


def similar_titles(request, tconst: str):
    """ "More like this" as a page of its own (the title page shows the same list in a section)."""
    title = get_object_or_404(Title, tconst=tconst)
    similar = similar_title_list(title=title, limit=24)
    scores = rating_scores_for_user(user=request.user, tconsts=[item.title.tconst for item in similar])
    return render(request, "recommender/similar_page.html", {"title": title, "similar": similar, "scores": scores})
