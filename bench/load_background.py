"""Load: the recommendations page and search under concurrent load, first on a quiet system, then
while a model training and an IMDb import run in the background. Prints p50/p99 both ways.

    python bench/load_background.py [--clients 20] [--requests 30] [--json bench/out/load_background.json]

Private services (see bench/loadkit.py): the bundled IMDb sample, 500 synthetic users, one
trained model, ``--clients`` site users with a dozen ratings each, gunicorn (3 workers × 2
threads, as ``make serve``), one Celery worker per queue. Each client logs in, opens its
recommendations once (warm-up: the first visit folds the user in), then alternates the
recommendations page (pages 1-2, sometimes a genre filter) and a search for a word of a title.

The busy phase starts a training (staff "Train now", Spark on ``local[1]``) and an import (the
350,000-line IMDb slice from ../shared/data when present, else the bundled sample again), waits
until both are running, and repeats the load; it reports how many requests ran while both jobs
were running.
"""

from __future__ import annotations

import random
import tempfile
import threading
import time
from pathlib import Path
from urllib.parse import quote

from loadkit import ROOT, PrivateSite, latency_summary, load_parser, threads_run, write_json

from tests.reliability.http import Browser, page_messages

PASSWORD = "load-Pass-2024"  # noqa: S105 - a throwaway user of a throwaway database
STAFF_PASSWORD = "load-Staff-2024"  # noqa: S105
SHARED_SLICE = ROOT.parent / "shared" / "data" / "imdb-sample"
GENRES = ["Drama", "Comedy", "Romance", "Crime", "Adventure"]


def main() -> int:
    args = load_parser(__doc__, clients=20, requests=30, requests_help="requests per client and phase").parse_args()

    site = PrivateSite(log_dir=Path(tempfile.mkdtemp(prefix="imdbrec-load-background-")))
    try:
        print(
            "setting up: private Postgres with the IMDb sample, 500 synthetic users, site users, a trained "
            "model, gunicorn, workers …",
            flush=True,
        )
        site.prepare(synthetic_users=500)
        site.manage(
            "shell",
            "-c",
            "import random\n"
            "from accounts.models import User\n"
            "from catalog.models import Title\n"
            "from ratings.services import rating_set\n"
            f"User.objects.create_superuser('loadstaff', 'loadstaff@example.com', {STAFF_PASSWORD!r})\n"
            "popular = list(Title.objects.filter(title_type='movie').order_by('-num_votes')[:400])\n"
            f"rng = random.Random({args.seed})\n"
            f"for n in range({args.clients}):\n"
            f"    user = User.objects.create_user(f'load{{n}}', f'load{{n}}@example.com', {PASSWORD!r})\n"
            "    for title in rng.sample(popular, 12):\n"
            "        rating_set(user=user, title=title, score=rng.randint(1, 5))\n",
        )
        site.manage("train_recommender", "--rank", "8", "--iterations", "5", "-v0")
        words = [
            word
            for word in site.sql("SELECT primary_title FROM catalog_title ORDER BY num_votes DESC LIMIT 300")
            .replace("\n", " ")
            .split()
            if len(word) > 3 and word.isalpha()
        ]
        server = site.gunicorn(workers=3, threads=2)
        site.worker("spark")
        site.worker("default")
        clients = [Browser(server.url, timeout=120) for _ in range(args.clients)]
        for number, client in enumerate(clients):
            client.login(f"load{number}", PASSWORD)
            client.get("/recommendations/")  # warm-up: fold-in and the run's matrices

        quiet = load_phase(clients, words, args, random.Random(args.seed), busy=None)

        staff = Browser(server.url, timeout=120)
        staff.login("loadstaff", STAFF_PASSWORD)
        shown = page_messages(
            staff.get(staff.post("/system/recommender/train/", {"rank": "8", "iterations": "5"}).location).body
        )
        source = (
            {"source": "directory", "directory": str(SHARED_SLICE)} if SHARED_SLICE.is_dir() else {"source": "sample"}
        )
        shown += page_messages(staff.get(staff.post("/system/catalog/import/", source).location).body)
        jobs = Jobs(site)
        jobs.wait_both_running()
        busy = load_phase(clients, words, args, random.Random(args.seed + 1), busy=jobs)
        jobs.wait_finished()
        result = {
            "clients": args.clients,
            "requests_per_client": args.requests,
            "quiet": quiet,
            "busy": busy,
            "background": {
                "messages": shown,
                "import_source": source.get("directory", "bundled sample"),
                **jobs.summary(),
            },
        }
    finally:
        site.close()
    report(result)
    write_json(args.json, result)
    return 0 if not result["quiet"]["errors"] and not result["busy"]["errors"] else 1


class Jobs:
    """Polls the training and the import started for the busy phase."""

    def __init__(self, site: PrivateSite):
        self.site = site
        self.train_id = int(site.sql("SELECT max(id) FROM recommender_modelrun"))
        self.import_id = int(site.sql("SELECT max(id) FROM catalog_importrun"))

    def states(self) -> tuple[str, str]:
        return (
            self.site.sql(f"SELECT status FROM recommender_modelrun WHERE id = {self.train_id}"),
            self.site.sql(f"SELECT status FROM catalog_importrun WHERE id = {self.import_id}"),
        )

    def both_running(self) -> bool:
        return self.states() == ("running", "running")

    def wait_both_running(self, timeout: float = 120) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and not self.both_running():
            time.sleep(0.2)

    def wait_finished(self, timeout: float = 900) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and {"queued", "running"} & set(self.states()):
            time.sleep(1)

    def summary(self) -> dict:
        train = self.site.sql(
            f"SELECT status || '|' || coalesce(extract(epoch FROM finished_at - started_at)::int, -1) "
            f"FROM recommender_modelrun WHERE id = {self.train_id}"
        ).split("|")
        imported = self.site.sql(
            f"SELECT status || '|' || coalesce(extract(epoch FROM finished_at - started_at)::int, "
            f"-1) || '|' || rows_done FROM catalog_importrun WHERE id = {self.import_id}"
        ).split("|")
        return {
            "training": {"run": self.train_id, "status": train[0], "seconds": int(train[1])},
            "import": {
                "run": self.import_id,
                "status": imported[0],
                "seconds": int(imported[1]),
                "lines": int(imported[2]),
            },
        }


def load_phase(clients: list[Browser], words: list[str], args, rng: random.Random, busy: Jobs | None) -> dict:
    plans = []
    for _client in clients:
        plan = []
        for number in range(args.requests):
            if number % 2 == 0:
                params = f"?page={rng.choice([1, 1, 2])}"
                if rng.random() < 0.3:
                    params += f"&genre={rng.choice(GENRES)}"
                plan.append(("recommendations", "/recommendations/" + params))
            else:
                plan.append(("search", f"/search/?q={quote(rng.choice(words))}"))
        plans.append(plan)
    timings: dict[str, list[float]] = {"recommendations": [], "search": []}
    errors: list[str] = []
    overlapped = {"count": 0}
    lock = threading.Lock()
    both_running = {"value": busy is not None}
    stop = threading.Event()

    def watch():  # whether both background jobs are still running, twice a second
        while not stop.is_set():
            both_running["value"] = busy.both_running()
            time.sleep(0.5)

    def run(client: Browser, plan: list):
        for kind, path in plan:
            response = client.get(path)
            with lock:
                timings[kind].append(response.seconds)
                if response.status != 200:
                    errors.append(f"{response.status} {path}")
                if busy is not None and both_running["value"]:
                    overlapped["count"] += 1

    watcher = threading.Thread(target=watch, daemon=True) if busy else None
    if watcher:
        watcher.start()
    threads = [threading.Thread(target=run, args=(client, plan)) for client, plan in zip(clients, plans, strict=True)]
    elapsed = threads_run(threads)
    stop.set()
    total = sum(len(values) for values in timings.values())
    return {
        "seconds": round(elapsed, 2),
        "requests": total,
        "per_second": round(total / elapsed, 1),
        "errors": errors,
        "recommendations": latency_summary(timings["recommendations"]),
        "search": latency_summary(timings["search"]),
        "requests_while_both_jobs_ran": overlapped["count"] if busy else None,
    }


def report(result: dict) -> None:
    print(f"{result['clients']} clients × {result['requests_per_client']} requests per phase")
    for phase in ("quiet", "busy"):
        data = result[phase]
        overlap = (
            f"; {data['requests_while_both_jobs_ran']} of {data['requests']} requests while training and import "
            "both ran"
            if phase == "busy"
            else ""
        )
        print(f"{phase:>5}: {data['per_second']} requests/s, errors {len(data['errors'])}{overlap}")
        for page in ("recommendations", "search"):
            latency = data[page]
            print(
                f"       {page:<16} p50 {latency['p50_ms']:>7} ms   p99 {latency['p99_ms']:>7} ms   "
                f"max {latency['max_ms']:>7} ms"
            )
    background = result["background"]
    print(
        f"background: training run #{background['training']['run']} {background['training']['status']} in "
        f"{background['training']['seconds']} s; import #{background['import']['run']} of "
        f"{background['import_source']} {background['import']['status']} in {background['import']['seconds']} s "
        f"({background['import']['lines']:,} lines)"
    )


if __name__ == "__main__":
    raise SystemExit(main())
