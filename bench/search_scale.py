"""How the title search scales: copies the loaded catalogue's titles and akas N times into a scratch
schema (with the same trigram indexes), then times the real search statement there.

    DATABASE_URL=... python bench/search_scale.py --copies 20        # ~1M titles and akas from the sample

Needs the IMDb sample imported into the database first (titles and akas). Prints rows, index
build time, per-query latency (median and worst of --repeat runs) and one EXPLAIN ANALYZE. The
scratch schema is dropped at the end unless --keep. Not a test: numbers go to docs/performance.md.
"""

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "imdbrec.settings.dev")

import django  # noqa: E402

django.setup()

from django.db import connection  # noqa: E402

from catalog.search import title_search_settings, title_search_sql  # noqa: E402

SCHEMA = "bench_search"
QUERIES = [
    "casablanca",
    "casablanka",
    "citizen kane",
    "the wizard of oz",
    "seven samurai",
    "shichinin no samurai",
    "la regle du jeu",
    "gone with the wind",
    "metropolis",
    "love",
    "the",
    "m",
    "night",
    "nosferatu",
    "les enfants du paradis",
    "sunset blvd",
]


def build(cursor, copies: int) -> dict:
    cursor.execute(f"DROP SCHEMA IF EXISTS {SCHEMA} CASCADE; CREATE SCHEMA {SCHEMA}")
    cursor.execute(f"CREATE TABLE {SCHEMA}.catalog_title (LIKE public.catalog_title INCLUDING DEFAULTS)")
    cursor.execute(
        f"CREATE TABLE {SCHEMA}.catalog_titleaka (LIKE public.catalog_titleaka INCLUDING DEFAULTS INCLUDING IDENTITY)"
    )
    started = time.perf_counter()
    # Copy 0 is the catalogue as it is; the others get new ids and a hundredth of the votes, so
    # the famous originals still rank first among their namesakes.
    cursor.execute(
        f"INSERT INTO {SCHEMA}.catalog_title SELECT CASE WHEN c = 0 THEN t.tconst ELSE 'tt' || lpad(c::text, 3, '0')"
        " || substr(t.tconst, 3) END, t.title_type, t.primary_title, t.original_title, t.is_adult, t.start_year,"
        " t.end_year, t.runtime_minutes, t.genres, t.average_rating, CASE WHEN c = 0 THEN t.num_votes ELSE"
        " t.num_votes / 100 END, t.removed_at FROM public.catalog_title t, generate_series(0, %s - 1) AS c",
        [copies],
    )
    cursor.execute(
        f"INSERT INTO {SCHEMA}.catalog_titleaka (title_id, ordering, aka_title, region, language, types, attributes,"
        " is_original_title, removed_at) SELECT CASE WHEN c = 0 THEN a.title_id ELSE 'tt' || lpad(c::text, 3, '0')"
        " || substr(a.title_id, 3) END, a.ordering, a.aka_title, a.region, a.language, a.types, a.attributes,"
        " a.is_original_title, a.removed_at FROM public.catalog_titleaka a, generate_series(0, %s - 1) AS c",
        [copies],
    )
    loaded = time.perf_counter() - started
    started = time.perf_counter()
    cursor.execute(f"ALTER TABLE {SCHEMA}.catalog_title ADD PRIMARY KEY (tconst)")
    cursor.execute(f"CREATE INDEX ON {SCHEMA}.catalog_titleaka (title_id)")
    for table, column in (
        ("catalog_title", "primary_title"),
        ("catalog_title", "original_title"),
        ("catalog_titleaka", "aka_title"),
    ):
        cursor.execute(f"CREATE INDEX ON {SCHEMA}.{table} USING gin (public.imdbrec_unaccent({column}) gin_trgm_ops)")
        cursor.execute(f"CREATE INDEX ON {SCHEMA}.{table} (lower(public.imdbrec_unaccent({column})))")
    cursor.execute(f"VACUUM ANALYZE {SCHEMA}.catalog_title")
    cursor.execute(f"VACUUM ANALYZE {SCHEMA}.catalog_titleaka")
    indexed = time.perf_counter() - started
    cursor.execute(
        f"SELECT (SELECT count(*) FROM {SCHEMA}.catalog_title), (SELECT count(*) FROM {SCHEMA}.catalog_titleaka)"
    )
    titles, akas = cursor.fetchone()
    return {"titles": titles, "akas": akas, "load_s": loaded, "index_s": indexed}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--copies", type=int, default=20)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--keep", action="store_true", help="keep the scratch schema (rerun with --reuse)")
    parser.add_argument("--reuse", action="store_true", help="use the scratch schema of an earlier --keep run")
    args = parser.parse_args()
    connection.ensure_connection()
    connection.connection.autocommit = True
    with connection.cursor() as cursor:
        if not args.reuse:
            sizes = build(cursor, args.copies)
            print(
                f"scratch catalogue: {sizes['titles']:,} titles, {sizes['akas']:,} akas "
                f"(copy {sizes['load_s']:.1f} s, trigram indexes {sizes['index_s']:.1f} s)"
            )
        cursor.execute(f"SET search_path = {SCHEMA}, public")
        cursor.execute("BEGIN")
        title_search_settings(cursor, timeout_ms=60_000)
        print(f"{'query':28} {'hits':>5} {'median ms':>10} {'worst ms':>9}")
        for query in QUERIES:
            sql, params = title_search_sql(query=query)
            timings = []
            for _ in range(args.repeat):
                started = time.perf_counter()
                cursor.execute(sql, params)
                rows = cursor.fetchall()
                timings.append((time.perf_counter() - started) * 1000)
            print(f"{query!r:28} {len(rows):>5} {statistics.median(timings):>10.1f} {max(timings):>9.1f}")
        sql, params = title_search_sql(query="casablanca")
        cursor.execute("EXPLAIN (ANALYZE, COSTS OFF) " + sql, params)
        print("\nEXPLAIN ANALYZE, 'casablanca':")
        print("\n".join(row[0] for row in cursor.fetchall()))
        cursor.execute("COMMIT")
        cursor.execute("SET search_path = public")
        if not args.keep:
            cursor.execute(f"DROP SCHEMA {SCHEMA} CASCADE")


if __name__ == "__main__":
    main()
