"""Pages at full size: each page requested --requests times (200 by default) through Django's test
client (routing, middleware, selectors, templates; no network), p50/p95/max and SQL queries.

    DATABASE_URL=... python bench/bench_pages_full.py [--requests 200] [--json out.json]

Meant for the generated full-size dump (``bench/imdb_generate.py --scale 1.0`` then
``import_imdb``). The heavy-tailed pages are found from Postgres' statistics, not by counting
50 M rows: the title with the most akas, the person with the most principal credits and the
series with the most episodes are the top of ``pg_stats.most_common_vals`` of the foreign key
(a title with 200+ akas: the first aka numbered 200), then their exact counts are taken once. Pages: home,
browse with each filter and each sort and its deepest reachable page, that title, that person's
filmography (first and last page), that series (seasons), ``/recommendations/`` for a member with
200 ratings and the staff system page. Target: p95 under 150 ms for each. The member and staff
user live in a transaction rolled back at the end. Prints the load average; exits non-zero when a
page misses the target. Not a test: numbers go to docs/full-size.md.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "imdbrec.settings.dev")
os.environ["DEBUG"] = "false"  # as in production: no query log, cached templates
os.environ.setdefault("RATELIMIT_ENABLE", "false")  # 200 requests a page from one address
os.environ.setdefault("SECRET_KEY", "bench-only-secret-key-not-used-for-anything-else-0123456789")

import django  # noqa: E402
import django.conf  # noqa: E402

django.setup()

from catalog_pages import member_create, plain_static_storages, timed_requests  # noqa: E402
from django.conf import settings  # noqa: E402
from django.db import connection, transaction  # noqa: E402
from django.test import Client  # noqa: E402
from django.test.utils import override_settings  # noqa: E402

from accounts.models import User  # noqa: E402
from catalog.selectors import FILMOGRAPHY_PAGE_SIZE  # noqa: E402
from catalog.views import BROWSE_PAGE_SIZE  # noqa: E402

P95_TARGET_MS = 150
DEEPEST_BROWSE_PAGE = settings.CATALOG_BROWSE_MAX_RESULTS // BROWSE_PAGE_SIZE


def most_common(table: str, column: str, extra: str = "") -> list[str]:
    """The most frequent values of ``table.column`` by Postgres' statistics (ANALYZE's sample)."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT most_common_vals::text::text[] FROM pg_stats WHERE tablename = %s AND attname = %s",
            [table, column],
        )
        row = cursor.fetchone()
    return list(row[0]) if row and row[0] else []


def exact_count(sql: str, value: str) -> int:
    with connection.cursor() as cursor:
        cursor.execute(sql, [value])
        return cursor.fetchone()[0]


def heavy_pages() -> list[tuple[str, str]]:
    pages = []
    # A title with 200+ akas (the generator gives one in 12,000 that many): the first aka numbered
    # 200, found by a short scan; the statistics' most common values as a fallback.
    with connection.cursor() as cursor:
        cursor.execute("SELECT title_id FROM catalog_titleaka WHERE ordering >= 200 LIMIT 1")
        row = cursor.fetchone()
    for tconst in ([row[0]] if row else most_common("catalog_titleaka", "title_id"))[:1]:
        akas = exact_count("SELECT count(*) FROM catalog_titleaka WHERE title_id = %s", tconst)
        principals = exact_count("SELECT count(*) FROM catalog_principal WHERE title_id = %s", tconst)
        pages.append((f"title with {akas} akas, {principals} principals", f"/titles/{tconst}/"))
    for nconst in most_common("catalog_principal", "person_id")[:1]:
        credits = exact_count("SELECT count(*) FROM catalog_principal WHERE person_id = %s", nconst)
        last = max(1, -(-credits // FILMOGRAPHY_PAGE_SIZE))
        pages.append((f"person with {credits:,} credits, page 1", f"/people/{nconst}/"))
        pages.append((f"person with {credits:,} credits, page {last}", f"/people/{nconst}/?page={last}"))
    for tconst in most_common("catalog_episode", "parent_id")[:1]:
        episodes = exact_count("SELECT count(*) FROM catalog_episode WHERE parent_id = %s", tconst)
        pages.append((f"series with {episodes:,} episodes", f"/titles/{tconst}/"))
    return pages


BROWSE = [
    ("home", "/"),
    ("browse, default (popularity)", "/titles/"),
    ("browse, sort rating", "/titles/?sort=rating"),
    ("browse, sort year", "/titles/?sort=year"),
    ("browse, sort title", "/titles/?sort=title"),
    ("browse, genre", "/titles/?genre=Drama"),
    ("browse, 2 genres, sort rating", "/titles/?genre=Drama&genre=Romance&sort=rating"),
    ("browse, years", "/titles/?year_min=1940&year_max=1950"),
    ("browse, years, sort title", "/titles/?year_min=1990&year_max=2000&sort=title"),
    ("browse, type", "/titles/?type=movie"),
    ("browse, type tvEpisode, sort year", "/titles/?type=tvEpisode&sort=year"),
    ("browse, min votes, sort rating", "/titles/?min_votes=1000&sort=rating"),
    ("browse, every filter", "/titles/?genre=Comedy&year_min=1980&year_max=2020&type=movie&min_votes=10&sort=rating"),
    ("browse, rare genre + type", "/titles/?genre=Western&type=tvShort"),
    (f"browse, deepest page ({DEEPEST_BROWSE_PAGE})", f"/titles/?page={DEEPEST_BROWSE_PAGE}"),
    ("browse, genre, sort year, deepest page", f"/titles/?genre=Drama&sort=year&page={DEEPEST_BROWSE_PAGE}"),
    ("browse, sort title, deepest page", f"/titles/?sort=title&page={DEEPEST_BROWSE_PAGE}"),
    ("browse, sort rating, deepest page", f"/titles/?sort=rating&page={DEEPEST_BROWSE_PAGE}"),
]


def measure(client: Client, url: str, requests: int) -> dict:
    timings, queries = timed_requests(client, url, requests)
    timings.sort()
    return {
        "p50_ms": statistics.median(timings),
        "p95_ms": timings[max(0, int(round(0.95 * len(timings))) - 1)],
        "max_ms": timings[-1],
        "queries": len(queries),
        "slowest_query_ms": max((float(query["time"]) * 1000 for query in queries), default=0.0),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--only", default="", help="measure only the pages whose name contains this")
    parser.add_argument("--json", help="write the figures here too")
    args = parser.parse_args()
    with connection.cursor() as cursor:
        cursor.execute("SELECT reltuples::bigint FROM pg_class WHERE relname = 'catalog_title'")
        titles = cursor.fetchone()[0]
    pages = BROWSE + heavy_pages() + [("/recommendations/ (member, 200 ratings)", "/recommendations/")]
    pages += [("staff system page", "/system/")]
    pages = [(name, url) for name, url in pages if args.only in name]
    load_before = os.getloadavg()
    print(f"catalogue: ~{titles:,} titles; {args.requests} requests per page; load average {load_before[0]:.1f}\n")
    print(f"{'page':52} {'p50':>7} {'p95':>7} {'max':>7} {'SQL':>4} {'slowest SQL':>11}")
    results, failures = [], []
    with override_settings(STORAGES=plain_static_storages()), transaction.atomic():
        member = member_create("bench-member-pages-full")
        staff = User.objects.create_user(username="bench-staff-pages-full", is_staff=True)
        anonymous, signed_in, staff_client = (Client(HTTP_HOST="localhost") for _ in range(3))
        signed_in.force_login(member)
        staff_client.force_login(staff)
        for name, url in pages:
            client = staff_client if url == "/system/" else signed_in if url == "/recommendations/" else anonymous
            figures = measure(client, url, args.requests)
            ok = figures["p95_ms"] < P95_TARGET_MS
            if not ok:
                failures.append(f"{name}: p95 {figures['p95_ms']:.0f} ms")
            print(
                f"{name[:52]:52} {figures['p50_ms']:>7.1f} {figures['p95_ms']:>7.1f} {figures['max_ms']:>7.1f}"
                f" {figures['queries']:>4} {figures['slowest_query_ms']:>9.1f}ms {'' if ok else ' MISS'}"
            )
            results.append({"page": name, "url": url, **figures})
        transaction.set_rollback(True)
    load_after = os.getloadavg()
    print(f"\nload average {load_before[0]:.1f} → {load_after[0]:.1f} (2 cores); target p95 < {P95_TARGET_MS} ms")
    if args.json:
        Path(args.json).write_text(
            json.dumps(
                {"titles": titles, "results": results, "load": [load_before[0], load_after[0]], "failures": failures},
                indent=1,
            )
        )
    print("FAILED: " + "; ".join(failures) if failures else "all targets met")
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
