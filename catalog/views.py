"""Public catalog pages: home, browse, search, title and person pages.

Views stay thin: they parse GET with a form, call selectors, let the apps above add the signed-in
member's own state to the titles shown (``catalog.extensions``: ratings adds their stars in one
query per page) and render. Pages are public; the star control asks anonymous visitors to log in.
"""

from django.core.paginator import Paginator
from django.http import Http404
from django.shortcuts import render

from catalog import selectors
from catalog.extensions import title_annotations, title_page_context, title_page_sections
from catalog.forms import SORT_CHOICES, TitleFilterForm
from catalog.models import Person, Title, title_type_label
from catalog.search import SEARCH_MAX_QUERY_LENGTH, SEARCH_RESULT_LIMIT, search_run
from imdbrec.extensions import stylesheets_of
from imdbrec.parsing import ascii_int, page_number
from imdbrec.ratelimits import rate_limited

HOME_LIST_SIZE = 12
BROWSE_PAGE_SIZE = 24
SEARCH_PAGE_SIZE = 20


def _with_user_scores(request, titles) -> list[Title]:
    """``titles`` as a list, annotated by the apps above (``user_score``: the member's stars, or None)."""
    titles = list(titles)
    title_annotations.collect(user=request.user, titles=titles)
    return titles


def _query_string_without_page(request) -> str:
    params = request.GET.copy()
    params.pop("page", None)
    return params.urlencode()


def home(request):
    top_rated = list(selectors.title_popular_list(by="rating", limit=HOME_LIST_SIZE))
    most_voted = list(
        selectors.title_popular_list(by="votes", limit=HOME_LIST_SIZE, exclude=[title.tconst for title in top_rated])
    )
    _with_user_scores(request, top_rated + most_voted)
    return render(
        request,
        "catalog/home.html",
        {"top_rated": top_rated, "most_voted": most_voted, "genres": selectors.browse_facets().genres},
    )


def title_list(request):
    facets = selectors.browse_facets()
    form = TitleFilterForm(request.GET, genres=facets.genres)
    filters = form.filters()
    paginator = selectors.CappedPaginator(selectors.title_browse(**filters), BROWSE_PAGE_SIZE)
    page = paginator.get_page(page_number(request.GET.get("page")))
    page.object_list = _with_user_scores(request, page.object_list)
    return render(
        request,
        "catalog/title_list.html",
        {
            "form": form,
            "filters": filters,
            "page_obj": page,
            "titles": page.object_list,
            "query_string": _query_string_without_page(request),
            "title_types": [(value, title_type_label(value)) for value in facets.title_types],
            "sort_choices": SORT_CHOICES,
            "selected_type_labels": [title_type_label(value) for value in filters["title_types"]],
        },
    )


@rate_limited("search")
def search(request):
    query = " ".join(request.GET.get("q", "").split())[:SEARCH_MAX_QUERY_LENGTH]
    # People on the first page only: a handful of names above the titles, as IMDb's own search.
    # They are searched on every page: a query that names a person well skips the long tail of
    # the title search (``search_run``), and every page must come from the same list of titles.
    outcome, people = search_run(query=query) if query else (None, [])
    hits = outcome.hits if outcome else []
    requested_page = page_number(request.GET.get("page"))
    people = people if requested_page == 1 else []
    paginator = Paginator(hits, SEARCH_PAGE_SIZE)
    page = paginator.get_page(requested_page)
    titles = _with_user_scores(request, selectors.title_in_bulk(hit.tconst for hit in page.object_list))
    hit_by_tconst = {hit.tconst: hit for hit in page.object_list}
    for title in titles:
        hit = hit_by_tconst[title.tconst]
        # Say which title matched when it is not the one displayed (an aka, an original title).
        title.matched_title = hit.matched_title if hit.matched_title != title.primary_title else ""
    page.object_list = titles
    return render(
        request,
        "catalog/search.html",
        {
            "query": query,
            "page_obj": page,
            "titles": titles,
            "result_count": paginator.count,
            "people": people,
            "result_limit": SEARCH_RESULT_LIMIT,
            "query_string": _query_string_without_page(request),
        },
    )


def title_detail(request, tconst: str):
    try:
        detail = selectors.title_detail(tconst=tconst, season=ascii_int(request.GET.get("season"), max_digits=4))
    except Title.DoesNotExist:
        raise Http404(f"No title {tconst}")
    title = detail.title
    on_page = [title] + [episode for _, episodes in detail.seasons for episode in episodes]
    if detail.parent:
        on_page.append(detail.parent)
    _with_user_scores(request, on_page)
    context = {
        "detail": detail,
        "title": title,
        "type_label": title_type_label(title.title_type),
    }
    for extra in title_page_context.collect(request=request, title=title):
        context.update(extra)
    # "More like this" and whatever else the apps above show on a title page.
    sections = title_page_sections.collect(request=request, title=title)
    context["sections"] = sections
    context["stylesheets"] = stylesheets_of(sections)
    return render(request, "catalog/title_detail.html", context)


def person_detail(request, nconst: str):
    try:
        detail = selectors.person_detail(nconst=nconst, page_number=page_number(request.GET.get("page")))
    except Person.DoesNotExist:
        raise Http404(f"No person {nconst}")
    _with_user_scores(request, detail.known_for)
    return render(
        request,
        "catalog/person_detail.html",
        {"detail": detail, "person": detail.person, "page_obj": detail.filmography, "query_string": ""},
    )
