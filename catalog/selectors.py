"""Reads of the catalog: popular titles, browsing with filters, title and person pages (search is
in ``catalog.search``).

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

import hashlib
import json
import logging
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import cached_property
from itertools import groupby

from django.conf import settings
from django.core.cache import cache
from django.core.paginator import EmptyPage, Page, Paginator
from django.db import OperationalError, connection, transaction
from django.db.models import (
    F,
    OuterRef,
    QuerySet,
    Subquery,
)
from psycopg2.errors import QueryCanceled

from catalog.importing.datasets import DATASETS
from catalog.models import BROWSE_GENRES, Crew, ImportRun, Person, Principal, Title, TitleAka, TitleType
from catalog.regions import region_name

logger = logging.getLogger(__name__)

# A long-running series can have thousands of episodes; the title page lists this many.
EPISODE_LIMIT = 1000
# Browsing counts and pages at most settings.CATALOG_BROWSE_MAX_RESULTS titles (CappedPaginator).

# Types left out of the home page lists: single episodes and games are not what people browse for.
HOME_EXCLUDED_TYPES = ("tvEpisode", "videoGame")
CAST_CATEGORIES = ("actor", "actress", "self", "archive_footage")


def title_list() -> QuerySet[Title]:
    """Titles shown in lists: present in the latest dump and not adult."""
    return Title.objects.filter(removed_at__isnull=True, is_adult=False)


# Above this many titles (Postgres' estimate) a "big catalogue": which genres have titles is read
# from the cache instead of computed on every request (a few hundred ms at full size). It moves
# only when an import changes titles; CATALOGUE_CACHE_SECONDS late is invisible.
CATALOGUE_BIG_MIN_TITLES = 1_000_000
CATALOGUE_CACHE_SECONDS = 600
_catalogue_size: dict[str, float] = {}


def catalogue_is_big() -> bool:
    """Whether the catalogue has CATALOGUE_BIG_MIN_TITLES titles or more, by Postgres' estimate,
    checked at most once a minute per process (it changes with a first import only)."""
    if time.monotonic() - _catalogue_size.get("checked_at", -1e9) > 60:
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT greatest(reltuples, 0) FROM pg_class WHERE relname = 'catalog_title' AND relkind = 'r'"
            )
            row = cursor.fetchone()
        _catalogue_size.update(titles=float(row[0]) if row else 0.0, checked_at=time.monotonic())
    return _catalogue_size["titles"] >= CATALOGUE_BIG_MIN_TITLES


def _by_weighted_rating(titles: QuerySet[Title]) -> QuerySet[Title]:
    """``titles`` best first by weighted rating (``Title.weighted_rating``, the Bayesian average
    the database stores), then votes; unrated titles last. The partial index
    ``catalog_title_browse_rating`` holds exactly this order, so a page reads its rows off it."""
    return titles.order_by(F("weighted_rating").desc(nulls_last=True), "-num_votes", "tconst")


def title_popular_list(*, by: str = "rating", limit: int = 12, exclude: Iterable[str] = ()):
    """The home page's lists: ``by="rating"`` (weighted rating) or ``by="votes"``, without the
    titles of ``exclude`` (the other shelf's: two shelves showing the same films say nothing)."""
    titles = title_list().exclude(title_type__in=HOME_EXCLUDED_TYPES).filter(num_votes__gt=0)
    exclude = list(exclude)
    if exclude:
        titles = titles.exclude(tconst__in=exclude)
    if by == "votes":
        return titles.order_by("-num_votes", "tconst")[:limit]
    return _by_weighted_rating(titles)[:limit]


@dataclass(frozen=True)
class BrowseFacets:
    """The genres and title types that have at least one listed title, in their usual order."""

    genres: list[str]
    title_types: list[str]


def browse_facets() -> BrowseFacets:
    """Which genre chips and type filters lead somewhere: the sample has no game show, so
    offering "Game-Show" would lead to an empty page. One query: an EXISTS per genre (the genres
    GIN index) and per type (the title_type index), each stopping at the first listed title. A GIN
    index has no plain scan, so each genre's EXISTS builds the bitmap of all its titles first:
    millions at full size, so a big catalogue's facets come from the cache."""
    if catalogue_is_big():
        facets = cache.get_or_set("catalog:browse-facets", _browse_facets, CATALOGUE_CACHE_SECONDS)
        return facets if isinstance(facets, BrowseFacets) else _browse_facets()
    return _browse_facets()


def _browse_facets() -> BrowseFacets:
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
        return _by_weighted_rating(titles)
    if sort == "year":
        return titles.order_by(F("start_year").desc(nulls_last=True), "-num_votes", "tconst")
    if sort == "title":
        return titles.order_by("primary_title", "start_year", "tconst")
    return titles.order_by("-num_votes", "tconst")


class CappedPaginator(Paginator):
    """A paginator whose count is bounded in rows and in time, whatever the table's size.

    * **Rows**: it counts at most ``cap`` rows (``SELECT count(*) FROM (… LIMIT cap + 1)``,
      ``settings.CATALOG_BROWSE_MAX_RESULTS``): Drama alone is millions of titles at full size.
      ``capped`` says there are more than ``count`` ("10,000+"); the pages stop at ``cap``, the
      deepest one a user can reach.
    * **Time**: a selective filter (a genre, a type, a span of years and a minimum of votes) may
      match only a few thousand titles and still make that count read hundreds of thousands of
      index entries and rows to find them (1.1 s at full size). So the count runs under a
      ``statement_timeout`` of ``settings.CATALOG_BROWSE_COUNT_TIMEOUT_MS``; when Postgres
      cancels it, the count is the planner's estimate of the filtered query (``EXPLAIN``, about
      a millisecond), ``estimated`` is set and the page says "about 7,400 titles". A page past
      the real end, which an estimate too high lets a user ask for, is simply empty (the
      template says the list ended). The filters whose count timed out are remembered for
      ``CATALOGUE_CACHE_SECONDS`` so that later requests do not spend the budget again.

    Exact counts for small results, a bound for large ones and an estimate when counting would
    be slow: what big Django sites do for lists of millions of rows (the admin's
    ``show_full_result_count = False``, timed counts that fall back to Postgres' estimate), instead
    of a ``count(*)`` on each request."""

    def __init__(
        self, object_list: QuerySet, per_page: int, *, cap: int | None = None, timeout_ms: int | None = None, **kwargs
    ):
        super().__init__(object_list, per_page, **kwargs)
        self.queryset = object_list
        self.cap = settings.CATALOG_BROWSE_MAX_RESULTS if cap is None else cap
        self.timeout_ms = settings.CATALOG_BROWSE_COUNT_TIMEOUT_MS if timeout_ms is None else timeout_ms
        self.estimated = False

    @cached_property
    def slow_key(self) -> str:
        """The cache key that remembers these filters' count as too slow to run."""
        sql, params = self.queryset.order_by().query.sql_with_params()
        return f"catalog:browse-count-slow:{self.cap}:" + hashlib.sha256(f"{sql}|{params!r}".encode()).hexdigest()

    @cached_property
    def _counted(self) -> int:
        limited = self.queryset.order_by()[: self.cap + 1]
        if not self.timeout_ms:
            return limited.count()
        if cache.get(self.slow_key) is None:
            counted = _count_within(limited, self.timeout_ms)
            if counted is not None:
                return counted
            cache.set(self.slow_key, True, CATALOGUE_CACHE_SECONDS)
        self.estimated = True
        return _rows_estimate(self.queryset.order_by())

    @cached_property
    def count(self) -> int:
        return max(0, min(self._counted, self.cap))

    def validate_number(self, number) -> int:
        """As Django's; with an estimated count, any page down to the cap's deepest: the estimate
        may be low, and the page itself finds where the list ends."""
        try:
            return super().validate_number(number)
        except EmptyPage:
            deepest = max(1, -(-self.cap // self.per_page))
            if self.estimated and 1 < int(number) <= deepest:
                return int(number)
            raise

    def page(self, number) -> Page:
        """A page; with an estimated count, a full page whatever the estimate (one row more is
        read to know whether another page follows), and the count corrected by what the page
        shows: past the estimate when more rows follow, exact when the list ends on it."""
        number = self.validate_number(number)
        if not self.estimated:
            return super().page(number)
        bottom = (number - 1) * self.per_page
        rows = list(self.object_list[bottom : bottom + self.per_page + 1])
        if len(rows) > self.per_page:
            if bottom + self.per_page >= self.count and bottom + self.per_page < self.cap:
                self._count_set(bottom + self.per_page + 1)
        elif rows or number == 1:  # the list ends on this page: now the count is known
            self._count_set(bottom + len(rows))
            self.estimated = False
        return Page(rows[: self.per_page], number, self)

    def _count_set(self, count: int) -> None:
        self.__dict__["count"] = min(count, self.cap)
        self.__dict__.pop("num_pages", None)

    @property
    def capped(self) -> bool:
        return self._counted > self.cap


def _count_within(queryset: QuerySet, timeout_ms: int) -> int | None:
    """``queryset.count()``, or None when it takes more than ``timeout_ms`` (Postgres cancels it).
    The timeout is set for the count's own transaction; inside an outer one (a savepoint, whose
    ``SET LOCAL`` would outlive it) it is put back as it was."""
    try:
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(
                "SELECT current_setting('statement_timeout'), set_config('statement_timeout', %s, true)",
                [f"{int(timeout_ms)}ms"],
            )
            before = cursor.fetchone()[0]
            counted = queryset.count()
            cursor.execute("SELECT set_config('statement_timeout', %s, true)", [before])
            return counted
    except OperationalError as error:
        if isinstance(error.__cause__, QueryCanceled):
            return None
        raise


def _rows_estimate(queryset: QuerySet) -> int:
    """The planner's estimate of the rows ``queryset`` returns (``EXPLAIN``, nothing executed)."""
    sql, params = queryset.query.sql_with_params()
    with connection.cursor() as cursor:
        cursor.execute("EXPLAIN (FORMAT JSON) " + sql, params)
        plan = cursor.fetchone()[0]
    if isinstance(plan, str):
        plan = json.loads(plan)
    return int(plan[0]["Plan"]["Plan Rows"])


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
    episode_count: int = 0  # of the whole series
    episodes_truncated: bool = False  # more than EPISODE_LIMIT episodes listed: only the first are
    # (season number or None, episodes) of every season; for a series of more than EPISODE_LIMIT
    # episodes ``seasons`` holds only ``season_selected``'s and the page links to the others.
    season_counts: list[tuple[int | None, int]] = field(default_factory=list)
    season_selected: int | None = None
    # No principal at all, and the imported title.principals stops before this title (or was never
    # imported): the cast is not in the imported files, not "none listed by IMDb".
    principals_not_imported: bool = False

    @property
    def is_series(self) -> bool:
        return self.title.title_type in ("tvSeries", "tvMiniSeries") or bool(self.seasons)

    # A person whose row is not in the imported name.basics is counted, not listed by raw id: the
    # page says once how many credits point at people not in the imported data.
    @property
    def directors_named(self) -> list[CrewMember]:
        return [person for person in self.directors if person.name]

    @property
    def directors_missing(self) -> int:
        return len(self.directors) - len(self.directors_named)

    @property
    def writers_named(self) -> list[CrewMember]:
        return [person for person in self.writers if person.name]

    @property
    def writers_missing(self) -> int:
        return len(self.writers) - len(self.writers_named)

    @property
    def cast_named(self) -> list[CastMember]:
        return [person for person in self.cast if person.name]

    @property
    def cast_missing(self) -> list[CastMember]:
        return [person for person in self.cast if not person.name]

    @property
    def other_principals_named(self) -> list[CastMember]:
        return [person for person in self.other_principals if person.name]

    @property
    def other_principals_missing(self) -> list[CastMember]:
        return [person for person in self.other_principals if not person.name]

    @property
    def by_season(self) -> bool:
        """Too many episodes for one page: one season at a time."""
        return self.episode_count > EPISODE_LIMIT


def title_detail(*, tconst: str, season: int | None = None) -> TitleDetail:
    """The title and everything around it; raises ``Title.DoesNotExist`` for an unknown id.
    ``season``: the season whose episodes a series too long for one page shows."""
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

    if not detail.cast and not detail.other_principals:
        last = principals_last_number()
        detail.principals_not_imported = last is None or _tconst_number(tconst) > last

    akas = TitleAka.objects.filter(title_id=tconst, removed_at__isnull=True).order_by("region", "ordering")
    detail.akas_by_region = [(region, list(rows)) for region, rows in groupby(akas, key=lambda aka: aka.region)]
    # By the region's name as shown; regionless entries (IMDb's "original" title) last.
    detail.akas_by_region.sort(key=lambda pair: (pair[0] == "", region_name(pair[0]).casefold()))

    if title.title_type in ("tvSeries", "tvMiniSeries") or title.parent_tconst is None:
        _title_detail_episodes(detail, season)
    return detail


def _tconst_number(tconst: str) -> int:
    digits = tconst[2:]
    return int(digits) if digits.isdigit() else 0


def principals_last_number() -> int | None:
    """The highest title number (tt0034583 → 34583) with principals in the catalogue, ``None``
    when title.principals was never imported. IMDb's files are sorted by title, so a title past it
    has no cast because the imported file stops before it (a partial download, the 50,001-row
    sample), not because IMDb lists none.

    One scan of the principals, cached until they change (a new row or another import run).
    """
    with connection.cursor() as cursor:  # what changes when the principals do: two index reads
        cursor.execute(
            f"SELECT (SELECT max(id) FROM catalog_principal), (SELECT concat_ws('/', id, status, finished_at) "  # noqa: S608
            f"FROM {ImportRun._meta.db_table} ORDER BY id DESC LIMIT 1)"
        )
        state = cursor.fetchone()
    key = "catalog:principals-last:v1:" + ":".join(map(str, state))
    cached = cache.get(key)
    if cached is not None:
        return cached or None  # 0: none imported
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT max(substring(title_id from 3)::bigint) FROM catalog_principal "
            "WHERE title_id ~ '^tt[0-9]+$' AND removed_at IS NULL"
        )
        (last,) = cursor.fetchone()
    cache.set(key, int(last or 0), 24 * 3600)
    return int(last) if last else None


def _title_detail_episodes(detail: TitleDetail, season: int | None) -> None:
    """The episodes by season: all of them for a series of up to EPISODE_LIMIT episodes (one
    query); past that, the seasons with their episode counts (one GROUP BY on the episode index)
    and the episodes of one season (``season``, by default the first): a series with 15,000
    episodes is a page per season, not one page."""
    tconst = detail.title.tconst
    ordered = (F("season").asc(nulls_last=True), F("number").asc(nulls_last=True), "start_year", "tconst")

    def fetch(episodes: QuerySet[Title]) -> list[Title]:
        return list(
            episodes.annotate(season=F("episode__season_number"), number=F("episode__episode_number")).order_by(
                *ordered
            )[: EPISODE_LIMIT + 1]
        )

    episodes = fetch(Title.objects.filter(episode__parent_id=tconst))
    if len(episodes) <= EPISODE_LIMIT:
        detail.seasons = [(number, list(rows)) for number, rows in groupby(episodes, key=lambda ep: ep.season)]  # type: ignore[attr-defined]
        detail.season_counts = [(number, len(rows)) for number, rows in detail.seasons]
        detail.episode_count = len(episodes)
        return
    with connection.cursor() as cursor:
        # Episodes whose own title is in the catalogue, as the list shows them.
        cursor.execute(
            "SELECT e.season_number, count(*) FROM catalog_episode e"
            " WHERE e.parent_id = %s AND EXISTS (SELECT 1 FROM catalog_title t WHERE t.tconst = e.title_id)"
            " GROUP BY e.season_number ORDER BY e.season_number NULLS LAST",
            [tconst],
        )
        detail.season_counts = cursor.fetchall()
    detail.episode_count = sum(count for _number, count in detail.season_counts)
    known = [number for number, _count in detail.season_counts]
    detail.season_selected = season if season in known else known[0]
    if detail.season_selected is None:
        episodes = fetch(Title.objects.filter(episode__parent_id=tconst, episode__season_number__isnull=True))
    else:
        episodes = fetch(Title.objects.filter(episode__parent_id=tconst, episode__season_number=detail.season_selected))
    detail.episodes_truncated = len(episodes) > EPISODE_LIMIT
    episodes = episodes[:EPISODE_LIMIT]
    detail.seasons = [(number, list(rows)) for number, rows in groupby(episodes, key=lambda ep: ep.season)]  # type: ignore[attr-defined]


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


# A career of this many titles or more has its ordered filmography cached (CATALOGUE_CACHE_SECONDS):
# ordering 10,000 credits by year reads 10,000 titles, which no page view should repeat.
FILMOGRAPHY_CACHE_MIN_TITLES = 1_000


def _person_filmography(nconst: str) -> tuple[list[str], dict[str, int]]:
    """The tconsts of every title ``nconst`` is credited on, newest first, and the titles per kind
    of credit. Credits are principals (title.principals) and directors and writers (title.crew,
    which names those principals often leave out).

    The titles are fetched by key (``tconst = ANY(ARRAY(principals UNION crew))``): a join let
    Postgres hash the credits against a scan of every title (12 M at full size)."""
    key = f"catalog:filmography:{nconst}"
    cached = cache.get(key)
    if cached is not None:
        return cached
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT t.tconst FROM catalog_title t"
            " WHERE t.tconst = ANY(ARRAY("
            "   SELECT title_id FROM catalog_principal WHERE person_id = %(nconst)s AND removed_at IS NULL"
            "   UNION SELECT title_id FROM catalog_crew WHERE person_id = %(nconst)s AND removed_at IS NULL))"
            " ORDER BY t.start_year DESC NULLS LAST, t.primary_title, t.tconst",
            {"nconst": nconst},
        )
        tconsts = [row[0] for row in cursor.fetchall()]
    filmography = (tconsts, _person_credit_counts(nconst))
    if len(tconsts) >= FILMOGRAPHY_CACHE_MIN_TITLES:
        cache.set(key, filmography, CATALOGUE_CACHE_SECONDS)
    return filmography


def person_detail(*, nconst: str, page_number=1, page_size: int | None = None) -> PersonDetail:
    """The person, their known-for titles (those in the catalogue) and one page of their credits
    from title.crew (directed, written) and title.principals, newest first. Seven queries whatever
    the career's length (five for a cached one). Raises ``Person.DoesNotExist`` for an unknown id."""
    person = Person.objects.get(nconst=nconst)
    known_for = list(Title.objects.filter(tconst__in=person.known_for_titles or []).order_by("-num_votes", "tconst"))
    tconsts, credit_counts = _person_filmography(nconst)
    page = Paginator(tconsts, page_size or FILMOGRAPHY_PAGE_SIZE).get_page(page_number)
    titles = title_in_bulk(page.object_list)
    page.object_list = titles  # type: ignore[assignment]  # the page's titles in place of their ids
    shown = [title.tconst for title in titles]
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
    for title in titles:
        title.credits = credits[title.tconst]  # type: ignore[attr-defined]  # shown by the template
    return PersonDetail(person=person, known_for=known_for, filmography=page, credit_counts=credit_counts)


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
