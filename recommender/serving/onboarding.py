"""Cold start: what a new user sees before the model knows them, and how they get known quickly.

A new user picks favourite genres (stored in ``User.favourite_genres``) and rates well-known titles
shown in small groups by genre and decade, in the spirit of MovieLens' group picks. Each rating is
folded into the active model at once (``recommender.serving.foldin``); after
``RECOMMENDER_UNLOCK_RATINGS`` ratings (default 5) the recommendations page is personal. Until
then it shows the fallback: titles popular in the picked genres, ordered by the weighted IMDb rating
the catalog stores (``Title.weighted_rating``), which does not let a 10/10 from five votes win.

Titles offered for rating come, when a model is active, from the titles that model knows: a rating
of a title the model has never seen cannot move the user's factors.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from django.conf import settings
from django.core.cache import cache
from django.core.exceptions import ValidationError
from django.db import connection, transaction

from catalog.models import Title
from ratings.models import Rating

if TYPE_CHECKING:
    from accounts.models import User

GROUP_SIZE = 6
GROUP_COUNT = 8
# Titles with fewer votes are not "well known" enough to rate from memory.
WELL_KNOWN_MIN_VOTES = 1000
# Titles with fewer votes are left out of the fallback: a handful of votes says little.
FALLBACK_MIN_VOTES = 100
GENRES_PICK_MAX = 8
# Genres that describe a format rather than a taste are not offered as picks.
NON_TASTE_GENRES = {"Adult", "News", "Talk-Show", "Reality-TV", "Game-Show", "Short"}


POPULAR_GENERATION_KEY = "recommender:popular:generation"
CACHE_KEYS = (
    "recommender:onboarding:genres:v1",
    "recommender:onboarding:min-votes:v1",
)


def onboarding_cache_clear() -> None:
    """Forget the cached genre list, constants and popular lists (after an import; tests)."""
    cache.delete_many(list(CACHE_KEYS))
    try:
        cache.incr(POPULAR_GENERATION_KEY)  # every popular list's key changes
    except ValueError:
        cache.set(POPULAR_GENERATION_KEY, 1, None)


def unlock_threshold() -> int:
    """How many ratings a user needs before their recommendations are personal."""
    return getattr(settings, "RECOMMENDER_UNLOCK_RATINGS", 5)


@dataclass
class OnboardingProgress:
    rated: int
    needed: int

    @property
    def remaining(self) -> int:
        return max(0, self.needed - self.rated)

    @property
    def unlocked(self) -> bool:
        return self.remaining == 0

    @property
    def fraction(self) -> float:
        return min(1.0, self.rated / self.needed) if self.needed else 1.0

    @property
    def percent(self) -> int:
        return round(self.fraction * 100)

    @property
    def message(self) -> str:
        if self.unlocked:
            return "Your recommendations are unlocked — every rating keeps sharpening them."
        return f"Rate {self.remaining} more title{'s' if self.remaining != 1 else ''} to unlock recommendations."


@dataclass
class TitleGroup:
    genre: str
    decade: int
    titles: list[Title] = field(default_factory=list)

    @property
    def label(self) -> str:
        return f"{self.genre} of the {self.decade}s"

    @property
    def slug(self) -> str:
        return f"{self.genre.lower()}-{self.decade}"


def onboarding_progress(*, user: User) -> OnboardingProgress:
    return OnboardingProgress(rated=Rating.objects.filter(user=user).count(), needed=unlock_threshold())


def genre_choices() -> list[str]:
    """Genres users can pick: those of well-voted titles, most common first (cached for an hour)."""
    key = "recommender:onboarding:genres:v1"
    genres = cache.get(key)
    if genres is None:
        with connection.cursor() as cursor:
            cursor.execute(
                """
                SELECT genre, count(*) FROM (
                    SELECT unnest(genres) AS genre FROM catalog_title
                    WHERE removed_at IS NULL AND num_votes >= %s AND NOT is_adult
                ) AS g GROUP BY genre ORDER BY count(*) DESC, genre
                """,
                [FALLBACK_MIN_VOTES],
            )
            genres = [genre for genre, _ in cursor.fetchall() if genre not in NON_TASTE_GENRES]
        cache.set(key, genres, 3600)
    return genres


@transaction.atomic
def onboarding_genres_set(*, user: User, genres: list[str]) -> list[str]:
    """Store the genres ``user`` picked; unknown genres or too many are refused and nothing changes."""
    genres = list(dict.fromkeys(genre.strip() for genre in genres if genre and genre.strip()))
    if len(genres) > GENRES_PICK_MAX:
        raise ValidationError("Pick at most %(max)d genres.", code="too_many_genres", params={"max": GENRES_PICK_MAX})
    known = set(genre_choices())
    unknown = [genre for genre in genres if genre not in known]
    if unknown:
        raise ValidationError("Unknown genre: %(genres)s.", code="unknown_genre", params={"genres": ", ".join(unknown)})
    user.favourite_genres = genres
    user.clean_fields(exclude=[f.name for f in user._meta.fields if f.name != "favourite_genres"])
    user.save(update_fields=["favourite_genres"])
    return genres


def _active_run_id() -> int | None:
    from recommender.models import ModelRun

    return ModelRun.objects.filter(is_active=True).values_list("pk", flat=True).first()


def onboarding_groups(
    *, user: User, count: int = GROUP_COUNT, size: int = GROUP_SIZE, offset: int = 0
) -> list[TitleGroup]:
    """Groups of well-known titles by (genre, decade) for ``user`` to rate, the picked genres first.

    Titles the user already rated, put on the watchlist or marked "not interested" are left out.
    A title appears in one group only. ``offset`` skips that many groups ("show other titles").
    """
    run_id = _active_run_id()
    picked = list(user.favourite_genres or [])
    known_clause = (
        "AND EXISTS (SELECT 1 FROM recommender_titlefactor f WHERE f.run_id = %(run)s AND f.title_id = t.tconst)"
        if run_id
        else ""
    )
    # Rank titles by votes inside each (genre, decade); groups are ordered by whether the genre was
    # picked, then by how well known their titles are, so the first groups are the easiest to rate.
    sql = f"""
        WITH candidates AS (
            SELECT t.tconst, g.genre, (t.start_year / 10) * 10 AS decade, t.num_votes
            FROM catalog_title t CROSS JOIN LATERAL unnest(t.genres) AS g(genre)
            WHERE t.removed_at IS NULL AND NOT t.is_adult AND t.start_year IS NOT NULL
              AND t.num_votes >= %(min_votes)s AND t.title_type IN ('movie', 'tvSeries', 'tvMiniSeries')
              AND NOT g.genre = ANY(%(skip)s)
              AND NOT EXISTS (SELECT 1 FROM ratings_rating r WHERE r.user_id = %(user)s AND r.title_id = t.tconst)
              AND NOT EXISTS (SELECT 1 FROM ratings_watchlistitem w WHERE w.user_id = %(user)s AND w.title_id = t.tconst)
              AND NOT EXISTS (SELECT 1 FROM ratings_notinterested n WHERE n.user_id = %(user)s AND n.title_id = t.tconst)
              {known_clause}
        ), ranked AS (
            SELECT *, row_number() OVER (PARTITION BY genre, decade ORDER BY num_votes DESC, tconst) AS position
            FROM candidates
        )
        SELECT genre, decade, array_agg(tconst ORDER BY position), sum(num_votes)
        FROM ranked WHERE position <= %(take)s
        GROUP BY genre, decade
        HAVING count(*) >= %(min_size)s
        ORDER BY (genre = ANY(%(picked)s)) DESC, sum(num_votes) DESC, genre, decade
    """
    min_votes = _well_known_min_votes()
    with connection.cursor() as cursor:
        cursor.execute(
            sql,
            {
                "min_votes": min_votes,
                "skip": list(NON_TASTE_GENRES),
                "user": user.pk,
                "run": run_id,
                # Take more than a group needs: a title shared by two groups is shown only once.
                "take": size * 3,
                "min_size": min(size, 3),
                "picked": picked,
            },
        )
        rows = cursor.fetchall()
    groups: list[TitleGroup] = []
    used: set[str] = set()
    skipped = 0
    for genre, decade, tconsts, _ in rows:
        chosen = [tconst for tconst in tconsts if tconst not in used][:size]
        if len(chosen) < min(size, 3):
            continue
        if skipped < offset:
            skipped += 1
            used.update(chosen)
            continue
        used.update(chosen)
        groups.append(TitleGroup(genre=genre, decade=decade, titles=chosen))
        if len(groups) >= count:
            break
    titles = Title.objects.in_bulk([tconst for group in groups for tconst in group.titles])
    for group in groups:
        group.titles = [titles[tconst] for tconst in group.titles if tconst in titles]
    return groups


def _well_known_min_votes() -> int:
    """``WELL_KNOWN_MIN_VOTES``, lowered on a small catalog so there is always something to rate."""
    key = "recommender:onboarding:min-votes:v1"
    value = cache.get(key)
    if value is None:
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT count(*) FROM catalog_title WHERE num_votes >= %s AND removed_at IS NULL",
                [WELL_KNOWN_MIN_VOTES],
            )
            enough = cursor.fetchone()[0] >= GROUP_SIZE * GROUP_COUNT * 2
        value = WELL_KNOWN_MIN_VOTES if enough else 1
        cache.set(key, value, 600)
    return value


POPULAR_POOL = 300  # ranked titles kept per genre set; a user's exclusions are taken out of these


def popular_in_genres(*, user: User, genres: list[str] | None = None, limit: int = 24) -> list[Title]:
    """The cold-start fallback: titles in ``genres`` (default: the user's picks; all when none),
    best first by weighted IMDb rating (``Title.weighted_rating``, the catalog's own, as its
    "highest rated" sort), without titles the user rated or dismissed.

    The ranking itself is the same for everyone who picked the same genres: it is computed once
    and cached for ten minutes (a sort over every well-voted title of the catalogue); only the
    user's exclusions are applied per request.
    """
    genres = sorted(set(genres if genres is not None else (user.favourite_genres or [])))
    key = f"recommender:popular:v2:{cache.get(POPULAR_GENERATION_KEY, 0)}:" + "|".join(genres)
    ranked = cache.get(key)
    if ranked is None:
        with connection.cursor() as cursor:
            cursor.execute(
                f"""
                SELECT t.tconst
                FROM catalog_title t
                WHERE t.removed_at IS NULL AND NOT t.is_adult AND t.weighted_rating IS NOT NULL
                  AND t.num_votes >= %(min_votes)s AND t.title_type IN ('movie', 'tvSeries', 'tvMiniSeries')
                  {"AND t.genres && %(genres)s::varchar[]" if genres else ""}
                ORDER BY t.weighted_rating DESC, t.num_votes DESC, t.tconst
                LIMIT %(pool)s
                """,
                {"min_votes": FALLBACK_MIN_VOTES, "genres": genres, "pool": POPULAR_POOL},
            )
            ranked = [tconst for (tconst,) in cursor.fetchall()]
        cache.set(key, ranked, 600)
    with connection.cursor() as cursor:
        cursor.execute(
            """
            SELECT title_id FROM ratings_rating WHERE user_id = %(u)s AND title_id = ANY(%(t)s)
            UNION SELECT title_id FROM ratings_watchlistitem WHERE user_id = %(u)s AND title_id = ANY(%(t)s)
            UNION SELECT title_id FROM ratings_notinterested WHERE user_id = %(u)s AND title_id = ANY(%(t)s)
            """,
            {"u": user.pk, "t": ranked},
        )
        excluded = {row[0] for row in cursor.fetchall()}
    ranked = [tconst for tconst in ranked if tconst not in excluded][:limit]
    titles = Title.objects.in_bulk(ranked)
    return [titles[tconst] for tconst in ranked if tconst in titles]
