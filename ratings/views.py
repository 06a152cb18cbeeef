"""Rating in place, the user's history, statistics, watchlist, "not interested" list and IMDb import.

Views are thin: they parse the request with a form, call one selector or service, and render.
The star control (``includes/_stars.html``) posts here; ``static/js/site.js`` sends it with
``X-Requested-With: XMLHttpRequest`` and swaps in the fragment returned, while a plain post (no
JavaScript) is redirected back to the page it came from.
"""

import csv
import io
from urllib.parse import urlencode

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.http import HttpResponse, JsonResponse, StreamingHttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_exempt, csrf_protect
from django.views.decorators.http import require_POST

from catalog.models import Title
from imdbrec.extensions import stylesheets_of
from imdbrec.parsing import page_number
from imdbrec.queueing import BackgroundUnavailable
from imdbrec.ratelimits import rate_limited
from ratings import charts, member_stats, selectors, services
from ratings.extensions import stats_sections, year_review_sections
from ratings.forms import ImdbRatingsUploadForm, RatingForm, RatingHistoryFilterForm
from ratings.imdb_csv import IMDB_SCORE_RULE
from ratings.letterboxd import upload_kind
from ratings.member_export import member_export_zip
from ratings.member_imports import SCORE_RULE as HALF_STAR_RULE
from ratings.member_imports import imdb_import_start, member_import_start
from ratings.models import MemberImportRun
from ratings.uploads import UploadLimitHandler

HISTORY_PAGE_SIZE = 50
EXPORT_CHUNK_ROWS = 500
LIST_PAGE_SIZE = 48


def _is_ajax(request) -> bool:
    return request.headers.get("x-requested-with") == "XMLHttpRequest"


def _safe_next(request, fallback: str) -> str:
    candidate = request.POST.get("next") or request.GET.get("next") or ""
    if candidate and url_has_allowed_host_and_scheme(
        candidate, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return candidate
    return fallback


def _error(request, status: int, message: str) -> HttpResponse:
    """A short text answer for scripts (site.js shows it), a full page for browsers."""
    if _is_ajax(request):
        return HttpResponse(message, status=status, content_type="text/plain; charset=utf-8")
    return render(request, "ratings/error.html", {"status": status, "message": message}, status=status)


def _title_or_none(tconst: str) -> Title | None:
    return Title.objects.filter(tconst=tconst).first()


def _form_errors(form) -> str:
    return " ".join(str(message) for errors in form.errors.values() for message in errors)


def _login_required_post(request):
    """Anonymous posts: scripts get a 403 with a message (a redirect would swap in the login page)."""
    if _is_ajax(request):
        return _error(request, 403, "Log in to rate and keep lists.")
    return redirect_to_login(_safe_next(request, request.get_full_path()))


@require_POST
def title_rate(request, tconst: str):
    """POST ``score`` 1-5 to rate; an empty ``score`` or ``remove=1`` removes the rating."""
    if not request.user.is_authenticated:
        return _login_required_post(request)
    title = _title_or_none(tconst)
    if title is None:
        return _error(request, 404, f"There is no title “{tconst}” in the catalogue; nothing was saved.")
    form = RatingForm(request.POST)
    if not form.is_valid():
        return _error(request, 400, _form_errors(form) + " Nothing was saved.")
    try:
        if form.removes:
            removed = services.rating_remove(user=request.user, title=title)
            user_score = None
            notice = f"Removed your rating of {title}." if removed else f"You had not rated {title}."
        else:
            user_score = services.rating_set(user=request.user, title=title, score=form.cleaned_data["score"]).score
            notice = f"You rated {title} {user_score} star{'s' if user_score != 1 else ''}."
    except ValidationError as error:
        return _error(request, 400, " ".join(error.messages) + " Nothing was saved.")
    next_url = _safe_next(request, title.get_absolute_url())
    if _is_ajax(request):
        return render(
            request, "includes/_stars.html", {"title": title, "user_score": user_score, "stars_next": next_url}
        )
    messages.success(request, notice)
    return redirect(next_url)


def _list_toggle(request, tconst: str, *, add, remove, added: str, removed: str):
    if not request.user.is_authenticated:
        return _login_required_post(request)
    title = _title_or_none(tconst)
    if title is None:
        return _error(request, 404, f"There is no title “{tconst}” in the catalogue; nothing was saved.")
    action = request.POST.get("action", "add")
    if action not in ("add", "remove"):
        return _error(request, 400, f"Unknown action “{action}”: use add or remove. Nothing was saved.")
    if action == "add":
        add(user=request.user, title=title)
        notice = added.format(title=title)
    else:
        remove(user=request.user, title=title)
        notice = removed.format(title=title)
    if _is_ajax(request):
        return HttpResponse(notice, content_type="text/plain; charset=utf-8")
    messages.success(request, notice)
    return redirect(_safe_next(request, title.get_absolute_url()))


@require_POST
def title_watchlist(request, tconst: str):
    """POST ``action`` add (default) or remove."""
    return _list_toggle(
        request,
        tconst,
        add=services.watchlist_add,
        remove=services.watchlist_remove,
        added="Added {title} to your watchlist.",
        removed="Removed {title} from your watchlist.",
    )


@require_POST
def title_not_interested(request, tconst: str):
    """POST ``action`` add (default) or remove."""
    return _list_toggle(
        request,
        tconst,
        add=services.not_interested_add,
        remove=services.not_interested_remove,
        added="{title} will not be recommended to you.",
        removed="{title} may be recommended to you again.",
    )


# A cell a spreadsheet would run as a formula ("=HYPERLINK(...)", "+1", "@SUM") is exported with
# a leading apostrophe, which spreadsheets show as text (OWASP's advice for CSV injection).
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def _cell(value):
    return f"'{value}" if isinstance(value, str) and value.startswith(FORMULA_STARTS) else value


def _history_csv(ratings, filename: str) -> StreamingHttpResponse:
    """The member's ratings as CSV, streamed: rows are read 2,000 at a time with a server-side
    cursor and written as they come, so memory stays flat whatever the count. Streamed rather
    than a file written by a worker: a member's ratings are bounded (imports take at most
    ``MAX_RATINGS_IMPORT_ROWS`` at a time), 4,541 rows take about 0.05 s of CPU, and the
    per-member and per-address rate limits (``export``) bound how often; a worker, a file store
    and a download step would cost more than they save at that size."""

    buffer = io.StringIO()
    writer = csv.writer(buffer)

    def flushed() -> str:
        text = buffer.getvalue()
        buffer.seek(0)
        buffer.truncate()
        return text

    def rows():
        writer.writerow(["tconst", "title", "year", "title_type", "genres", "score", "rated_at", "imdb_rating", "url"])
        # Plain tuples, not model instances: 4,541 rows cost 0.025 s of CPU instead of 0.066 s (measured).
        columns = ratings.values_list(
            "title_id",
            "title__primary_title",
            "title__start_year",
            "title__title_type",
            "title__genres",
            "score",
            "updated_at",
            "title__average_rating",
        )
        # Sent 500 rows a chunk: one chunk a row made the response (and the gzip middleware, which
        # compresses and flushes each chunk) hundreds of times slower to stream.
        for number, (tconst, primary_title, year, title_type, genres, score, rated_at, average) in enumerate(
            columns.iterator(chunk_size=2000), start=1
        ):
            writer.writerow(
                [
                    tconst,
                    _cell(primary_title),
                    year or "",
                    title_type,
                    ",".join(genres),
                    score,
                    rated_at.isoformat(),
                    average if average is not None else "",
                    f"https://www.imdb.com/title/{tconst}/",
                ]
            )
            if number % EXPORT_CHUNK_ROWS == 0:
                yield flushed()
        yield flushed()

    response = StreamingHttpResponse(rows(), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


# (heading, sort key or None, first direction when clicked, CSS class)
HISTORY_COLUMNS = [
    ("Title", "title", "", ""),
    ("Year", "year", "-", "num"),
    ("Genres", None, "", "col-genres"),
    ("Your score", "score", "-", ""),
    ("Rated", "date", "-", ""),
]


def _history_columns(kept: dict, current_sort: str) -> list[dict]:
    """Column headings; a sortable one links to its sort, flipping direction when already active."""
    filters = {key: value for key, value in kept.items() if key != "sort"}
    columns = []
    for label, key, first_direction, css_class in HISTORY_COLUMNS:
        column = {"label": label, "css_class": css_class, "url": None, "aria_sort": None}
        if key:
            if current_sort == key:
                column["aria_sort"], next_sort = "ascending", f"-{key}"
            elif current_sort == f"-{key}":
                column["aria_sort"], next_sort = "descending", key
            else:
                next_sort = f"{first_direction}{key}"
            column["url"] = "?" + urlencode({**filters, "sort": next_sort})
        columns.append(column)
    return columns


def _wants_csv(request) -> bool:
    return request.GET.get("format") == "csv"


@login_required
@rate_limited("export", when=_wants_csv)
def history(request):
    """The user's ratings: sortable, filterable by score and genre, paginated; ``?format=csv`` exports."""
    genres = selectors.rating_genres_for_user(user=request.user)
    form = RatingHistoryFilterForm(request.GET or None, genres=genres)
    filters = form.cleaned_data if form.is_valid() else {}
    if request.GET and not form.is_valid():
        messages.warning(request, "Some filters were not understood and were ignored: " + _form_errors(form))
    ratings = selectors.rating_history_for_user(
        user=request.user,
        sort=filters.get("sort") or "-date",
        score=filters.get("score"),
        genre=filters.get("genre") or None,
    )
    if _wants_csv(request):
        return _history_csv(ratings, f"imdbrec-ratings-{request.user.username}.csv")
    page = Paginator(ratings, HISTORY_PAGE_SIZE).get_page(page_number(request.GET.get("page")))
    kept = {key: value for key, value in filters.items() if value not in (None, "")}
    current_sort = filters.get("sort") or "-date"
    return render(
        request,
        "ratings/history.html",
        {
            "form": form,
            "page_obj": page,
            "ratings": page.object_list,
            "query_string": urlencode(kept),
            "csv_query_string": urlencode({**kept, "format": "csv"}),
            "current_sort": current_sort,
            "columns": _history_columns(kept, current_sort),
            "total": page.paginator.count,
            "filtered": bool(kept.keys() - {"sort"}),
        },
    )


@login_required
@rate_limited("stats")
def statistics(request):
    stats = selectors.rating_statistics_for_user(user=request.user)
    sections = stats_sections.collect(request=request)
    context = {"stats": stats, "charts": charts.statistics_charts(stats), "sections": sections}
    context.update(_people_and_year(request))
    all_sections = sections + context["year_sections"]
    return render(request, "ratings/stats.html", {**context, "stylesheets": stylesheets_of(all_sections)})


def _people_and_year(request) -> dict:
    """Top people by the member's ratings and the year in review (``?year=``, else the latest)."""
    user = request.user
    people = [
        {
            "role": role,
            "label": label,
            "rows": (rows := member_stats.top_people_for_user(user=user, role=role)),
            "chart": member_stats.people_chart(rows, role=role) if rows else "",
        }
        for role, label in member_stats.ROLES.items()
    ]
    years = member_stats.rating_years_for_user(user=user)
    known = [row["year"] for row in years]
    asked = request.GET.get("year", "")
    year = int(asked) if asked.isascii() and asked.isdigit() and int(asked) in known else (known[0] if known else None)
    review = member_stats.year_review_for_user(user=user, year=year) if year else None
    year_sections = year_review_sections.collect(request=request, year=year) if year else []
    return {
        "people": people,
        "people_min_count": member_stats.PEOPLE_MIN_COUNT,
        "year_people_min_count": member_stats.YEAR_PEOPLE_MIN_COUNT,
        "years": years,
        "review": review,
        "review_charts": member_stats.year_review_charts(review) if review else {},
        "year_sections": year_sections,
    }


def _title_list_page(request, items, template: str, extra: dict):
    page = Paginator(items, LIST_PAGE_SIZE).get_page(page_number(request.GET.get("page")))
    tconsts = [item.title_id for item in page.object_list]
    scores = selectors.rating_scores_for_user(user=request.user, tconsts=tconsts)
    rows = [{"item": item, "title": item.title, "user_score": scores.get(item.title_id)} for item in page.object_list]
    return render(request, template, {"page_obj": page, "rows": rows, **extra})


@login_required
def watchlist(request):
    return _title_list_page(request, selectors.watchlist_for_user(user=request.user), "ratings/watchlist.html", {})


@login_required
def not_interested(request):
    return _title_list_page(
        request, selectors.not_interested_for_user(user=request.user), "ratings/not_interested.html", {}
    )


@login_required
@rate_limited("import", methods=("POST",))
@csrf_exempt  # checked by _imdb_import, once the upload handlers are set (Django's documented way)
def imdb_import(request):
    """Upload an export: IMDb's ratings CSV is imported here and now up to
    ``MEMBER_IMPORT_INLINE_ROWS`` rows; a larger one, a Letterboxd export (ZIP or CSV) or an imdbID
    ratings file starts a member import run, whose page shows its progress and report.

    The upload stops being read as soon as it is over a limit (``ratings.uploads``)."""
    request.upload_handlers.insert(0, UploadLimitHandler(request))
    return _imdb_import(request)


@csrf_protect
def _imdb_import(request):
    report = None
    if request.method == "POST":
        form = ImdbRatingsUploadForm(request.POST, request.FILES)
        refused = getattr(request, "upload_refused", "")
        if refused:
            form.is_valid()
            form.errors.clear()
            form.add_error("file", refused)
        elif form.is_valid():
            upload = form.cleaned_data["file"]
            try:
                if upload_kind(upload) == "imdb":
                    outcome = imdb_import_start(user=request.user, upload=upload)
                    if isinstance(outcome, MemberImportRun):  # a large file: on a worker
                        return redirect("ratings:import_run", run_id=outcome.pk)
                    report = outcome
                else:
                    run = member_import_start(user=request.user, upload=upload)
                    return redirect("ratings:import_run", run_id=run.pk)
            except ValidationError as error:
                for message in error.messages:
                    form.add_error("file", message)
            except BackgroundUnavailable as error:
                form.add_error("file", str(error))
        status = 400 if form.errors else 200
    else:
        form = ImdbRatingsUploadForm()
        status = 200
    context = {
        "form": form,
        "report": report,
        "score_rule": IMDB_SCORE_RULE,
        "half_star_rule": HALF_STAR_RULE,
        "max_rows": settings.MAX_RATINGS_IMPORT_ROWS,
        "runs": selectors.member_import_list_for_user(user=request.user)[:5],
    }
    return render(request, "ratings/import.html", context, status=status)


IMPORT_REPORT_PAGE_SIZE = 50


@never_cache
@login_required
def import_run_progress(request, run_id: int):
    """The run's progress as JSON for ``site.js``'s poller (``data-progress-url``)."""
    run = get_object_or_404(selectors.member_import_list_for_user(user=request.user), pk=run_id)
    return JsonResponse(
        {"progress": run.progress, "message": run.progress_message, "status": run.status, "done": not run.is_unfinished}
    )


@login_required
def import_run(request, run_id: int):
    """One import's progress (the page refreshes itself while it runs) and its paginated report."""
    run = get_object_or_404(selectors.member_import_list_for_user(user=request.user), pk=run_id)
    status = request.GET.get("status", "")
    rows = selectors.member_import_report_rows(run=run, status=status)
    page = Paginator(rows, IMPORT_REPORT_PAGE_SIZE).get_page(page_number(request.GET.get("page")))
    context = {
        "run": run,
        "summary": run.summary,
        "page_obj": page,
        "rows": page.object_list,
        "status_filter": status,
        "status_choices": selectors.MEMBER_IMPORT_STATUSES,
        "query_string": urlencode({"status": status}) if status else "",
        "half_star_rule": HALF_STAR_RULE,
    }
    return render(request, "ratings/import_run.html", context)


@login_required
@rate_limited("export")
def member_export(request):
    """Everything the member keeps here as one ZIP (``ratings.member_export``)."""
    data = member_export_zip(user=request.user)
    stamp = timezone.now().strftime("%Y-%m-%d")
    response = HttpResponse(data, content_type="application/zip")
    response["Content-Disposition"] = f'attachment; filename="imdbrec-{request.user.username}-{stamp}.zip"'
    response["Cache-Control"] = "private, no-store"
    return response
