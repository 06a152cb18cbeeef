"""The statistics members ask for beyond the basic charts: top people and a year in review.

- ``top_people_for_user``: the directors, writers and actors whose titles the member rated, by
  the member's average score, each with at least ``min_count`` rated titles (one great film is
  not a favourite director); ties go to the one rated more often.
- ``year_review_for_user``: for one calendar year of ratings (the day a rating was given, which
  imports set from the file's dates): titles rated, average, month by month, favourite genres and
  people, the best rated titles, and — from the apps above, through
  ``ratings.extensions.year_review_sections`` — how often the recommender's prediction was close.

Plain reads (selectors) of ratings and the catalog's credits, one query each; the charts are the
statistics page's server-drawn SVG (``ratings.charts``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.db import connection
from django.db.models import Count
from django.db.models.functions import ExtractYear
from django.utils.safestring import SafeString

from ratings import charts
from ratings.models import Rating

if TYPE_CHECKING:
    from accounts.models import User

PEOPLE_MIN_COUNT = 3
YEAR_PEOPLE_MIN_COUNT = 2
PEOPLE_SHOWN = 10
ROLES = {
    "director": "Directors",
    "writer": "Writers",
    "actor": "Actors",
}

# Directors and writers come from title.crew, actors from title.principals (billed cast).
_CREDITS = {
    "director": "SELECT title_id, person_id FROM catalog_crew WHERE role = 'director' AND removed_at IS NULL",
    "writer": "SELECT title_id, person_id FROM catalog_crew WHERE role = 'writer' AND removed_at IS NULL",
    "actor": (
        "SELECT DISTINCT title_id, person_id FROM catalog_principal"
        " WHERE category IN ('actor', 'actress') AND removed_at IS NULL"
    ),
}

_PEOPLE_SQL = """
SELECT p.nconst, p.primary_name, count(*) AS rated, avg(r.score)::float8 AS average,
       (array_agg(t.primary_title ORDER BY r.score DESC, t.num_votes DESC))[1] AS best
  FROM ratings_rating r
  JOIN ({credits}) AS credit ON credit.title_id = r.title_id
  JOIN catalog_person p ON p.nconst = credit.person_id
  JOIN catalog_title t ON t.tconst = r.title_id
 WHERE r.user_id = %(user)s {year_filter}
 GROUP BY p.nconst, p.primary_name
HAVING count(*) >= %(min_count)s
 ORDER BY avg(r.score) DESC, count(*) DESC, p.primary_name
 LIMIT %(limit)s
"""


def top_people_for_user(
    *, user: User, role: str, min_count: int = PEOPLE_MIN_COUNT, limit: int = PEOPLE_SHOWN, year: int | None = None
) -> list[dict]:
    """The member's best-liked people in ``role`` (director, writer, actor), best first."""
    year_filter = "AND extract(year FROM r.created_at AT TIME ZONE 'UTC') = %(year)s" if year else ""
    with connection.cursor() as cursor:
        cursor.execute(
            _PEOPLE_SQL.format(credits=_CREDITS[role], year_filter=year_filter),
            {"user": user.pk, "min_count": min_count, "limit": limit, "year": year},
        )
        return [
            {"nconst": nconst, "name": name, "count": count, "average": average, "best": best}
            for nconst, name, count, average, best in cursor.fetchall()
        ]


def rating_years_for_user(*, user: User) -> list[dict]:
    """The years the member rated in (UTC), newest first, with how many ratings each."""
    rows = (
        Rating.objects.filter(user=user)
        .annotate(year=ExtractYear("created_at"))
        .values("year")
        .annotate(count=Count("id"))
        .order_by("-year")
    )
    return [dict(row) for row in rows]


def year_review_for_user(*, user: User, year: int) -> dict:
    """One year of the member's ratings (see the module docstring); ``count`` 0 when there are none."""
    with connection.cursor() as cursor:
        cursor.execute(
            """
            SELECT count(*), avg(score)::float8 FROM ratings_rating
             WHERE user_id = %s AND extract(year FROM created_at AT TIME ZONE 'UTC') = %s
            """,
            [user.pk, year],
        )
        count, average = cursor.fetchone()
        cursor.execute(
            """
            SELECT extract(month FROM created_at AT TIME ZONE 'UTC')::int, count(*) FROM ratings_rating
             WHERE user_id = %s AND extract(year FROM created_at AT TIME ZONE 'UTC') = %s
             GROUP BY 1 ORDER BY 1
            """,
            [user.pk, year],
        )
        months = dict(cursor.fetchall())
        cursor.execute(
            """
            SELECT genre, count(*), avg(r.score)::float8
              FROM ratings_rating r JOIN catalog_title t ON t.tconst = r.title_id, unnest(t.genres) AS genre
             WHERE r.user_id = %s AND extract(year FROM r.created_at AT TIME ZONE 'UTC') = %s
             GROUP BY genre ORDER BY count(*) DESC, avg(r.score) DESC, genre LIMIT 8
            """,
            [user.pk, year],
        )
        genres = [{"genre": genre, "count": n, "average": avg} for genre, n, avg in cursor.fetchall()]
    best = list(
        Rating.objects.filter(user=user, created_at__year=year)
        .select_related("title")
        .order_by("-score", "-title__average_rating", "-title__num_votes", "title_id")[:10]
    )
    return {
        "year": year,
        "count": count,
        "average": average,
        "by_month": [(month, months.get(month, 0)) for month in range(1, 13)],
        "genres": genres,
        "directors": top_people_for_user(
            user=user, role="director", min_count=YEAR_PEOPLE_MIN_COUNT, limit=5, year=year
        ),
        "actors": top_people_for_user(user=user, role="actor", min_count=YEAR_PEOPLE_MIN_COUNT, limit=5, year=year),
        "best": best,
    }


MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]


def people_chart(people: list[dict], *, role: str) -> SafeString:
    """Each person's average score (out of 5), with the number of titles rated."""
    return charts.bar_chart(
        [charts.Bar(row["name"], row["average"], f"{row['average']:.1f}★ · {row['count']}") for row in people],
        chart_id=f"chart-people-{role}",
        title=f"{ROLES[role]} by your average score",
        max_value=5,
    )


def year_review_charts(review: dict) -> dict[str, SafeString]:
    if not review["count"]:
        return {}
    return {
        "months": charts.column_chart(
            [charts.Bar(MONTHS[month - 1], count, str(count)) for month, count in review["by_month"]],
            chart_id="chart-year-months",
            title=f"Ratings per month in {review['year']}",
        ),
        "genres": charts.bar_chart(
            [
                charts.Bar(row["genre"], row["count"], f"{row['count']} · avg {row['average']:.1f}")
                for row in review["genres"]
            ],
            chart_id="chart-year-genres",
            title=f"Genres you rated most in {review['year']}",
        ),
    }
