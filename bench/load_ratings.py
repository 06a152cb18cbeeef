"""Load: 50 concurrent clients rating titles against gunicorn; afterwards every acknowledged rating
is in the database exactly once, with the score last acknowledged.

    python bench/load_ratings.py [--clients 50] [--requests 40] [--json bench/out/load_ratings.json]

Each client logs in as its own user (and five users are shared by two clients each, rating
disjoint titles, so one user's ratings also arrive concurrently), then sends ``--requests``
star clicks the way the page's JavaScript does (POST with CSRF, ``X-Requested-With``), each
to one of 25 titles of its own (so many clicks re-rate a title). A click is acknowledged when
the server answers 200 with the star fragment showing that score.

Runs on private services (a throwaway Postgres cluster with the bundled IMDb sample, a
throwaway Redis, gunicorn with 3 workers × 2 threads as ``make serve`` starts it). Prints
throughput and latency percentiles; exits non-zero if any acknowledged rating is missing,
duplicated or wrong.
"""

from __future__ import annotations

import random
import re
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path

from loadkit import PrivateSite, latency_summary, load_parser, write_json

from tests.reliability.http import Browser

PASSWORD = "load-Pass-2024"  # noqa: S105 - a throwaway user of a throwaway database
# The star fragment's legend (templates/includes/_stars.html): "Your rating of <title>: <score> of 5".
SHOWN_SCORE = re.compile(r"Your rating of [^<]*: (\d) of 5</legend>")
TITLES_PER_CLIENT = 25
SHARED_USERS = 5  # users driven by two clients at once


def main() -> int:
    parser = load_parser(__doc__, clients=50, requests=40, requests_help="rating requests per client (bounded load)")
    parser.add_argument("--workers", type=int, default=3, help="gunicorn workers")
    parser.add_argument("--threads", type=int, default=2, help="gunicorn threads per worker")
    args = parser.parse_args()

    site = PrivateSite(log_dir=Path(tempfile.mkdtemp(prefix="imdbrec-load-ratings-")))
    try:
        print("setting up: private Postgres with the IMDb sample, Redis, gunicorn …", flush=True)
        site.prepare()
        users = args.clients - SHARED_USERS
        site.manage(
            "shell",
            "-c",
            "from accounts.models import User\n"
            f"for n in range({users}):\n"
            f"    User.objects.create_user(f'load{{n}}', f'load{{n}}@example.com', {PASSWORD!r})\n",
        )
        titles = site.sql("SELECT tconst FROM catalog_title ORDER BY num_votes DESC LIMIT 2000").split()
        server = site.gunicorn(workers=args.workers, threads=args.threads)
        result = run_load(server.url, titles, args, users)
        result.update(verify(site, result.pop("acknowledged"), result.pop("attempted")))
        result["server"] = {"gunicorn_workers": args.workers, "threads": args.threads}
    finally:
        site.close()
    report(result)
    write_json(args.json, result)
    return 0 if result["ok"] else 1


def run_load(url: str, titles: list[str], args, users: int) -> dict:
    rng = random.Random(args.seed)
    # Client c drives user c % users: the last SHARED_USERS clients share users 0..4 with the first five.
    plans = []
    for client in range(args.clients):
        own_titles = rng.sample(titles, TITLES_PER_CLIENT)
        plans.append(
            {
                "user": f"load{client % users}",
                "titles": own_titles,
                "clicks": [(rng.choice(own_titles), rng.randint(1, 5)) for _ in range(args.requests)],
            }
        )
    # Twins must not rate the same title (their order would be undefined): give twins disjoint pools.
    for client in range(users, args.clients):
        twin = plans[client - users]
        pool = [title for title in titles if title not in set(twin["titles"])]
        plans[client]["titles"] = rng.sample(pool, TITLES_PER_CLIENT)
        plans[client]["clicks"] = [
            (rng.choice(plans[client]["titles"]), rng.randint(1, 5)) for _ in range(args.requests)
        ]

    latencies: list[float] = []
    statuses: Counter = Counter()
    acknowledged: dict[tuple[str, str], int] = {}
    attempted: set[tuple[str, str]] = set()
    lock = threading.Lock()
    start = threading.Barrier(args.clients + 1)
    errors: list[str] = []

    def client(plan: dict) -> None:
        browser = Browser(url, timeout=60)
        try:
            browser.login(plan["user"], PASSWORD)
        except AssertionError as error:
            errors.append(str(error))
            start.wait()
            return
        start.wait()
        for tconst, score in plan["clicks"]:
            response = browser.post(
                f"/titles/{tconst}/rate/",
                {"score": str(score), "next": f"/titles/{tconst}/"},
                headers={"X-Requested-With": "XMLHttpRequest"},
            )
            # Acknowledged: 200 with the star fragment saying "Your rating: <score> of 5".
            shown = SHOWN_SCORE.search(response.body) if response.status == 200 else None
            with lock:
                latencies.append(response.seconds)
                statuses[response.status] += 1
                attempted.add((plan["user"], tconst))
                if shown and int(shown[1]) == score:
                    acknowledged[(plan["user"], tconst)] = score
                elif response.status == 200:
                    statuses["200 with another score"] += 1

    threads = [threading.Thread(target=client, args=(plan,)) for plan in plans]
    for thread in threads:
        thread.start()
    start.wait()
    began = time.perf_counter()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - began
    ok = statuses.get(200, 0)
    return {
        "clients": args.clients,
        "requests_per_client": args.requests,
        "requests": sum(statuses.values()),
        "statuses": dict(statuses),
        "login_errors": errors,
        "seconds": round(elapsed, 2),
        "throughput_per_second": round(ok / elapsed, 1),
        "latency": latency_summary(latencies),
        "acknowledged": acknowledged,
        "attempted": attempted,
    }


def verify(site: PrivateSite, acknowledged: dict, attempted: set) -> dict:
    """Every acknowledged (user, title) is in the table exactly once with its last acknowledged score."""
    rows = site.sql(
        "SELECT u.username || '|' || r.title_id || '|' || r.score FROM ratings_rating r "
        "JOIN accounts_user u ON u.id = r.user_id WHERE u.username LIKE 'load%'"
    ).split()
    counts = Counter()
    stored = {}
    for row in rows:
        username, tconst, score = row.split("|")
        counts[(username, tconst)] += 1
        stored[(username, tconst)] = int(score)
    missing = [key for key in acknowledged if key not in stored]
    duplicated = [key for key, count in counts.items() if count > 1]
    wrong = [key for key, score in acknowledged.items() if key in stored and stored[key] != score]
    unexpected = [key for key in stored if key not in attempted]
    return {
        "acknowledged_pairs": len(acknowledged),
        "rows": len(rows),
        "missing": len(missing),
        "duplicated": len(duplicated),
        "wrong_score": len(wrong),
        "unexpected": len(unexpected),
        # Nothing acknowledged means the acknowledgement was not recognised (the fragment changed),
        # not that nothing was lost: that is a failure too.
        "ok": bool(acknowledged) and not (missing or duplicated or wrong or unexpected),
    }


def report(result: dict) -> None:
    latency = result["latency"]
    print(
        f"{result['clients']} clients × {result['requests_per_client']} clicks = {result['requests']} requests "
        f"in {result['seconds']} s: {result['throughput_per_second']} acknowledged ratings/s"
    )
    print(f"statuses: {result['statuses']}; login errors: {len(result['login_errors'])}")
    print(
        f"latency: p50 {latency['p50_ms']} ms, p95 {latency['p95_ms']} ms, p99 {latency['p99_ms']} ms, "
        f"max {latency['max_ms']} ms"
    )
    print(
        f"database: {result['acknowledged_pairs']} acknowledged (user, title) pairs, {result['rows']} rows; "
        f"missing {result['missing']}, duplicated {result['duplicated']}, wrong score {result['wrong_score']}, "
        f"unacknowledged extra {result['unexpected']} -> {'OK' if result['ok'] else 'FAILED'}"
    )


if __name__ == "__main__":
    raise SystemExit(main())
