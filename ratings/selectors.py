"""Reads of ratings, watchlists and "not interested" marks, a user's rating statistics, and the
synthetic crowd's jobs."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

from django.core.cache import cache
from django.db import connection
from django.db.models import Avg, Count, F, Func, Max, QuerySet
from django.db.models.functions import TruncMonth

from ratings.dates import plausible_rating_dates
from ratings.models import MemberImportRun, NotInterested, Rating, SyntheticRun, WatchlistItem

if TYPE_CHECKING:
    from accounts.models import User

RATER_COUNTS_CACHE_KEY = "ratings:system:rater-counts"
# Counting millions of ratings takes a second; the system page may show numbers this old.
RATER_COUNTS_CACHE_SECONDS = 30
# accounts.User.Kind's values of the community raters (compared in SQL, so no import of the model)
RATER_KINDS = ("synthetic", "movielens")

# History sort keys offered to users -> ORM ordering (ties broken by title so pages are stable).
RATING_HISTORY_ORDERINGS: dict[str, list] = {
    "-date": ["-updated_at", "title__primary_title"],
    "date": ["updated_at", "title__primary_title"],
    "-score": ["-score", "-updated_at", "title__primary_title"],
    "score": ["score", "-updated_at", "title__primary_title"],
    "title": ["title__primary_title", "title__start_year"],
    "-title": ["-title__primary_title", "-title__start_year"],
    "-year": [F("title__start_year").desc(nulls_last=True), "title__primary_title"],
    "year": [F("title__start_year").asc(nulls_last=True), "title__primary_title"],
}


def _signed_in(user) -> bool:
    return user is not None and getattr(user, "is_authenticated", False)


def rating_scores_for_user(*, user: User, tconsts: Iterable[str]) -> dict[str, int]:
    """``{tconst: score}`` for the titles among ``tconsts`` that ``user`` rated, in one query.

    Anonymous users get ``{}`` without a query, so cards can call this unconditionally.
    """
    tconsts = list(dict.fromkeys(tconsts))
    if not _signed_in(user) or not tconsts:
        return {}
    return dict(Rating.objects.filter(user=user, title_id__in=tconsts).values_list("title_id", "score"))


def watchlist_tconsts_for_user(*, user: User, tconsts: Iterable[str]) -> set[str]:
    """The subset of ``tconsts`` on ``user``'s watchlist, in one query."""
    tconsts = list(dict.fromkeys(tconsts))
    if not _signed_in(user) or not tconsts:
        return set()
    return set(WatchlistItem.objects.filter(user=user, title_id__in=tconsts).values_list("title_id", flat=True))


def not_interested_tconsts_for_user(*, user: User, tconsts: Iterable[str]) -> set[str]:
    tconsts = list(dict.fromkeys(tconsts))
    if not _signed_in(user) or not tconsts:
        return set()
    return set(NotInterested.objects.filter(user=user, title_id__in=tconsts).values_list("title_id", flat=True))


def excluded_tconsts_for_user(*, user: User) -> QuerySet:
    """Titles recommendations must leave out for ``user``: rated, on the watchlist or not interested.

    A values_list QuerySet of tconsts, usable as a subquery (``.exclude(tconst__in=...)``).
    """
    rated = Rating.objects.filter(user=user).values_list("title_id", flat=True)
    watchlist = WatchlistItem.objects.filter(user=user).values_list("title_id", flat=True)
    not_interested = NotInterested.objects.filter(user=user).values_list("title_id", flat=True)
    return rated.union(watchlist, not_interested)


def rating_history_for_user(
    *, user: User, sort: str = "-date", score: int | None = None, genre: str | None = None
) -> QuerySet[Rating]:
    """``user``'s ratings with their titles, sorted by one of ``RATING_HISTORY_ORDERINGS``."""
    ratings = Rating.objects.filter(user=user).select_related("title")
    if score is not None:
        ratings = ratings.filter(score=score)
    if genre:
        ratings = ratings.filter(title__genres__contains=[genre])
    return ratings.order_by(*RATING_HISTORY_ORDERINGS.get(sort, RATING_HISTORY_ORDERINGS["-date"]))


def rating_genres_for_user(*, user: User) -> list[str]:
    """The genres of the titles ``user`` rated, alphabetically (for the history's genre filter)."""
    genres = (
        Rating.objects.filter(user=user)
        .annotate(genre=Func(F("title__genres"), function="unnest"))
        .values_list("genre", flat=True)
        .distinct()
    )
    return sorted(genres)


def watchlist_for_user(*, user: User) -> QuerySet[WatchlistItem]:
    return WatchlistItem.objects.filter(user=user).select_related("title").order_by("-created_at", "title_id")


def not_interested_for_user(*, user: User) -> QuerySet[NotInterested]:
    return NotInterested.objects.filter(user=user).select_related("title").order_by("-created_at", "title_id")


STATISTICS_CACHE_SECONDS = 600


def rating_statistics_for_user(*, user: User) -> dict:
    """``rating_statistics_compute`` for ``user``, cached under the state of their ratings.

    The key is the user, the number of their ratings and the latest change (one small indexed
    query), and the day (the plausible dates end today): any rating change makes a new key, a
    repeat view costs that query and a cache read, and a member has one live entry.
    """
    state = Rating.objects.filter(user=user).aggregate(count=Count("id"), latest=Max("updated_at"))
    latest = state["latest"].timestamp() if state["latest"] else 0
    key = f"ratings:stats:v1:{user.pk}:{state['count']}:{latest}:{plausible_rating_dates()[1].isoformat()}"
    stats = cache.get(key)
    if stats is None:
        stats = rating_statistics_compute(user=user)
        cache.set(key, stats, STATISTICS_CACHE_SECONDS)
    return stats


def rating_statistics_compute(*, user: User) -> dict:
    """Everything the statistics page shows, computed in a handful of grouped queries.

    Returns ``count``, ``average`` (None when no ratings), ``distribution`` ([(score, count)] for
    1..5), ``by_genre`` ([{genre, count, average}] most rated first), ``by_month``
    ([(date of month start, count, average)]), ``by_decade`` ([{decade, count, average}] in
    chronological order) and ``favourite_decades`` (decades by average, ties by count, at least
    two ratings each when possible).
    """
    ratings = Rating.objects.filter(user=user)
    totals = ratings.aggregate(count=Count("id"), average=Avg("score"))
    counts = dict(ratings.values("score").annotate(n=Count("id")).values_list("score", "n"))
    distribution = [(score, counts.get(score, 0)) for score in range(1, 6)]

    by_genre = [
        {"genre": row["genre"], "count": row["count"], "average": float(row["average"])}
        for row in ratings.annotate(genre=Func(F("title__genres"), function="unnest"))
        .values("genre")
        .annotate(count=Count("id"), average=Avg("score"))
        .order_by("-count", "-average", "genre")
    ]
    # Only plausible dates draw the timeline: a rating dated year 1 or 9999 (imported before imports
    # checked dates) would stretch it to thousands of empty yearly bars.
    by_month = [
        (row["month"].date(), row["count"], float(row["average"]))
        for row in ratings.filter(updated_at__date__range=plausible_rating_dates())
        .annotate(month=TruncMonth("updated_at"))
        .values("month")
        .annotate(count=Count("id"), average=Avg("score"))
        .order_by("month")
    ]
    by_decade = [
        {"decade": row["decade"], "count": row["count"], "average": float(row["average"])}
        for row in ratings.filter(title__start_year__isnull=False)
        .annotate(decade=F("title__start_year") / 10 * 10)
        .values("decade")
        .annotate(count=Count("id"), average=Avg("score"))
        .order_by("decade")
    ]
    well_rated = [row for row in by_decade if row["count"] >= 2] or by_decade
    favourite_decades = sorted(well_rated, key=lambda row: (-row["average"], -row["count"], row["decade"]))
    return {
        "count": totals["count"],
        "average": float(totals["average"]) if totals["average"] is not None else None,
        "distribution": distribution,
        "by_genre": by_genre,
        "by_month": by_month,
        "by_decade": by_decade,
        "favourite_decades": favourite_decades,
    }


def rating_profile_summary_for_user(*, user: User) -> dict:
    """The few numbers the profile page shows: ratings, average, favourite genre, list sizes."""
    if not _signed_in(user):
        return {"count": 0, "average": None, "top_genre": None, "watchlist": 0, "not_interested": 0, "last_rated": None}
    ratings = Rating.objects.filter(user=user)
    totals = ratings.aggregate(count=Count("id"), average=Avg("score"))
    top_genre = (
        ratings.annotate(genre=Func(F("title__genres"), function="unnest"))
        .values("genre")
        .annotate(count=Count("id"), average=Avg("score"))
        .filter(count__gte=2)
        .order_by("-average", "-count", "genre")
        .first()
    )
    last = ratings.select_related("title").order_by("-updated_at").first()
    return {
        "count": totals["count"],
        "average": float(totals["average"]) if totals["average"] is not None else None,
        "top_genre": top_genre["genre"] if top_genre else None,
        "watchlist": WatchlistItem.objects.filter(user=user).count(),
        "not_interested": NotInterested.objects.filter(user=user).count(),
        "last_rated": last,
    }


def synthetic_run_list() -> QuerySet[SyntheticRun]:
    """The synthetic crowd's jobs, newest first."""
    return SyntheticRun.objects.order_by("-created_at", "-pk")


def synthetic_run_current() -> SyntheticRun | None:
    """The latest synthetic-users job (queued, running or finished), or None."""
    return synthetic_run_list().first()


def rater_counts() -> dict:
    """Users and ratings of synthetic and MovieLens users, per kind and persona, with totals.

    ``{"rows": [{"kind", "persona", "users", "ratings"}], "synthetic": {"users", "ratings"},
    "movielens": {...}}``, cached for ``RATER_COUNTS_CACHE_SECONDS``.
    """
    counts = cache.get(RATER_COUNTS_CACHE_KEY)
    if counts is not None:
        return counts
    with connection.cursor() as cursor:
        cursor.execute(
            """SELECT u.kind, u.persona, count(*), coalesce(sum(r.n), 0)
               FROM accounts_user u
               LEFT JOIN (SELECT user_id, count(*) AS n FROM ratings_rating GROUP BY user_id) r ON r.user_id = u.id
               WHERE u.kind = ANY(%s) GROUP BY u.kind, u.persona ORDER BY u.kind DESC, u.persona""",
            [list(RATER_KINDS)],
        )
        rows = [
            {"kind": kind, "persona": persona, "users": users, "ratings": int(ratings)}
            for kind, persona, users, ratings in cursor.fetchall()
        ]
    counts = {
        "rows": rows,
        **{
            kind: {
                "users": sum(r["users"] for r in rows if r["kind"] == kind),
                "ratings": sum(r["ratings"] for r in rows if r["kind"] == kind),
            }
            for kind in RATER_KINDS
        },
    }
    cache.set(RATER_COUNTS_CACHE_KEY, counts, RATER_COUNTS_CACHE_SECONDS)
    return counts


def rater_counts_forget() -> None:
    cache.delete(RATER_COUNTS_CACHE_KEY)


# --- member imports ---------------------------------------------------------------------------

MEMBER_IMPORT_STATUSES = [
    ("", "All"),
    ("matched", "Matched"),
    ("ambiguous", "Ambiguous"),
    ("not_found", "Not found"),
    ("duplicate", "Duplicate"),
]


def member_import_list_for_user(*, user: User) -> QuerySet[MemberImportRun]:
    """The member's imports, newest first, without the uploaded bytes."""
    return MemberImportRun.objects.filter(user=user).defer("upload", "rows").order_by("-created_at")


def member_import_report_rows(*, run: MemberImportRun, status: str = "") -> list[dict]:
    """The report's rows (one per film), optionally only those with ``status``."""
    rows = MemberImportRun.objects.filter(pk=run.pk).values_list("rows", flat=True).first() or []
    return [row for row in rows if not status or row["status"] == status]


# Fewer members than this and an average or a share says more about one person than about the
# members: the title page then shows only how many rated it.
MEMBER_RATINGS_MIN = 5


def title_member_ratings(*, tconst: str) -> dict:
    """The site's own members' ratings of one title (only ``kind="site"`` users: not the synthetic
    crowd or MovieLens raters the model learns from): count, and — with at least
    ``MEMBER_RATINGS_MIN`` members — the average and how many gave each star value. One query."""
    rows = dict(
        Rating.objects.filter(title_id=tconst, user__kind="site")
        .values_list("score")
        .annotate(count=Count("pk"))
        .values_list("score", "count")
    )
    count = sum(rows.values())
    summary: dict = {"count": count, "enough": count >= MEMBER_RATINGS_MIN, "minimum": MEMBER_RATINGS_MIN}
    if summary["enough"]:
        summary["average"] = sum(score * number for score, number in rows.items()) / count
        largest = max(rows.values())
        summary["distribution"] = [
            {
                "stars": stars,
                "count": rows.get(stars, 0),
                "share": rows.get(stars, 0) / count,
                "width": round(100 * rows.get(stars, 0) / largest),
            }
            for stars in range(5, 0, -1)
        ]
    return summary
