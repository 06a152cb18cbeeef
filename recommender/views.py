"""Pages of the recommendations experience. Each view parses its input, calls one selector or
service, and renders."""

from __future__ import annotations

from dataclasses import dataclass
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
from imdbrec.parsing import ascii_int
from imdbrec.ratelimits import rate_limited
from ratings.selectors import rating_scores_for_user
from recommender.communities import selectors as community_selectors
from recommender.communities.map import community_map_svg
from recommender.communities.statistics import GENRE_MIN_RATINGS, SHARE_MIN_MEMBERS
from recommender.forms import GenrePickForm, RecommendationControlsForm, RecommendationFilterForm
from recommender.models import ModelRun, TasteCommunity
from recommender.quality.outcomes import recommendation_shown_record
from recommender.serving import onboarding
from recommender.serving.cards import card_actions_render
from recommender.serving.member_controls import controls_for_user, controls_in_query, controls_save, controls_summary
from recommender.serving.page import CACHED_PAGES, PAGE_SIZE, page_cache_key, page_fingerprint, recommendation_page_get
from recommender.serving.ranking import LIVE_LIST_LIMIT, LiveFilters, live_state_get
from recommender.serving.ranking_controls import (
    DISCOVERY_STEPS,
    LIST_SORTS,
    SORT_BEST_MATCH_NOTE,
    SORT_DEFAULT,
    RankingControls,
    sort_parse,
)
from recommender.serving.run_model import active_run, run_model_get
from recommender.serving.similar import similar_items_for_member, similar_title_list


def _run_admin_url(run: ModelRun | None) -> str | None:
    if run is None:
        return None
    try:
        return reverse("admin:recommender_modelrun_change", args=[run.pk])
    except NoReverseMatch:  # the admin does not register runs: the staff models page shows them
        return reverse("system:models")


PAGE_CACHE_SECONDS = 600
PAGE_NUMBER_MAX = -(-LIVE_LIST_LIMIT // PAGE_SIZE)


@dataclass
class _ListRequest:
    """The page's parameters, validated: filters, the member's controls (the URL's, else their
    saved ones) and the page number. ``variant`` is built from validated values only, and is
    ``None`` when anything was refused: such a page is rendered (with the errors) but not cached."""

    filter_form: RecommendationFilterForm
    controls_form: RecommendationControlsForm
    filters: LiveFilters
    controls: RankingControls
    saved: RankingControls
    from_url: bool
    page_number: int
    kept: dict
    variant: str | None
    sort: str = SORT_DEFAULT  # validated: an unknown ?sort= is the default


def _list_request(request, *, genres, title_types) -> _ListRequest:
    query = request.GET
    filter_data = {key: query[key] for key in ("genre", "type", "year_min", "year_max") if key in query}
    filter_form = RecommendationFilterForm(filter_data or None, genres=genres, title_types=title_types)
    valid = True
    filters, kept = LiveFilters(), {}
    if filter_form.is_bound:
        if filter_form.is_valid():
            data = filter_form.cleaned_data
            filters = LiveFilters(
                genre=data.get("genre") or None,
                title_type=data.get("type") or None,
                year_min=data.get("year_min"),
                year_max=data.get("year_max"),
            )
            kept = {key: value for key, value in data.items() if value not in (None, "")}
        else:
            valid = False
    saved = controls_for_user(user=request.user)
    from_url = controls_in_query(query)
    controls = saved
    if from_url:
        controls_form = RecommendationControlsForm(query, genres=genres)
        if controls_form.is_valid():
            controls = controls_form.controls()
        else:
            valid = False
    else:
        controls_form = RecommendationControlsForm(initial=_controls_initial(saved), genres=genres)
    sort = sort_parse(query.get("sort"))
    number = ascii_int(query.get("page", "1"))
    page_number = number if number is not None and 1 <= number <= PAGE_NUMBER_MAX else None
    if page_number is None:
        valid = False
    variant = None
    # Only the views members come back to are cached (m-limits: bounded cache keys): the first
    # CACHED_PAGES pages, without a year filter; the rest are rendered each time.
    cached_view = page_number is not None and page_number <= CACHED_PAGES and not (filters.year_min or filters.year_max)
    if valid and cached_view:
        variant = "|".join([urlencode(sorted((key, str(value)) for key, value in kept.items())), controls.key()])
        variant += f"|s:{sort}|p{page_number}"
        if from_url:  # the page says whether the link's controls are the member's saved ones
            variant += f"|saved:{saved.key()}"
    return _ListRequest(
        filter_form=filter_form,
        controls_form=controls_form,
        filters=filters,
        controls=controls,
        saved=saved,
        from_url=from_url,
        page_number=page_number or 1,
        kept=kept,
        variant=variant,
        sort=sort,
    )


def _controls_initial(controls: RankingControls) -> dict:
    return {
        "discovery": controls.discovery,
        "variety": controls.variety,
        "hide_before": controls.hide_before,
        "hide_genre": controls.hide_genre,
    }


def _model_choices(run) -> tuple[list[str], list[str]]:
    model = run_model_get(run=run) if run is not None else None
    if model is not None:
        return model.genres, model.title_types
    return onboarding.genre_choices(), ["movie", "tvSeries", "tvMiniSeries"]


@never_cache
@login_required
@rate_limited("recommendations")
def recommendations(request):
    """The user's recommendations: the active run's, folded in again at once when they changed,
    under their controls (discovery, variety, hidden years and genre).

    The list part is cached per user state: a repeat view of an unchanged list costs one small
    query (``page_fingerprint``) and a cache read; a rating, a watchlist or "not interested"
    change, a new run, other filters or controls give a new key, and a stale user is always folded
    in. The key is made of validated parameters only; a refused parameter means no cache entry.
    """
    run = active_run()
    genres, title_types = _model_choices(run)
    params = _list_request(request, genres=genres, title_types=title_types)
    key = None
    fingerprint = page_fingerprint(user=request.user)  # includes the active run
    if fingerprint is not None and params.variant is not None:
        if not request.META.get("CSRF_COOKIE"):
            get_token(request)  # the user has a CSRF secret now; the cached forms carry tokens made from it
        key = page_cache_key(
            user=request.user,
            fingerprint=fingerprint,
            variant=params.variant,
            csrf_secret=request.META.get("CSRF_COOKIE", ""),
        )
    body = cache.get(key) if key else None
    if body is None:
        body, cacheable = _recommendations_body(request, run=run, params=params)
        if key and cacheable:
            cache.set(key, body, PAGE_CACHE_SECONDS)
    return render(request, "recommender/recommendations.html", {"body": mark_safe(body)})  # noqa: S308 - our render


def _recommendations_body(request, *, run, params: _ListRequest) -> tuple[str, bool]:
    """Render the list part; cacheable unless it was just folded in (it says "updated just now")."""
    live = live_state_get(user=request.user, run=run)
    page = recommendation_page_get(
        user=request.user,
        filters=params.filters,
        controls=params.controls,
        page_number=params.page_number,
        live=live,
        sort=params.sort,
    )
    if page.personal and page.live.run is not None:
        # What this page predicted, for the "how well our predictions matched" panel.
        recommendation_shown_record(user=request.user, run=page.live.run, cards=page.cards)
    card_actions_render(page.cards, request=request)
    url_controls = params.controls.query() if params.from_url else {}
    sort_query = {"sort": params.sort} if params.sort != SORT_DEFAULT else {}
    # Each sort's link keeps the filters and the controls in force (all of them: a link with only
    # some controls would reset the others to their defaults), from the first page.
    sort_links = [
        {
            "key": key,
            "label": label,
            "current": key == params.sort,
            "query": urlencode(
                {**params.kept, **params.controls.query(), **({"sort": key} if key != SORT_DEFAULT else {})}
            ),
        }
        for key, label in LIST_SORTS.items()
    ]
    body = render_to_string(
        "recommender/_recommendations_body.html",
        {
            "form": params.filter_form,
            "controls_form": params.controls_form,
            "controls": params.controls,
            "controls_saved": params.saved,
            "controls_from_url": params.from_url and params.controls != params.saved,
            "discovery_steps": DISCOVERY_STEPS.items(),
            "result": page,
            "page_obj": page.page,
            "cards": page.cards,
            "query_string": urlencode({**params.kept, **url_controls, **sort_query}),
            "sort": params.sort,
            "sort_label": LIST_SORTS[params.sort],
            "sort_links": sort_links,
            "sort_note": SORT_BEST_MATCH_NOTE,
            "filters_kept": params.kept,
            "url_controls": url_controls,
            "sort_query": sort_query,
            "filtered": bool(params.kept),
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
def recommendations_controls(request):
    """Keep the member's controls (from the page's or the profile's form), then show the list with
    them in the URL. A refused value saves nothing and says why."""
    genres, _ = _model_choices(active_run())
    form = RecommendationControlsForm(request.POST, genres=genres)
    target = reverse("recommender:recommendations")
    if not form.is_valid():
        errors = "; ".join(
            f"{form.fields[name].label}: {' '.join(messages_)}" for name, messages_ in form.errors.items()
        )
        messages.error(request, f"Your settings were not saved. {errors}")
        return redirect(target)
    controls = form.controls()
    try:
        controls_save(user=request.user, controls=controls)
    except ValidationError as error:
        messages.error(request, f"Your settings were not saved: {' '.join(error.messages)}")
        return redirect(target)
    messages.success(request, f"Saved: {controls_summary(controls)}.")
    filters = RecommendationFilterForm(
        {key: request.POST[key] for key in ("genre", "type", "year_min", "year_max") if request.POST.get(key)} or None,
        genres=genres,
        title_types=_model_choices(active_run())[1],
    )
    kept = {}
    if filters.is_bound and filters.is_valid():
        kept = {key: value for key, value in filters.cleaned_data.items() if value not in (None, "")}
    sort = sort_parse(request.POST.get("sort"))
    sort_query = {"sort": sort} if sort != SORT_DEFAULT else {}
    return redirect(f"{target}?{urlencode({**kept, **controls.query(), **sort_query})}")


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


def community_list(request):
    """The communities with the member's place among them; for a visitor, a public overview of
    the communities (names, sizes, what they share) and an invitation to sign up."""
    run = active_run()
    if not request.user.is_authenticated:
        return render(
            request,
            "recommender/community_overview.html",
            {"run": run, "overview": community_selectors.community_overview(run=run)},
        )
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
            "titles": community_selectors.community_titles(
                community=neighbour, limit=6, exclude=excluded, versus=community
            ),
        }
        for neighbour in community_selectors.community_neighbours(community=community)
    ]
    # Only genres with enough high ratings behind them (entries of runs built before the counts
    # were stored have none, and are not shown).
    genres = [entry for entry in community.defining_genres if (entry.get("count") or 0) >= GENRE_MIN_RATINGS][:10]
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
            "genre_min_ratings": GENRE_MIN_RATINGS,
            "share_min_members": SHARE_MIN_MEMBERS,
            "neighbours": neighbours,
            "map_svg": community_map_svg(run=run, communities=communities, place=place, highlight=community),
        },
    )


def similar_titles(request, tconst: str):
    """ "More like this" as a page of its own (the title page shows the same list in a section)."""
    title = get_object_or_404(Title, tconst=tconst)
    similar = similar_title_list(title=title, limit=24)
    scores = similar_items_for_member(user=request.user, items=similar)
    return render(request, "recommender/similar_page.html", {"title": title, "similar": similar, "scores": scores})
