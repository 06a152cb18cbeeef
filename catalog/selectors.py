"""Reads of the catalog: popular titles, browsing with filters, search, title and person pages.

Every function returns QuerySets or plain data built in a fixed, small number of queries, so the
pages that use them never issue a query per row. Titles flagged ``removed_at`` (gone from a newer
dump) and adult titles are left out of lists and search, but their own pages still open because
users' ratings point at them.

Cross-file references may dangle in a partial dump (a principal whose person is not in
name.basics, an episode whose series is missing). The foreign keys have no database constraint,
so every read here fetches the other side with a correlated subquery (a LEFT JOIN in effect)
instead of ``select_related`` (an INNER JOIN that would silently drop the row).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from itertools import groupby

from django.conf import settings
from django.core.paginator import Page, Paginator
from django.db import OperationalError, connection, transaction
from django.db.models import (
    Avg,
    Case,
    ExpressionWrapper,
    F,
    FloatField,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    Value,
    When,
)
from django.db.models.functions import Cast
from psycopg2.errors import QueryCanceled

from catalog.importing.datasets import DATASETS
from catalog.models import BROWSE_GENRES, Crew, ImportRun, Person, Principal, Title, TitleAka, TitleType
from catalog.regions import region_name

logger = logging.getLogger(__name__)

# IMDb's own Top 250 uses m = 25,000 votes: below that a title's mean is pulled towards the
# catalogue mean, so a 10/10 with 5 votes scores almost exactly the catalogue mean.
WEIGHTED_RATING_MIN_VOTES = getattr(settings, "CATALOG_WEIGHTED_RATING_MIN_VOTES", 25_000)
# Weight of popularity in the search score: 0.05 per factor of 10 in votes, so 600k votes add
# ~0.29 to a relevance in [0, 1]. Enough to lift the famous film over an obscure namesake with
# the same similarity, too little to lift an unrelated blockbuster over a close match.
SEARCH_POPULARITY_WEIGHT = 0.05
SEARCH_MAX_QUERY_LENGTH = 200
# A long-running series can have thousands of episodes; the title page lists this many.
EPISODE_LIMIT = 1000

# Types left out of the home page lists: single episodes and games are not what people browse for.
HOME_EXCLUDED_TYPES = ("tvEpisode", "videoGame")
CAST_CATEGORIES = ("actor", "actress", "self", "archive_footage")


def title_list() -> QuerySet[Title]:
    """Titles shown in lists: present in the latest dump and not adult."""
    return Title.objects.filter(removed_at__isnull=True, is_adult=False)


def title_weighted_rating(*, min_votes: int = WEIGHTED_RATING_MIN_VOTES) -> ExpressionWrapper:
    """The Bayesian average ``v/(v+m)·R + m/(v+m)·C`` as an ORM expression.

    ``R`` is the title's IMDb average, ``v`` its votes, ``m`` = ``min_votes`` and ``C`` the mean
    IMDb rating of all rated titles (a scalar subquery Postgres runs once per statement).
    Unrated titles get NULL and sort last.
    """
    catalogue_mean = Subquery(
        Title.objects.filter(num_votes__gt=0, average_rating__isnull=False)
        .order_by()
        .annotate(one=Value(1))
        .values("one")
        .annotate(mean=Avg("average_rating"))
        .values("mean")[:1],
        output_field=FloatField(),
    )
    votes = Cast("num_votes", FloatField())
    rating = Cast("average_rating", FloatField())
    m = Value(float(min_votes))
    return ExpressionWrapper(
        Case(
            When(
                num_votes__gt=0,
                average_rating__isnull=False,
                then=(votes / (votes + m)) * rating + (m / (votes + m)) * catalogue_mean,
            ),
            default=None,
        ),
        output_field=FloatField(),
    )


def title_popular_list(
    *, by: str = "rating", limit: int = 12, min_votes: int = WEIGHTED_RATING_MIN_VOTES, exclude: Iterable[str] = ()
):
    """The home page's lists: ``by="rating"`` (weighted rating) or ``by="votes"``, without the
    titles of ``exclude`` (the other shelf's: two shelves showing the same films say nothing)."""
    titles = title_list().exclude(title_type__in=HOME_EXCLUDED_TYPES).filter(num_votes__gt=0)
    exclude = list(exclude)
    if exclude:
        titles = titles.exclude(tconst__in=exclude)
    if by == "votes":
        return titles.order_by("-num_votes", "tconst")[:limit]
    return titles.annotate(weighted_rating=title_weighted_rating(min_votes=min_votes)).order_by(
        F("weighted_rating").desc(nulls_last=True), "-num_votes", "tconst"
    )[:limit]


@dataclass(frozen=True)
class BrowseFacets:
    """The genres and title types that have at least one listed title, in their usual order."""

    genres: list[str]
    title_types: list[str]


def browse_facets() -> BrowseFacets:
    """Which genre chips and type filters lead somewhere: the sample has no game show, so
    offering "Game-Show" would lead to an empty page. One query: an EXISTS per genre (the genres
    GIN index) and per type (the title_type index), each stopping at the first listed title."""
    genres = list(BROWSE_GENRES)
    title_types = list(TitleType.values)
    with connection.cursor() as cursor:
        cursor.execute(
            """
            SELECT 'genre', genre FROM unnest(%(genres)s::text[]) AS genre
             WHERE EXISTS (SELECT 1 FROM catalog_title t
                            WHERE t.genres @> ARRAY[genre]::varchar(32)[] AND NOT t.is_adult AND t.removed_at IS NULL)
            UNION ALL
            SELECT 'type', wanted FROM unnest(%(types)s::text[]) AS wanted
             WHERE EXISTS (SELECT 1 FROM catalog_title t
                            WHERE t.title_type = wanted AND NOT t.is_adult AND t.removed_at IS NULL)
            """,
            {"genres": genres, "types": title_types},
        )
        present = set(cursor.fetchall())
    return BrowseFacets(
        genres=[genre for genre in genres if ("genre", genre) in present],
        title_types=[value for value in title_types if ("type", value) in present],
    )


def title_browse(
    *,
    genres: Iterable[str] = (),
    year_min: int | None = None,
    year_max: int | None = None,
    title_types: Iterable[str] = (),
    min_votes: int | None = None,
    sort: str = "popularity",
) -> QuerySet[Title]:
    """Titles matching every given filter: all of ``genres``, the year range, any of
    ``title_types``, at least ``min_votes``; sorted by popularity (votes), weighted rating, year
    (newest first) or title. Ties break on ``tconst`` so pagination is stable."""
    titles = title_list()
    genres = list(genres)
    if genres:
        titles = titles.filter(genres__contains=genres)
    if year_min is not None:
        titles = titles.filter(start_year__gte=year_min)
    if year_max is not None:
        titles = titles.filter(start_year__lte=year_max)
    title_types = list(title_types)
    if title_types:
        titles = titles.filter(title_type__in=title_types)
    if min_votes:
        titles = titles.filter(num_votes__gte=min_votes)
    if sort == "rating":
        return titles.annotate(weighted_rating=title_weighted_rating()).order_by(
            F("weighted_rating").desc(nulls_last=True), "-num_votes", "tconst"
        )
    if sort == "year":
        return titles.order_by(F("start_year").desc(nulls_last=True), "-num_votes", "tconst")
    if sort == "title":
        return titles.order_by("primary_title", "start_year", "tconst")
    return titles.order_by("-num_votes", "tconst")


SEARCH_MAX_WORDS = 12


def _search_normalise(query: str) -> str:
    """Whitespace folded, repeated words dropped, at most ``SEARCH_MAX_WORDS`` words and
    ``SEARCH_MAX_QUERY_LENGTH`` characters. pg_trgm compares sets of trigrams made word by word, so
    a repeated word adds none and dropping it changes no similarity; ``"a b " × 50`` (a hostile
    query that cost seconds under load) becomes ``"a b"``."""
    words = list(dict.fromkeys(query.split()))[:SEARCH_MAX_WORDS]
    return " ".join(words)[:SEARCH_MAX_QUERY_LENGTH]


@dataclass(frozen=True)
class SearchHit:
    tconst: str
    exact_rank: int  # 2: the primary title is the query; 1: the original or an alternative title is
    relevance: float  # best trigram relevance in [0, 1] over primary, original and alternative titles
    score: float  # relevance + popularity
    matched_title: str  # the title text that matched best (may be an aka in another language)


# Candidates come from the three trigram indexes, with one operator (the index condition):
# ``column %> needle``: the query is similar to some run of words in the title (word_similarity at
# least pg_trgm.word_similarity_threshold); it finds "wizard of oz" in "The Wonderful Wizard of Oz"
# and "casablanka" in "Casablanca". Queries of four letters use ``column % needle`` (whole-string
# similarity) instead: as a word, "love" is in too many titles. Every column expression is exactly
# the indexed ``imdbrec_unaccent(column)`` and the needle folds to a constant, so the planner can
# use the indexes. Relevance of one title text = (similarity + word_similarity) / 2: 1 for an exact
# title, less for a title that contains the query among other words, less again for a typo.
_SEARCH_SQL = """
WITH hits AS (
    SELECT t.tconst,
           (similarity(public.imdbrec_unaccent(t.primary_title), {needle})
            + word_similarity({needle}, public.imdbrec_unaccent(t.primary_title))) / 2 AS relevance,
           CASE WHEN lower(public.imdbrec_unaccent(t.primary_title)) = lower({needle}) THEN 2 ELSE 0 END AS exact_rank,
           t.primary_title AS matched_title
      FROM catalog_title t
     WHERE public.imdbrec_unaccent(t.primary_title) {operator} {needle}
    UNION ALL
    SELECT t.tconst,
           (similarity(public.imdbrec_unaccent(t.original_title), {needle})
            + word_similarity({needle}, public.imdbrec_unaccent(t.original_title))) / 2,
           CASE WHEN lower(public.imdbrec_unaccent(t.original_title)) = lower({needle}) THEN 1 ELSE 0 END,
           t.original_title
      FROM catalog_title t
     WHERE public.imdbrec_unaccent(t.original_title) {operator} {needle}
    UNION ALL
    SELECT a.title_id,
           (similarity(public.imdbrec_unaccent(a.aka_title), {needle})
            + word_similarity({needle}, public.imdbrec_unaccent(a.aka_title))) / 2,
           CASE WHEN lower(public.imdbrec_unaccent(a.aka_title)) = lower({needle}) THEN 1 ELSE 0 END,
           a.aka_title
      FROM catalog_titleaka a
     WHERE a.removed_at IS NULL AND public.imdbrec_unaccent(a.aka_title) {operator} {needle}
), best AS (
    SELECT tconst,
           max(exact_rank) AS exact_rank,
           max(relevance) AS relevance,
           (array_agg(matched_title ORDER BY exact_rank DESC, relevance DESC))[1] AS matched_title
      FROM hits
     GROUP BY tconst
)
SELECT t.tconst, best.exact_rank, best.relevance,
       best.relevance + %(popularity_weight)s * log(1 + t.num_votes) AS score,
       best.matched_title
  FROM best
  JOIN catalog_title t ON t.tconst = best.tconst
 WHERE NOT t.is_adult AND t.removed_at IS NULL
 ORDER BY best.exact_rank DESC, score DESC, t.num_votes DESC, t.tconst
 LIMIT %(limit)s
"""
_EXACT_SQL = """
WITH hits AS (
    SELECT t.tconst, 2 AS exact_rank, t.primary_title AS matched_title
      FROM catalog_title t
     WHERE lower(public.imdbrec_unaccent(t.primary_title)) = lower({needle})
    UNION ALL
    SELECT t.tconst, 1, t.original_title
      FROM catalog_title t
     WHERE lower(public.imdbrec_unaccent(t.original_title)) = lower({needle})
    UNION ALL
    SELECT a.title_id, 1, a.aka_title
      FROM catalog_titleaka a
     WHERE a.removed_at IS NULL AND lower(public.imdbrec_unaccent(a.aka_title)) = lower({needle})
), best AS (
    SELECT tconst, max(exact_rank) AS exact_rank, (array_agg(matched_title ORDER BY exact_rank DESC))[1] AS matched_title
      FROM hits
     GROUP BY tconst
)
SELECT t.tconst, best.exact_rank, 1.0::float8 AS relevance,
       1.0 + %(popularity_weight)s * log(1 + t.num_votes) AS score,
       best.matched_title
  FROM best
  JOIN catalog_title t ON t.tconst = best.tconst
 WHERE NOT t.is_adult AND t.removed_at IS NULL
 ORDER BY best.exact_rank DESC, score DESC, t.num_votes DESC, t.tconst
 LIMIT %(limit)s
"""

# Trigram matching needs trigrams: a query shorter than this ("M", "Up", "Ran") is looked up as an
# exact title through the btree indexes of migration 0003, which is also what people mean by it.
SEARCH_FUZZY_MIN_LETTERS = 4
# Below this many letters a query is matched on whole-string similarity only: a short word such as
# "love" occurs in a large share of all titles, and rechecking every one of them is what makes a
# trigram search slow. Longer queries match as words inside longer titles.
SEARCH_WORD_MATCH_MIN_LETTERS = 5
# pg_trgm's thresholds, set for the search statement only. The index lets a row through when at
# least threshold × (the query's trigrams) of them occur in it, to be rechecked one by one: at the
# default 0.3 any title sharing "the" and "of" with "the wizard of oz" passes. Word similarity at
# 0.6 still accepts typos ("casablanka" 0.73, "citzen kane" 0.67) and keeps the rechecks few.
SEARCH_SIMILARITY_THRESHOLD = 0.45
SEARCH_WORD_SIMILARITY_THRESHOLD = 0.6
# A query made only of very common trigrams could still match a large share of a full dump: past
# this budget the search falls back to exact titles instead of keeping the page waiting.
SEARCH_TIMEOUT_MS = 3000
SEARCH_RESULT_LIMIT = 500


def _letters(query: str) -> int:
    return len(query.replace(" ", ""))


def title_search_sql(*, query: str, limit: int = SEARCH_RESULT_LIMIT, exact_only: bool = False) -> tuple[str, dict]:
    """The search statement and its parameters (exposed so tests and the README can EXPLAIN it).

    Run it with ``title_search_settings()`` applied, as ``title_search`` does."""
    query = _search_normalise(query)
    # An IMMUTABLE function of a constant: Postgres folds it while planning, so the index
    # conditions compare the indexed expression with a plain constant.
    needle = "public.imdbrec_unaccent(%(query)s)"
    params = {"query": query, "popularity_weight": SEARCH_POPULARITY_WEIGHT, "limit": limit}
    if exact_only or _letters(query) < SEARCH_FUZZY_MIN_LETTERS:
        return _EXACT_SQL.format(needle=needle), params
    # ``%%`` is ``%`` once the parameters are bound.
    operator = "%%>" if _letters(query) >= SEARCH_WORD_MATCH_MIN_LETTERS else "%%"
    return _SEARCH_SQL.format(needle=needle, operator=operator), params


def title_search_settings(cursor, *, timeout_ms: int = SEARCH_TIMEOUT_MS) -> None:
    """Set the search's pg_trgm thresholds and time budget for the current transaction only."""
    cursor.execute(
        "SELECT set_config('pg_trgm.similarity_threshold', %s, true),"
        " set_config('pg_trgm.word_similarity_threshold', %s, true),"
        " set_config('statement_timeout', %s, true)",
        [str(SEARCH_SIMILARITY_THRESHOLD), str(SEARCH_WORD_SIMILARITY_THRESHOLD), f"{int(timeout_ms)}ms"],
    )


def title_search(
    *, query: str, limit: int = SEARCH_RESULT_LIMIT, timeout_ms: int = SEARCH_TIMEOUT_MS
) -> list[SearchHit]:
    """The best ``limit`` titles whose primary, original or alternative title looks like
    ``query``, best first. Tolerant of case, accents (``imdbrec_unaccent``) and small typos
    (pg_trgm). Ranked:

    1. an exact primary-title match (case- and accent-insensitive) first, then an exact original
       or alternative title: "casablanca" puts the titles called Casablanca first;
    2. then by ``relevance + 0.05·log10(1 + votes)``: among equally good matches the famous one
       wins (Casablanca (1942) before Casablanca (1955)), but popularity cannot lift an unrelated
       title over a close match.

    Queries under four letters match exact titles only. A fuzzy search that runs past
    ``timeout_ms`` is cancelled by Postgres and answered with exact matches instead.
    Returns light hits; fetch the titles of one page with ``title_in_bulk``.
    """
    if not _search_normalise(query):
        return []
    sql, params = title_search_sql(query=query, limit=limit)
    try:
        with transaction.atomic(), connection.cursor() as cursor:
            title_search_settings(cursor, timeout_ms=timeout_ms)
            cursor.execute(sql, params)
            rows = cursor.fetchall()
    except OperationalError as error:
        if not isinstance(error.__cause__, QueryCanceled):
            raise
        logger.warning("search for %r took over %d ms; answering with exact titles", query, timeout_ms)
        with connection.cursor() as cursor:
            cursor.execute(*title_search_sql(query=query, limit=limit, exact_only=True))
            rows = cursor.fetchall()
    return [SearchHit(*row) for row in rows]


@dataclass(frozen=True)
class PersonHit:
    nconst: str
    name: str
    relevance: float  # trigram relevance of the name in [0, 1]; 1.0 for an exact name
    birth_year: int | None
    death_year: int | None
    primary_profession: list[str]


# People are found as titles are (see _SEARCH_SQL): the same operators and thresholds on the
# indexed ``imdbrec_unaccent(primary_name)`` of migration 0006, so "hitchcock" finds Alfred
# Hitchcock as a word of his name and "hichcock" still does. People have no votes: among equal
# names, the one with the most known-for titles (a rough measure of fame IMDb publishes) first.
_PERSON_SEARCH_SQL = """
SELECT p.nconst, p.primary_name,
       (similarity(public.imdbrec_unaccent(p.primary_name), {needle})
        + word_similarity({needle}, public.imdbrec_unaccent(p.primary_name))) / 2 AS relevance,
       p.birth_year, p.death_year, p.primary_profession
  FROM catalog_person p
 WHERE p.removed_at IS NULL AND public.imdbrec_unaccent(p.primary_name) {operator} {needle}
 ORDER BY lower(public.imdbrec_unaccent(p.primary_name)) = lower({needle}) DESC, relevance DESC,
          coalesce(cardinality(p.known_for_titles), 0) DESC, p.nconst
 LIMIT %(limit)s
"""
_PERSON_EXACT_SQL = """
SELECT p.nconst, p.primary_name, 1.0::float8, p.birth_year, p.death_year, p.primary_profession
  FROM catalog_person p
 WHERE p.removed_at IS NULL AND lower(public.imdbrec_unaccent(p.primary_name)) = lower({needle})
 ORDER BY coalesce(cardinality(p.known_for_titles), 0) DESC, p.nconst
 LIMIT %(limit)s
"""
PERSON_SEARCH_LIMIT = 8


def person_search_sql(*, query: str, limit: int = PERSON_SEARCH_LIMIT, exact_only: bool = False) -> tuple[str, dict]:
    """The people-search statement and its parameters (for tests and EXPLAIN)."""
    query = _search_normalise(query)
    needle = "public.imdbrec_unaccent(%(query)s)"
    params = {"query": query, "limit": limit}
    if exact_only or _letters(query) < SEARCH_FUZZY_MIN_LETTERS:
        return _PERSON_EXACT_SQL.format(needle=needle), params
    operator = "%%>" if _letters(query) >= SEARCH_WORD_MATCH_MIN_LETTERS else "%%"
    return _PERSON_SEARCH_SQL.format(needle=needle, operator=operator), params


def person_search(
    *, query: str, limit: int = PERSON_SEARCH_LIMIT, timeout_ms: int = SEARCH_TIMEOUT_MS
) -> list[PersonHit]:
    """The best ``limit`` people whose name looks like ``query``: an exact name first, then by
    trigram relevance. Tolerant of case, accents and small typos, with the title search's rules:
    under four letters exact names only; past ``timeout_ms``, exact names instead."""
    if not _search_normalise(query):
        return []
    sql, params = person_search_sql(query=query, limit=limit)
    try:
        with transaction.atomic(), connection.cursor() as cursor:
            title_search_settings(cursor, timeout_ms=timeout_ms)
            cursor.execute(sql, params)
            rows = cursor.fetchall()
    except OperationalError as error:
        if not isinstance(error.__cause__, QueryCanceled):
            raise
        logger.warning("people search for %r took over %d ms; answering with exact names", query, timeout_ms)
        with connection.cursor() as cursor:
            cursor.execute(*person_search_sql(query=query, limit=limit, exact_only=True))
            rows = cursor.fetchall()
    return [PersonHit(*row) for row in rows]


def title_in_bulk(tconsts: Iterable[str]) -> list[Title]:
    """The titles among ``tconsts`` that exist, in the order given, in one query."""
    tconsts = list(tconsts)
    found = Title.objects.in_bulk(tconsts)
    return [found[tconst] for tconst in tconsts if tconst in found]


# --- title page -------------------------------------------------------------------------------


def _person_name(person_column: str = "person_id") -> Subquery:
    return Subquery(Person.objects.filter(nconst=OuterRef(person_column)).values("primary_name")[:1])


@dataclass
class CrewMember:
    nconst: str
    name: str | None  # None: the person is not in the catalogue (a dangling reference)


@dataclass
class CastMember:
    nconst: str
    name: str | None
    category: str
    characters: list[str]
    job: str


@dataclass
class TitleDetail:
    """Everything the title page shows, gathered in six queries or fewer."""

    title: Title
    parent: Title | None = None  # for an episode: its series, when it is in the catalogue
    parent_tconst: str | None = None
    season_number: int | None = None
    episode_number: int | None = None
    directors: list[CrewMember] = field(default_factory=list)
    writers: list[CrewMember] = field(default_factory=list)
    cast: list[CastMember] = field(default_factory=list)
    other_principals: list[CastMember] = field(default_factory=list)
    akas_by_region: list[tuple[str, list[TitleAka]]] = field(default_factory=list)
    seasons: list[tuple[int | None, list[Title]]] = field(default_factory=list)
    episode_count: int = 0
    episodes_truncated: bool = False  # more than EPISODE_LIMIT episodes: only the first are listed

    @property
    def is_series(self) -> bool:
        return self.title.title_type in ("tvSeries", "tvMiniSeries") or bool(self.seasons)


def title_detail(*, tconst: str) -> TitleDetail:
    """The title and everything around it; raises ``Title.DoesNotExist`` for an unknown id."""
    title = Title.objects.annotate(
        parent_tconst=F("episode__parent_id"),
        season=F("episode__season_number"),
        episode_no=F("episode__episode_number"),
    ).get(tconst=tconst)
    detail = TitleDetail(
        title=title, parent_tconst=title.parent_tconst, season_number=title.season, episode_number=title.episode_no
    )
    if title.parent_tconst:
        detail.parent = Title.objects.filter(tconst=title.parent_tconst).first()

    for member in (
        Crew.objects.filter(title_id=tconst, removed_at__isnull=True)
        .annotate(name=_person_name())
        .order_by("role", "ordering", "person_id")
        .values("person_id", "name", "role")
    ):
        target = detail.directors if member["role"] == Crew.Role.DIRECTOR else detail.writers
        target.append(CrewMember(nconst=member["person_id"], name=member["name"]))

    for principal in (
        Principal.objects.filter(title_id=tconst, removed_at__isnull=True)
        .annotate(name=_person_name())
        .order_by("ordering")
        .values("person_id", "name", "category", "characters", "job")
    ):
        cast_member = CastMember(
            nconst=principal["person_id"],
            name=principal["name"],
            category=principal["category"],
            characters=principal["characters"] or [],
            job=principal["job"],
        )
        (detail.cast if principal["category"] in CAST_CATEGORIES else detail.other_principals).append(cast_member)

    akas = TitleAka.objects.filter(title_id=tconst, removed_at__isnull=True).order_by("region", "ordering")
    detail.akas_by_region = [(region, list(rows)) for region, rows in groupby(akas, key=lambda aka: aka.region)]
    # By the region's name as shown; regionless entries (IMDb's "original" title) last.
    detail.akas_by_region.sort(key=lambda pair: (pair[0] == "", region_name(pair[0]).casefold()))

    if title.title_type in ("tvSeries", "tvMiniSeries") or title.parent_tconst is None:
        episodes = list(
            Title.objects.filter(episode__parent_id=tconst)
            .annotate(season=F("episode__season_number"), number=F("episode__episode_number"))
            .order_by(F("season").asc(nulls_last=True), F("number").asc(nulls_last=True), "start_year", "tconst")[
                : EPISODE_LIMIT + 1
            ]
        )
        detail.episodes_truncated = len(episodes) > EPISODE_LIMIT
        episodes = episodes[:EPISODE_LIMIT]
        detail.episode_count = len(episodes)
        detail.seasons = [(season, list(rows)) for season, rows in groupby(episodes, key=lambda ep: ep.season)]
    return detail


# --- person page ------------------------------------------------------------------------------

# A filmography page: big careers (a prolific director has hundreds of credits) are paged.
FILMOGRAPHY_PAGE_SIZE = 50


@dataclass
class Credit:
    """One credit of a person on a title: "Director", "Writer", or a principal's category with the
    characters played or the job done."""

    label: str
    characters: list[str] = field(default_factory=list)
    job: str = ""


@dataclass
class PersonDetail:
    person: Person
    known_for: list[Title]
    # The page's titles, newest first, each with ``credits``: list[Credit] (crew credits first).
    filmography: Page
    # Titles credited per kind across the whole career: {"Director": 61, "Writer": 12, "Actor": 3}.
    credit_counts: dict[str, int] = field(default_factory=dict)


def _person_credit_titles(nconst: str) -> QuerySet[Title]:
    """Every title ``nconst`` is credited on, as a principal (title.principals) or as a director or
    writer (title.crew, which names the directors and writers principals often leave out)."""
    as_principal = Principal.objects.filter(person_id=nconst, removed_at__isnull=True).values("title_id")
    as_crew = Crew.objects.filter(person_id=nconst, removed_at__isnull=True).values("title_id")
    return Title.objects.filter(Q(tconst__in=as_principal) | Q(tconst__in=as_crew))


def person_detail(*, nconst: str, page_number=1, page_size: int = FILMOGRAPHY_PAGE_SIZE) -> PersonDetail:
    """The person, their known-for titles (those in the catalogue) and one page of their credits
    from title.crew (directed, written) and title.principals, newest first. Six queries whatever
    the career's length. Raises ``Person.DoesNotExist`` for an unknown id."""
    person = Person.objects.get(nconst=nconst)
    known_for = list(Title.objects.filter(tconst__in=person.known_for_titles or []).order_by("-num_votes", "tconst"))
    titles = _person_credit_titles(nconst).order_by(F("start_year").desc(nulls_last=True), "primary_title", "tconst")
    page = Paginator(titles, page_size).get_page(page_number)
    page.object_list = list(page.object_list)
    shown = [title.tconst for title in page.object_list]
    credits: dict[str, list[Credit]] = {tconst: [] for tconst in shown}
    for tconst, role in (
        Crew.objects.filter(person_id=nconst, title_id__in=shown, removed_at__isnull=True)
        .order_by("role")
        .values_list("title_id", "role")
    ):
        credits[tconst].append(Credit(label=_credit_label(role)))
    for tconst, category, characters, job in (
        Principal.objects.filter(person_id=nconst, title_id__in=shown, removed_at__isnull=True)
        .order_by("ordering")
        .values_list("title_id", "category", "characters", "job")
    ):
        label = _credit_label(category)
        # title.principals repeats many directors and writers: one credit, the crew's, is enough.
        if any(credit.label == label for credit in credits[tconst]):
            continue
        credits[tconst].append(Credit(label=label, characters=characters or [], job=job))
    for title in page.object_list:
        title.credits = credits[title.tconst]  # type: ignore[attr-defined]  # shown by the template
    return PersonDetail(
        person=person,
        known_for=known_for,
        filmography=page,
        credit_counts=_person_credit_counts(nconst),
    )


def _credit_label(category: str) -> str:
    """ "Director", "Writer", "Actress", "Archive footage": a crew role or a principal's category."""
    return category.replace("_", " ").capitalize()


def _person_credit_counts(nconst: str) -> dict[str, int]:
    """Distinct titles per kind of credit over the whole career, crew roles first."""
    with connection.cursor() as cursor:
        cursor.execute(
            """
            SELECT category, count(DISTINCT title_id) FROM (
                SELECT title_id, role AS category, 0 AS kind
                  FROM catalog_crew WHERE person_id = %(nconst)s AND removed_at IS NULL
                UNION ALL
                SELECT title_id, category, 1
                  FROM catalog_principal WHERE person_id = %(nconst)s AND removed_at IS NULL
            ) credits
            GROUP BY category ORDER BY min(kind), count(DISTINCT title_id) DESC, category
            """,
            {"nconst": nconst},
        )
        return {_credit_label(category): count for category, count in cursor.fetchall()}


def import_run_list() -> QuerySet[ImportRun]:
    """Import runs, newest first."""
    return ImportRun.objects.order_by("-created_at")


def table_row_estimates() -> list[dict]:
    """Rows per catalog table from Postgres' statistics (the importer ANALYZEs after each load).

    ``count(*)`` would scan millions of rows, and would wait behind a first load that holds
    the table; the estimate is instant and exact for small tables.
    """
    tables = [(dataset.name, dataset.table) for dataset in DATASETS]
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT relname, greatest(reltuples, 0)::bigint FROM pg_class WHERE relname = ANY(%s) AND relkind = 'r'",
            [[table for _name, table in tables]],
        )
        rows = dict(cursor.fetchall())
    return [{"file": name, "table": table, "rows": rows.get(table, 0)} for name, table in tables]
