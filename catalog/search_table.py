"""The title search table: the first tier of the search (``catalog.search``), rebuilt after imports.

``catalog_titlesearch`` holds, for every rated title (``num_votes >= SEARCH_TABLE_MIN_VOTES``,
neither adult nor removed), each of its distinct names folded the way the search folds a query
(``lower(imdbrec_unaccent(…))``: primary, original and alternative titles), with the title's votes:

    name text, tconst, votes, kind (2 = the primary title, 1 = original or aka), matched (as written)

At IMDb's full size that is about 1.6 M of 12.3 M titles and a few of their 55 M akas each
(an aka spelled like its title folds into one row), a tenth of what the three big trigram
indexes hold. The rows are written in order of votes, most first, so a scan of the trigram
index visits the heap in popularity order and a ``LIMIT`` stops at the famous matches without
reading the thousands of obscure ones a common word ("love", "night") has. Titles nobody rated
are searched in the catalog tables themselves, as the search's second tier.

The table is derived data, like an index: built into ``catalog_titlesearch_next`` and swapped in
one short transaction, so searches keep using the old table during a rebuild. Migration
``catalog/0008_title_search_table`` creates it empty; ``title_search_table_rebuild`` fills it (the
importer calls it after each run that changed titles, akas or ratings; ``manage.py
build_search`` runs it by hand).
"""

from __future__ import annotations

import time
from collections.abc import Callable

from django.db import connection, transaction

SEARCH_TABLE = "catalog_titlesearch"
# A title with at least this many votes is in the first tier. IMDb publishes ratings for titles
# with five votes or more, so this is every rated title.
SEARCH_TABLE_MIN_VOTES = 1
# The search's tier 1a: titles with at least this many votes have a trigram index of their own,
# small enough that a query of common words reads little of it (about 2% of rated titles).
SEARCH_POPULAR_VOTES = 1000
# The folded form of a text, exactly as the search folds its query and as the catalog's exact
# indexes (migration 0003) fold titles.
FOLD = "lower(public.imdbrec_unaccent({}))"


def _create_sql(table: str) -> list[str]:
    return [
        f"""
        CREATE TABLE {table} (
            name text NOT NULL,
            tconst varchar(12) NOT NULL,
            votes integer NOT NULL,
            kind smallint NOT NULL,
            matched text NOT NULL
        ) WITH (fillfactor = 100, autovacuum_enabled = false)
        """,
    ]


def _index_sql(table: str) -> list[str]:
    # Trigram indexes only, one for the popular titles and one for the other rated ones (tiers 1a
    # and 1b of the search): they serve fuzzy matches (%>) and prefixes (LIKE 'm%') alike, and a
    # bitmap scan reads the heap in its order, most votes first. A btree here would let the
    # planner walk names in another order and lose that.
    return [
        f"CREATE INDEX {table}_name_trgm ON {table} USING gin (name gin_trgm_ops) WHERE votes >= {SEARCH_POPULAR_VOTES}",
        f"CREATE INDEX {table}_name_trgm_rated ON {table} USING gin (name gin_trgm_ops) WHERE votes < {SEARCH_POPULAR_VOTES}",
    ]


# One row per (folded name, title), the primary title's kind winning over an aka spelled the same;
# written most-voted first (see the module docstring).
_FILL_SQL = f"""
INSERT INTO {{table}} (name, tconst, votes, kind, matched)
SELECT name, tconst, votes, kind, matched FROM (
    SELECT DISTINCT ON (name, tconst) name, tconst, votes, kind, matched FROM (
        SELECT {FOLD.format("t.primary_title")} AS name, t.tconst, t.num_votes AS votes, 2 AS kind,
               t.primary_title AS matched
          FROM catalog_title t
         WHERE t.num_votes >= %(min_votes)s AND NOT t.is_adult AND t.removed_at IS NULL
        UNION ALL
        SELECT {FOLD.format("t.original_title")}, t.tconst, t.num_votes, 1, t.original_title
          FROM catalog_title t
         WHERE t.num_votes >= %(min_votes)s AND NOT t.is_adult AND t.removed_at IS NULL
           AND t.original_title <> ''
        UNION ALL
        SELECT {FOLD.format("a.aka_title")}, t.tconst, t.num_votes, 1, a.aka_title
          FROM catalog_titleaka a
          JOIN catalog_title t ON t.tconst = a.title_id
         WHERE t.num_votes >= %(min_votes)s AND NOT t.is_adult AND t.removed_at IS NULL
           AND a.removed_at IS NULL AND a.aka_title <> ''
    ) names
    WHERE name <> ''
    ORDER BY name, tconst, kind DESC
) distinct_names
ORDER BY votes DESC, tconst, kind DESC
"""


def title_search_table_create_sql() -> list[str]:
    """The statements that create the empty table and its indexes (migration 0008)."""
    return _create_sql(SEARCH_TABLE) + _index_sql(SEARCH_TABLE)


def title_search_table_rebuild(
    *, min_votes: int = SEARCH_TABLE_MIN_VOTES, on_step: Callable[[str], None] | None = None
) -> dict:
    """Rebuild ``catalog_titlesearch`` from the catalog; returns rows and seconds per step.

    The new table is filled and indexed under another name, then swapped in within one
    transaction (an ACCESS EXCLUSIVE lock held for milliseconds), so searches never see it half
    built. Inside an outer transaction (a test's) the same statements run in it.
    """
    next_table = f"{SEARCH_TABLE}_next"
    seconds: dict[str, float] = {}

    def step(name: str, statements: list[str], params: dict | None = None) -> None:
        if on_step:
            on_step(name)
        started = time.monotonic()
        with connection.cursor() as cursor:
            for statement in statements:
                cursor.execute(statement, params)
        seconds[name] = round(time.monotonic() - started, 2)

    with connection.cursor() as cursor:
        # Sorting a few million names and building a trigram index want memory; this session only.
        cursor.execute(
            "SELECT set_config('maintenance_work_mem', '256MB', false), set_config('work_mem', '128MB', false)"
        )
    step("create", [f"DROP TABLE IF EXISTS {next_table}"] + _create_sql(next_table))
    step("fill", [_FILL_SQL.format(table=next_table)], {"min_votes": min_votes})
    step("index", _index_sql(next_table) + [f"ANALYZE {next_table}"])
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(f"DROP TABLE IF EXISTS {SEARCH_TABLE}")
        cursor.execute(f"ALTER TABLE {next_table} RENAME TO {SEARCH_TABLE}")
        for suffix in ("name_trgm", "name_trgm_rated"):
            cursor.execute(f"ALTER INDEX {next_table}_{suffix} RENAME TO {SEARCH_TABLE}_{suffix}")
    with connection.cursor() as cursor:
        cursor.execute("RESET maintenance_work_mem; RESET work_mem")
        cursor.execute(f"SELECT count(*) FROM {SEARCH_TABLE}")
        rows = cursor.fetchone()[0]
    return {"rows": rows, "seconds": seconds}
