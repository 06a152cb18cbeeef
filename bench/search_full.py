"""The search at full size: a fixed list of queries, timed as the search page runs them.

    DATABASE_URL=... python bench/search_full.py [--repeat 5] [--explain] [--json out.json]

Runs on whatever catalogue the database holds, meant for the generated full-size dump
(``bench/imdb_generate.py --scale 1.0`` then ``import_imdb``), whose real slice keeps the real
titles' ids: each real title of the list must come back at rank 1 (``casablnca`` → tt0034583),
each person at the top of the people. Every query runs what ``/search/`` runs (``search_run``): the people search, then
the title search and its tiers. Prints per query the
median and worst wall time, the hits, how the answer was found (``tail``: the long tail was
searched after the popular titles: ``rated``, ``tail``; ``TIMEOUT:…``/``EXACT-ONLY``: a budget ran
out, counted as a failure), the rank check,
then p95 and max over every run with the targets (p95 < 200 ms, none over 500 ms), the load
average and, with --explain, EXPLAIN ANALYZE of the statements of the query whose best run was
the slowest (on a loaded machine the best run is the closest to a query's own cost).
Exits non-zero when a target or a rank check fails. Not a test: numbers go to docs/full-size.md.
"""

from __future__ import annotations

import argparse
import json
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

from catalog.search import (  # noqa: E402
    person_search_sql,
    search_run,
    title_search_settings,
    title_search_sql,
    title_search_tail_sql,
)

P95_TARGET_MS = 200
MAX_TARGET_MS = 500
LONG = "the man who knew too much about the night and the love of a woman in the city of angels and demons"
NOISE = "casablanca humphrey bogart ingrid bergman nineteen forty two warner brothers classic romance war drama"

# (query, what it is, the title expected at rank 1 or None, the person expected first or None)
QUERIES: list[tuple[str, str, str | None, str | None]] = [
    ("casablanca", "title", "tt0034583", None),
    ("casablnca", "typo", "tt0034583", None),
    ("Casablanka", "typo", "tt0034583", None),
    ("12 angry men", "title", "tt0050083", None),
    ("rear window", "title", "tt0047396", None),
    ("its a wonderful life", "title, no punctuation", "tt0038650", None),
    ("citizen kane", "title", "tt0033467", None),
    ("citzen kane", "typo", "tt0033467", None),
    ("the wizard of oz", "title", "tt0032138", None),
    ("wizard of oz", "words of a title", "tt0032138", None),
    ("seven samurai", "title", "tt0047478", None),
    ("shichinin no samurai", "original title", "tt0047478", None),
    ("gone with the wind", "title", "tt0031381", None),
    ("gone with teh wind", "typo", "tt0031381", None),
    ("singin in the rain", "title, no punctuation", "tt0045152", None),
    ("sunset blvd", "original title", "tt0043014", None),
    ("the great dictator", "title", "tt0032553", None),
    ("bridge on the river kwai", "words of a title", "tt0050212", None),
    ("metropolis", "title", "tt0017136", None),
    ("metropolsi", "typo", "tt0017136", None),
    ("rashomon", "original title, accent", "tt0042876", None),
    ("ladri di biciclette", "original title, Italian", "tt0040522", None),
    ("the third man", "title", "tt0041959", None),
    ("dial m for murder", "title", "tt0046912", None),
    ("the maltese falcn", "typo", "tt0033870", None),
    ("snow white and the seven dwarfs", "title", "tt0029583", None),
    ("it happened one night", "title", "tt0025316", None),
    ("night of the hunter", "words of a title", "tt0048424", None),
    ("der vagabund und das kind", "aka, German", "tt0012349", None),
    ("il monello", "aka, Italian", "tt0012349", None),
    ("nosferatu eine symphonie des grauens", "original title, German", "tt0013442", None),
    ("Носферату, симфония ужаса", "aka, Cyrillic", "tt0013442", None),
    ("Το εργαστήρι του δρ. Καλιγκάρι", "aka, Greek", "tt0010323", None),
    ("das cabinet des dr caligari", "aka, German", "tt0010323", None),
    ("le voyage dans la lune", "aka, French", "tt0000417", None),
    ("月世界旅行", "aka, Japanese", "tt0000417", None),
    ("m", "one letter", "tt0022100", None),
    ("love", "common word", None, None),
    ("night", "common word", None, None),
    ("the", "common word", None, None),
    ("man", "common word", None, None),
    ("episode", "common word (episode titles)", None, None),
    ("humphrey bogart", "person", None, "nm0000007"),
    ("alfred hitchcok", "person, typo", None, "nm0000033"),
    ("ingrid bergman", "person", None, "nm0000006"),
    (LONG, "100 characters", None, None),
    (NOISE, "100 characters around a title", None, None),
    (
        "xqzt vbnmw plokij uhygtf rdeswaq zxcvbnm qwertyui asdfghjk lkjhgfds poiuytre mnbvcxz qazwsxed edcrf",
        "100 characters, no match",
        None,
        None,
    ),
]


def run_query(query: str) -> tuple[float, object, list]:
    started = time.perf_counter()
    outcome, people = search_run(query=query)
    return (time.perf_counter() - started) * 1000, outcome, people


def explain(query: str) -> str:
    lines = []
    with connection.cursor() as cursor:
        statements = [("tiers 1 and 2", title_search_sql(query=query))]
        if len(query.replace(" ", "")) >= 4:
            statements.append(("tier 3 (tail)", title_search_tail_sql(query=query)))
        statements.append(("people", person_search_sql(query=query)))
        for name, (sql, params) in statements:
            cursor.execute("BEGIN")
            title_search_settings(cursor, timeout_ms=60_000)
            cursor.execute("EXPLAIN (ANALYZE, BUFFERS, COSTS OFF) " + sql, params)
            lines.append(f"-- {name}")
            lines.extend(row[0] for row in cursor.fetchall())
            cursor.execute("ROLLBACK")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=5, help="timed runs per query (after one warm-up)")
    parser.add_argument("--explain", action="store_true", help="EXPLAIN ANALYZE the slowest query")
    parser.add_argument("--json", help="write the figures here too")
    args = parser.parse_args()
    connection.ensure_connection()
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT (SELECT reltuples::bigint FROM pg_class WHERE relname = 'catalog_title'),"
            " (SELECT reltuples::bigint FROM pg_class WHERE relname = 'catalog_titleaka'),"
            " (SELECT reltuples::bigint FROM pg_class WHERE relname = 'catalog_person'),"
            " (SELECT count(*) FROM catalog_titlesearch)"
        )
        titles, akas, people, names = cursor.fetchone()
    if not names:
        sys.exit("the search table is empty: run `manage.py build_search` (the importer does it after a load)")
    load_before = os.getloadavg()
    print(f"catalogue: ~{titles:,} titles, ~{akas:,} akas, ~{people:,} people; search table {names:,} names")
    print(f"{len(QUERIES)} queries, {args.repeat} runs each after a warm-up; load average {load_before[0]:.1f}\n")
    print(
        f"{'query':40} {'kind':26} {'median':>7} {'worst':>7} {'hits':>5} {'how':>18}  {'check':8} ms per tier (last run)"
    )
    results, every_run, failures = [], [], []
    for query, kind, tconst, nconst in QUERIES:
        run_query(query)  # warm-up: the first run reads the index pages from disk
        timings = []
        for _ in range(args.repeat):
            elapsed, outcome, people = run_query(query)
            timings.append(elapsed)
        every_run.extend(timings)
        how = "+".join(["popular"] + outcome.tiers)
        if outcome.exact_only or outcome.timed_out:
            how = "EXACT-ONLY" if outcome.exact_only else f"TIMEOUT:{outcome.tiers[-1]}"
        check = ""
        if tconst is not None:
            got = [hit.tconst for hit in outcome.hits[:5]]
            check = (
                "rank 1"
                if got[:1] == [tconst]
                else f"MISS ({tconst} at {got.index(tconst) + 1 if tconst in got else '>5'})"
            )
        if nconst is not None:
            got = [hit.nconst for hit in people[:3]]
            check = "person 1" if got[:1] == [nconst] else f"MISS person ({got})"
        if check.startswith("MISS") or outcome.exact_only or outcome.timed_out:
            failures.append(f"{query!r}: {check or how}")
        median, worst = statistics.median(timings), max(timings)
        label = query if len(query) <= 38 else query[:35] + "..."
        tiers = " ".join(f"{name} {ms:.0f}" for name, ms in outcome.timings.items())
        print(
            f"{label!r:40} {kind[:26]:26} {median:>7.1f} {worst:>7.1f} {len(outcome.hits):>5} {how:>18}  {check:8} {tiers}"
        )
        results.append(
            {
                "query": query,
                "kind": kind,
                "median_ms": median,
                "worst_ms": worst,
                "best_ms": min(timings),
                "hits": len(outcome.hits),
                "how": how,
                "check": check,
                "top": [hit.tconst for hit in outcome.hits[:3]],
            }
        )
    every_run.sort()
    p95 = every_run[max(0, int(round(0.95 * len(every_run))) - 1)]
    worst_median = max(result["median_ms"] for result in results)
    load_after = os.getloadavg()
    print(
        f"\nall {len(every_run)} runs: p50 {statistics.median(every_run):.1f} ms, p95 {p95:.1f} ms (target < {P95_TARGET_MS}),"
        f" max {every_run[-1]:.1f} ms (target: no query over {MAX_TARGET_MS}); worst median {worst_median:.1f} ms;"
        f" load average {load_before[0]:.1f} → {load_after[0]:.1f} (2 cores)"
    )
    if p95 >= P95_TARGET_MS:
        failures.append(f"p95 {p95:.0f} ms")
    if every_run[-1] > MAX_TARGET_MS:
        failures.append(f"max {every_run[-1]:.0f} ms")
    # The best of the runs: on a loaded machine the median and worst measure the queue for a core
    # as much as the query; the best run is the closest to the query's own cost.
    slowest = max(results, key=lambda result: result["best_ms"])
    plan = ""
    if args.explain:
        plan = explain(slowest["query"])
        print(
            f"\nEXPLAIN ANALYZE of the slowest query (by its best run, {slowest['best_ms']:.1f} ms), {slowest['query']!r}:\n{plan}"
        )
    if args.json:
        Path(args.json).write_text(
            json.dumps(
                {
                    "titles": titles,
                    "akas": akas,
                    "people": people,
                    "search_names": names,
                    "results": results,
                    "p95_ms": p95,
                    "max_ms": every_run[-1],
                    "load": [load_before[0], load_after[0]],
                    "failures": failures,
                    "plan": plan,
                },
                indent=1,
                ensure_ascii=False,
            )
        )
    print("\n" + ("FAILED: " + "; ".join(failures) if failures else "all targets met"))
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
