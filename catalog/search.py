"""Search: titles (primary, original and alternative titles) and people by name.

Tolerant of case, accents (``imdbrec_unaccent``) and small typos (pg_trgm), ranked so that the
exact name and then the famous one come first, and bounded in time: a fuzzy search that runs past
its budget is cancelled by Postgres and answered with exact matches instead. The statements are
exposed (``*_search_sql``) so tests, the bench and the README can EXPLAIN them.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

from django.db import OperationalError, connection, transaction
from psycopg2.errors import QueryCanceled

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


def _search_rows(statement: Callable[..., tuple[str, dict]], *, query: str, limit: int, timeout_ms: int, what: str):
    """Run the fuzzy ``statement`` within ``timeout_ms``; past it Postgres cancels the query and
    the exact-match form of the same statement answers instead (never an error page)."""
    if not _search_normalise(query):
        return []
    sql, params = statement(query=query, limit=limit)
    try:
        with transaction.atomic(), connection.cursor() as cursor:
            title_search_settings(cursor, timeout_ms=timeout_ms)
            cursor.execute(sql, params)
            return cursor.fetchall()
    except OperationalError as error:
        if not isinstance(error.__cause__, QueryCanceled):
            raise
        logger.warning("search for %r took over %d ms; answering with exact %s", query, timeout_ms, what)
        with connection.cursor() as cursor:
            cursor.execute(*statement(query=query, limit=limit, exact_only=True))
            return cursor.fetchall()


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
    rows = _search_rows(title_search_sql, query=query, limit=limit, timeout_ms=timeout_ms, what="titles")
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
    rows = _search_rows(person_search_sql, query=query, limit=limit, timeout_ms=timeout_ms, what="names")
    return [PersonHit(*row) for row in rows]
