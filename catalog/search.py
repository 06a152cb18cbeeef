"""Search: titles (primary, original and alternative titles) and people by name.

Tolerant of case, accents (``imdbrec_unaccent``) and small typos (pg_trgm), ranked so that the
exact name and then the famous one come first, and bounded in time at IMDb's full size (12 M
titles, 55 M akas, 15 M people). Titles are searched in tiers:

1. **Rated titles**, in the compact search table ``catalog_titlesearch`` (``catalog.search_table``:
   each distinct folded name of the 1.6 M rated titles, written most-voted first), whose trigram
   index finds the names like the query. Since a bitmap scan reads the heap in its order, most
   votes first, ``LIMIT SEARCH_CANDIDATES`` keeps the most popular matches of a common word
   ("love", "night") without rechecking the thousands of others. Two partial indexes split it:
   **1a**, titles with ``SEARCH_POPULAR_VOTES`` votes or more, always searched; **1b**, the other
   rated titles, searched when 1a found less than a page or nothing that matches well. A query
   under four letters has too few trigrams: it matches the names that start with it ("m", "the").
2. **Exact titles of the whole catalogue**, rated or not, through the btree indexes of migration
   0003 (``lower(imdbrec_unaccent(title))``), in the same statement as 1a.
3. **The long tail**: when nothing found so far matches well (a person's name, an obscure title,
   a typo of one), the trigram indexes of the catalog tables themselves (every title and aka),
   within ``SEARCH_TAIL_TIMEOUT_MS``, for queries of up to ``SEARCH_TAIL_MAX_WORDS`` words. A
   query that found nothing among rated titles is made of rare trigrams, so this is cheap; if it
   still runs out of time the answer keeps tiers 1 and 2, says so
   (``TitleSearchOutcome.timed_out``, a warning in the log) and is never exact-only.

The statements are exposed (``*_search_sql``) so tests, the bench and the README can EXPLAIN them.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from django.db import OperationalError, connection, transaction
from psycopg2.errors import QueryCanceled

from catalog.search_table import SEARCH_POPULAR_VOTES

logger = logging.getLogger(__name__)

# Weight of popularity in the search score: 0.05 per factor of 10 in votes, so 600k votes add
# ~0.29 to a relevance in [0, 1]. Enough to lift the famous film over an obscure namesake with
# the same similarity, too little to lift an unrelated blockbuster over a close match.
SEARCH_POPULARITY_WEIGHT = 0.05
SEARCH_MAX_QUERY_LENGTH = 200
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


@dataclass
class TitleSearchOutcome:
    """A title search's hits and how they were found (the bench reports every field)."""

    hits: list[SearchHit] = field(default_factory=list)
    # The tiers that ran after the first ("rated": 1b, "tail": 3), each because those before it
    # did not find enough (see _enough).
    tiers: list[str] = field(default_factory=list)
    timed_out: bool = False  # the last tier ran out of time: the answer is what the others found
    timings: dict[str, float] = field(default_factory=dict)  # milliseconds per tier
    exact_only: bool = False  # the first statement ran out of time: exact titles only (never expected)


# The folded query: an IMMUTABLE function of a constant, which Postgres folds while planning, so
# every index condition compares an indexed expression with a plain constant.
_NEEDLE = "lower(public.imdbrec_unaccent(%(query)s))"

# Tier 1 (fuzzy form, four letters or more): ``name %> needle``, the query is similar to some run
# of words of the name (word_similarity at least pg_trgm.word_similarity_threshold); it finds
# "wizard of oz" in "The Wonderful Wizard of Oz" and "casablnca" in "Casablanca". No ORDER BY:
# the bitmap heap scan visits the table in its physical order, most votes first, and stops at
# SEARCH_CANDIDATES matches. Relevance of one name = (similarity + word_similarity) / 2: 1 for an
# exact title, less for a title that contains the query among other words, less again for a typo.
_POPULAR_FUZZY = """
    SELECT s.tconst, s.name, s.kind, s.matched
      FROM catalog_titlesearch s
     WHERE s.name %%> {needle} AND {votes}
     LIMIT %(candidates)s
"""
# Tier 1 (prefix form, under four letters): the names that start with the query, found through
# the same trigram index (pg_trgm serves LIKE), so they too come most voted first.
_POPULAR_PREFIX = """
    SELECT s.tconst, s.name, s.kind, s.matched
      FROM catalog_titlesearch s
     WHERE s.name LIKE replace(replace(replace({needle}, '\\', '\\\\'), '%%', '\\%%'), '_', '\\_') || '%%'
       AND {votes}
     LIMIT %(candidates)s
"""
_EXACT = """
    -- the original-title and aka branches state the predicates of their partial indexes (migration 0011)
    (SELECT t.tconst, 2, t.primary_title
       FROM catalog_title t
      WHERE lower(public.imdbrec_unaccent(t.primary_title)) = {needle}
      LIMIT %(candidates)s)
    UNION ALL
    (SELECT t.tconst, 1, t.original_title
       FROM catalog_title t
      WHERE t.original_title <> t.primary_title AND t.original_title <> ''
        AND lower(public.imdbrec_unaccent(t.original_title)) = {needle}
      LIMIT %(candidates)s)
    UNION ALL
    (SELECT a.title_id, 1, a.aka_title
       FROM catalog_titleaka a
      WHERE a.name_first AND a.removed_at IS NULL AND a.aka_title <> ''
        AND lower(public.imdbrec_unaccent(a.aka_title)) = {needle}
      LIMIT %(candidates)s)
"""
_NO_POPULAR = "SELECT NULL::text, NULL::text, 0, NULL::text WHERE false"
_NO_EXACT = "SELECT NULL::text, 0, NULL::text WHERE false"
_SEARCH_SQL = """
WITH popular (tconst, name, kind, matched) AS ({popular}
), exact (tconst, exact_rank, matched_title) AS ({exact}
), hits AS (
    SELECT tconst,
           CASE WHEN name = {needle} THEN kind ELSE 0 END AS exact_rank,
           ((similarity(name, {needle}) + word_similarity({needle}, name)) / 2)::float8 AS relevance,
           matched AS matched_title
      FROM popular
    UNION ALL
    SELECT tconst, exact_rank, 1.0::float8, matched_title FROM exact
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


# Tier 3, the long tail: the trigram indexes of the catalog tables (migrations 0002), every title
# and aka whatever its votes, each branch stopped at SEARCH_CANDIDATES matches. Queries of four
# letters use ``column % needle`` (whole-string similarity) here: as a word, "love" is in too
# many titles. Every column expression is exactly the indexed ``imdbrec_unaccent(column)``, and
# every branch repeats its index's predicate (migration 0011): an original title equal to the
# primary one, or an aka equal to an earlier aka of its title, is found through that other row,
# with the same relevance and an exact rank as high, so the partial indexes lose no title.
def _tail_branch(*, table: str, key: str, column: str, exact_rank: int, condition: str = "") -> str:
    """One branch of the tail: the rows of ``table`` whose ``column`` looks like the needle, keyed
    by ``key`` (a tconst), with ``exact_rank`` when the column is the query. ``condition``, if
    any, is ANDed before the trigram match. ``{needle}`` and ``{operator}`` stay to be filled."""
    unaccented = f"public.imdbrec_unaccent({column})"
    where = f"{condition} AND " if condition else ""
    return f"""
    (SELECT {key},
           (similarity({unaccented}, {{needle}})
            + word_similarity({{needle}}, {unaccented})) / 2,
           CASE WHEN lower({unaccented}) = lower({{needle}}) THEN {exact_rank} ELSE 0 END,
           {column}
      FROM {table}
     WHERE {where}{unaccented} {{operator}} {{needle}}
     LIMIT %(candidates)s)"""


_TAIL_BRANCHES = "\n    UNION ALL".join(
    (
        _tail_branch(table="catalog_title t", key="t.tconst", column="t.primary_title", exact_rank=2),
        _tail_branch(
            table="catalog_title t",
            key="t.tconst",
            column="t.original_title",
            exact_rank=1,
            condition="t.original_title <> t.primary_title",
        ),
        _tail_branch(
            table="catalog_titleaka a",
            key="a.title_id",
            column="a.aka_title",
            exact_rank=1,
            condition="a.name_first AND a.removed_at IS NULL",
        ),
    )
)
_TAIL_SQL = f"""
WITH hits (tconst, relevance, exact_rank, matched_title) AS ({_TAIL_BRANCHES}
), best AS (
    SELECT tconst,
           max(exact_rank) AS exact_rank,
           max(relevance) AS relevance,
           (array_agg(matched_title ORDER BY exact_rank DESC, relevance DESC))[1] AS matched_title
      FROM hits
     GROUP BY tconst
)
SELECT t.tconst, best.exact_rank, best.relevance::float8,
       best.relevance + %(popularity_weight)s * log(1 + t.num_votes) AS score,
       best.matched_title
  FROM best
  JOIN catalog_title t ON t.tconst = best.tconst
 WHERE NOT t.is_adult AND t.removed_at IS NULL
 ORDER BY best.exact_rank DESC, score DESC, t.num_votes DESC, t.tconst
 LIMIT %(limit)s
"""

# Trigram matching needs trigrams: a query shorter than this ("M", "Up", "Ran") is matched as the
# exact title and the start of the popular titles' names.
SEARCH_FUZZY_MIN_LETTERS = 4
# In the long tail, below this many letters a query is matched on whole-string similarity only.
SEARCH_WORD_MATCH_MIN_LETTERS = 5
# pg_trgm's thresholds, set for the search statements only. The index lets a row through when at
# least threshold × (the query's trigrams) of them occur in it, to be rechecked one by one: at the
# default 0.3 any title sharing "the" and "of" with "the wizard of oz" passes. Word similarity at
# 0.6 still accepts typos ("casablanka" 0.73, "citzen kane" 0.67) and keeps the rechecks few.
SEARCH_SIMILARITY_THRESHOLD = 0.45
SEARCH_WORD_SIMILARITY_THRESHOLD = 0.6
# Matches taken from each index before ranking: the most popular ones in tier 1.
SEARCH_CANDIDATES = 500
# The popular titles are enough when they gave a page of titles (SEARCH_ENOUGH_HITS) and one of
# them matches well: exactly, or with relevance ≥ SEARCH_STRONG_RELEVANCE. A typo of a whole title
# scores 0.6-0.7 ("casablnca" 0.62, "metropolsi" 0.65), the query as a whole word of a short
# title about the same ("night" in "The Night of the Hunter" 0.65); a name that shares a word
# with the query but is not it, less ("casablanca moro" against "Casablanca Lights" 0.58).
SEARCH_ENOUGH_HITS = 20
SEARCH_STRONG_RELEVANCE = 0.6
# The long tail is a typo search for titles nobody rated, within this budget. A query of more
# words than SEARCH_TAIL_MAX_WORDS is not looked for there: its trigrams are many and common
# (each index entry read costs), and a long query that matched no rated or exact title is not
# an obscure title's name with a typo in it.
SEARCH_TAIL_TIMEOUT_MS = 250
SEARCH_TAIL_MAX_WORDS = 6
# A safety net, never expected to fire: past this budget the whole search is cancelled by
# Postgres and answered with exact titles instead of keeping the page waiting.
SEARCH_TIMEOUT_MS = 3000
SEARCH_RESULT_LIMIT = 500


def _letters(query: str) -> int:
    return len(query.replace(" ", ""))


def title_search_sql(
    *, query: str, limit: int = SEARCH_RESULT_LIMIT, exact_only: bool = False, tier: str = "popular"
) -> tuple[str, dict]:
    """A statement of tiers 1 and 2 and its parameters (exposed so tests and the README can
    EXPLAIN it). ``tier="popular"``: tier 1a (titles with SEARCH_POPULAR_VOTES votes or more) and
    the exact titles; ``tier="rated"``: tier 1b, the other rated titles. A query under four letters
    has a single tier 1 (prefixes). Run it with ``title_search_settings()`` applied."""
    query = _search_normalise(query)
    params = {
        "query": query,
        "popularity_weight": SEARCH_POPULARITY_WEIGHT,
        "limit": limit,
        "candidates": SEARCH_CANDIDATES,
    }
    # The votes condition implies one of the two partial trigram indexes' predicates.
    votes = f"s.votes >= {SEARCH_POPULAR_VOTES}" if tier == "popular" else f"s.votes < {SEARCH_POPULAR_VOTES}"
    shape = _POPULAR_PREFIX if _letters(query) < SEARCH_FUZZY_MIN_LETTERS else _POPULAR_FUZZY
    popular = _NO_POPULAR if exact_only else shape.format(needle=_NEEDLE, votes=votes)
    exact = _EXACT.format(needle=_NEEDLE) if tier == "popular" else _NO_EXACT
    return _SEARCH_SQL.format(popular=popular, exact=exact, needle=_NEEDLE), params


def title_search_tail_sql(*, query: str, limit: int = SEARCH_RESULT_LIMIT) -> tuple[str, dict]:
    """The statement of tier 3 (the whole catalogue's trigram indexes); for four letters or more."""
    query = _search_normalise(query)
    params = {
        "query": query,
        "popularity_weight": SEARCH_POPULARITY_WEIGHT,
        "limit": limit,
        "candidates": SEARCH_CANDIDATES,
    }
    # ``%%`` is ``%`` once the parameters are bound.
    operator = "%%>" if _letters(query) >= SEARCH_WORD_MATCH_MIN_LETTERS else "%%"
    needle = "public.imdbrec_unaccent(%(query)s)"
    return _TAIL_SQL.format(needle=needle, operator=operator), params


def title_search_settings(cursor, *, timeout_ms: int = SEARCH_TIMEOUT_MS) -> None:
    """Set the search's pg_trgm thresholds and time budget for the current transaction only.

    Sequential scans are off: with ``LIMIT`` the planner may guess that a scan in table order
    finds the matches soon, and for a rare query that guess reads millions of rows."""
    cursor.execute(
        "SELECT set_config('pg_trgm.similarity_threshold', %s, true),"
        " set_config('pg_trgm.word_similarity_threshold', %s, true),"
        " set_config('statement_timeout', %s, true),"
        " set_config('enable_seqscan', 'off', true)",
        [str(SEARCH_SIMILARITY_THRESHOLD), str(SEARCH_WORD_SIMILARITY_THRESHOLD), f"{int(timeout_ms)}ms"],
    )


_SETTINGS = ("pg_trgm.similarity_threshold", "pg_trgm.word_similarity_threshold", "statement_timeout", "enable_seqscan")


def _run(sql: str, params: dict, *, timeout_ms: int) -> list[tuple] | None:
    """The rows of ``sql`` run within ``timeout_ms``, or None when Postgres cancelled it.

    The settings end with the statement's transaction; inside an outer transaction (a savepoint)
    they would outlive it, so they are put back as they were. ``current_setting(name, true)``:
    pg_trgm's settings exist only once the extension's library is loaded in the session (the
    first trigram operator loads it), so on a fresh connection they are read as NULL, and
    ``set_config`` of NULL puts them back to their default."""
    nested = connection.in_atomic_block
    try:
        with transaction.atomic(), connection.cursor() as cursor:
            if nested:
                cursor.execute("SELECT " + ", ".join("current_setting(%s, true)" for _ in _SETTINGS), _SETTINGS)
                before = cursor.fetchone()
            title_search_settings(cursor, timeout_ms=timeout_ms)
            cursor.execute(sql, params)
            rows = cursor.fetchall()
            if nested:
                cursor.execute(
                    "SELECT " + ", ".join("set_config(%s, %s, true)" for _ in _SETTINGS),
                    [value for pair in zip(_SETTINGS, before, strict=True) for value in pair],
                )
            return rows
    except OperationalError as error:
        if not isinstance(error.__cause__, QueryCanceled):
            raise
        return None


def _strong(hits: dict[str, SearchHit]) -> bool:
    """Some title matches well: exactly, or with relevance ≥ SEARCH_STRONG_RELEVANCE."""
    return any(hit.exact_rank or hit.relevance >= SEARCH_STRONG_RELEVANCE for hit in hits.values())


def _merge(hits: dict[str, SearchHit], rows: list[tuple]) -> None:
    for row in rows:
        hit = SearchHit(*row)
        known = hits.get(hit.tconst)
        if known is None or (hit.exact_rank, hit.score) > (known.exact_rank, known.score):
            hits[hit.tconst] = hit


def title_search_run(
    *, query: str, limit: int = SEARCH_RESULT_LIMIT, timeout_ms: int = SEARCH_TIMEOUT_MS, tail: bool = True
) -> TitleSearchOutcome:
    """``title_search`` with how it went: which tiers ran and whether any ran out of time.
    ``tail=False``: never search the long tail (the query names a person well, see ``search_run``)."""
    outcome = TitleSearchOutcome()
    query = _search_normalise(query)
    if not query:
        return outcome
    started = time.monotonic()

    def left_ms() -> int:
        return max(1, int(timeout_ms - (time.monotonic() - started) * 1000))

    hits: dict[str, SearchHit] = {}
    rows = _run(*title_search_sql(query=query, limit=limit), timeout_ms=timeout_ms)
    if rows is None:
        logger.warning("search for %r took over %d ms; answering with exact titles", query, timeout_ms)
        outcome.exact_only = True
        with connection.cursor() as cursor:
            cursor.execute(*title_search_sql(query=query, limit=limit, exact_only=True))
            _merge(hits, cursor.fetchall())
        outcome.hits = sorted(hits.values(), key=lambda hit: (-hit.exact_rank, -hit.score, hit.tconst))
        return outcome
    _merge(hits, rows)
    fuzzy = _letters(query) >= SEARCH_FUZZY_MIN_LETTERS
    outcome.timings["popular"] = round((time.monotonic() - started) * 1000, 1)
    # Tier 1b when tier 1a found less than a page or nothing that matches well; the tail only when
    # nothing matches well yet (an obscure title, a typo of one). A query of more words than
    # SEARCH_TAIL_MAX_WORDS stops at the popular and exact titles: its many trigrams are common
    # ones, each read from every index searched, and a long query that matched no popular or
    # exact title is not a rated title's name with a typo in it.
    short = len(query.split()) <= SEARCH_TAIL_MAX_WORDS
    if short and (len(hits) < SEARCH_ENOUGH_HITS or (fuzzy and not _strong(hits))):
        mark = time.monotonic()
        outcome.tiers.append("rated")
        rows = _run(*title_search_sql(query=query, limit=limit, tier="rated"), timeout_ms=left_ms())
        outcome.timed_out = rows is None
        _merge(hits, rows or [])
        outcome.timings["rated"] = round((time.monotonic() - mark) * 1000, 1)
    if tail and fuzzy and short and not _strong(hits) and not outcome.timed_out:
        mark = time.monotonic()
        outcome.tiers.append("tail")
        rows = _run(*title_search_tail_sql(query=query, limit=limit), timeout_ms=min(left_ms(), SEARCH_TAIL_TIMEOUT_MS))
        outcome.timed_out = rows is None
        _merge(hits, rows or [])
        outcome.timings["tail"] = round((time.monotonic() - mark) * 1000, 1)
    if outcome.timed_out:
        logger.warning(
            "search for %r: tier %s ran out of time; answering with what the tiers before found",
            query,
            outcome.tiers[-1],
        )
    outcome.hits = sorted(hits.values(), key=lambda hit: (-hit.exact_rank, -hit.score, hit.tconst))[:limit]
    return outcome


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

    Queries under four letters match exact titles and the popular titles that start with them.
    See the module docstring for the tiers. Returns light hits; fetch the titles of one page
    with ``title_in_bulk``.
    """
    return title_search_run(query=query, limit=limit, timeout_ms=timeout_ms).hits


@dataclass(frozen=True)
class PersonHit:
    nconst: str
    name: str
    relevance: float  # trigram relevance of the name in [0, 1]; 1.0 for an exact name
    birth_year: int | None
    death_year: int | None
    primary_profession: list[str]


# People are found as titles are in the long tail (see _TAIL_SQL): the same operators and
# thresholds on the indexed ``imdbrec_unaccent(primary_name)`` of migration 0006, so "hitchcock"
# finds Alfred Hitchcock as a word of his name and "hichcock" still does. The trigram index stops
# at SEARCH_CANDIDATES matches in the table's order, which is IMDb's nconst order (the famous
# were entered first), and the exact names come through their btree index whatever their place.
# People have no votes: among equal names, the one with the most known-for titles (a rough
# measure of fame IMDb publishes) first.
_PERSON_SEARCH_SQL = """
WITH candidates AS (
    (SELECT p.nconst
       FROM catalog_person p
      WHERE p.removed_at IS NULL AND public.imdbrec_unaccent(p.primary_name) {operator} {needle}
      LIMIT %(candidates)s)
    UNION
    (SELECT p.nconst
       FROM catalog_person p
      WHERE p.removed_at IS NULL AND lower(public.imdbrec_unaccent(p.primary_name)) = lower({needle})
      LIMIT %(candidates)s)
)
SELECT p.nconst, p.primary_name,
       ((similarity(public.imdbrec_unaccent(p.primary_name), {needle})
        + word_similarity({needle}, public.imdbrec_unaccent(p.primary_name))) / 2)::float8 AS relevance,
       p.birth_year, p.death_year, p.primary_profession
  FROM candidates c
  JOIN catalog_person p ON p.nconst = c.nconst
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
# No name has more words than this (IMDb's longest have five). A longer query cannot reach the
# word similarity threshold against any name: at least 60% of its trigrams would have to be in
# the name. So it is looked up as an exact name only, without reading the trigram index of 15 M
# names for the common trigrams its many words have.
PERSON_FUZZY_MAX_WORDS = 6


def person_search_sql(*, query: str, limit: int = PERSON_SEARCH_LIMIT, exact_only: bool = False) -> tuple[str, dict]:
    """The people-search statement and its parameters (for tests and EXPLAIN)."""
    query = _search_normalise(query)
    needle = "public.imdbrec_unaccent(%(query)s)"
    params = {"query": query, "limit": limit, "candidates": SEARCH_CANDIDATES}
    if exact_only or _letters(query) < SEARCH_FUZZY_MIN_LETTERS or len(query.split()) > PERSON_FUZZY_MAX_WORDS:
        return _PERSON_EXACT_SQL.format(needle=needle), params
    operator = "%%>" if _letters(query) >= SEARCH_WORD_MATCH_MIN_LETTERS else "%%"
    return _PERSON_SEARCH_SQL.format(needle=needle, operator=operator), params


def _search_rows(statement: Callable[..., tuple[str, dict]], *, query: str, limit: int, timeout_ms: int, what: str):
    """Run the fuzzy ``statement`` within ``timeout_ms``; past it Postgres cancels the query and
    the exact-match form of the same statement answers instead (never an error page)."""
    if not _search_normalise(query):
        return []
    rows = _run(*statement(query=query, limit=limit), timeout_ms=timeout_ms)
    if rows is None:
        logger.warning("search for %r took over %d ms; answering with exact %s", query, timeout_ms, what)
        with connection.cursor() as cursor:
            cursor.execute(*statement(query=query, limit=limit, exact_only=True))
            rows = cursor.fetchall()
    return rows


def person_search(
    *, query: str, limit: int = PERSON_SEARCH_LIMIT, timeout_ms: int = SEARCH_TIMEOUT_MS
) -> list[PersonHit]:
    """The best ``limit`` people whose name looks like ``query``: an exact name first, then by
    trigram relevance. Tolerant of case, accents and small typos, with the title search's rules:
    under four letters (or over PERSON_FUZZY_MAX_WORDS words) exact names only; past
    ``timeout_ms``, exact names instead."""
    rows = _search_rows(person_search_sql, query=query, limit=limit, timeout_ms=timeout_ms, what="names")
    return [PersonHit(*row) for row in rows]


def search_run(*, query: str) -> tuple[TitleSearchOutcome, list[PersonHit]]:
    """What ``/search/`` runs: the people, then the titles. A query that names a person well
    (exactly, or with relevance ≥ SEARCH_STRONG_RELEVANCE: "ingrid bergman", "hitchcok") is
    answered with that person and the titles that match it well, without the long tail's typo
    search of every title and aka for a title nobody rated that looks like a name."""
    people = person_search(query=query)
    named = any(person.relevance >= SEARCH_STRONG_RELEVANCE for person in people)
    return title_search_run(query=query, tail=not named), people
