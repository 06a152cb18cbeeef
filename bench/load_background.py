"""Load: the recommendations page and search under concurrent load, first on a quiet system, then
while a model training and an IMDb import run in the background. Prints p50/p99 both ways.

    python bench/load_background.py [--clients 20] [--requests 30] [--json bench/out/load_background.json]

Private services (see bench/loadkit.py): the bundled IMDb sample, 500 synthetic users, one
trained model, ``--clients`` site users with a dozen ratings each, gunicorn (3 workers × 2
threads, as ``make serve``), one Celery worker per queue. Each client logs in, opens its
recommendations once (warm-up: the first visit folds the user in), then alternates the
recommendations page (pages 1-2, sometimes a genre filter) and a search for a word of a title.

The busy phase starts a training (staff "Train now", Spark on ``local[1]``) and an import (the
IMDb slice of the shared data folder, ``bench/shareddata.py``, when present, else the bundled
sample again), waits until both are running, and repeats the load. Each job is started again as soon as it finishes, until the load is
done: one import of the slice takes a second or so and a training under a minute, far less than
the load, so one of each would leave most requests without them. It reports how many requests ran
while both jobs were running (the rest fell in the moments between one run's end and the next
one's start) and how many trainings and imports ran.
"""

from __future__ import annotations

import random
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path
from urllib.parse import quote

from loadkit import PrivateSite, latency_summary, load_parser, threads_run, write_json
from shareddata import IMDB_SLICE

from tests.reliability.http import Browser, page_messages

PASSWORD = "load-Pass-2024"  # noqa: S105 - a throwaway user of a throwaway database
STAFF_PASSWORD = "load-Staff-2024"  # noqa: S105
GENRES = ["Drama", "Comedy", "Romance", "Crime", "Adventure"]
ACTIVE = {"queued", "running"}  # a job in either state is not started again


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
        source = {"source": "directory", "directory": str(IMDB_SLICE)} if IMDB_SLICE.is_dir() else {"source": "sample"}
        jobs = Jobs(site, staff, source)
        jobs.start()
        busy = load_phase(clients, words, args, random.Random(args.seed + 1), busy=jobs)
        jobs.stop()
        result = {
            "clients": args.clients,
            "requests_per_client": args.requests,
            "quiet": quiet,
            "busy": busy,
            "background": {
                "messages": list(dict.fromkeys(jobs.messages)),  # each job's message once
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
    """The busy phase's background work: a training and an import, started through the staff pages
    and each started again as soon as it finishes, until ``stop``."""

    def __init__(self, site: PrivateSite, staff: Browser, source: dict):
        self.site, self.staff, self.source = site, staff, source
        self.train_ids: list[int] = []
        self.import_ids: list[int] = []
        self.messages: list[str] = []
        self._stopping = threading.Event()
        self._keeper = threading.Thread(target=self._keep_running, daemon=True)

    def _post(self, path: str, data: dict, table: str, ids: list[int]) -> None:
        self.messages += page_messages(self.staff.get(self.staff.post(path, data).location).body)
        ids.append(int(self.site.sql(f"SELECT max(id) FROM {table}")))

    def _train(self) -> None:
        self._post(
            "/system/recommender/train/", {"rank": "8", "iterations": "5"}, "recommender_modelrun", self.train_ids
        )

    def _import(self) -> None:
        self._post("/system/catalog/import/", self.source, "catalog_importrun", self.import_ids)

    def states(self) -> tuple[str, str]:
        """The status of the latest training and the latest import."""
        return (
            self.site.sql(f"SELECT status FROM recommender_modelrun WHERE id = {self.train_ids[-1]}"),
            self.site.sql(f"SELECT status FROM catalog_importrun WHERE id = {self.import_ids[-1]}"),
        )

    def both_running(self) -> bool:
        return self.states() == ("running", "running")

    def _keep_running(self) -> None:
        while not self._stopping.wait(0.5):
            training, importing = self.states()
            if training not in ACTIVE:
                self._train()
            if importing not in ACTIVE:
                self._import()

    def start(self, timeout: float = 120) -> None:
        """Start both jobs and keep them going; return once both run (or after ``timeout``)."""
        self._train()
        self._import()
        self._keeper.start()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and not self.both_running():
            time.sleep(0.2)

    def stop(self, timeout: float = 900) -> None:
        """Start no more jobs and wait for the last ones to finish."""
        self._stopping.set()
        self._keeper.join()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and ACTIVE & set(self.states()):
            time.sleep(1)

    def _runs(self, table: str, ids: list[int], extra: tuple[str, str] | None = None) -> dict:
        """The runs ``ids`` of ``table``: how many and their statuses, with the first one's id,
        status, seconds and ``extra`` (figure, column) as when each job ran once."""
        columns = "status || '|' || coalesce(extract(epoch FROM finished_at - started_at)::int, -1)"
        if extra:
            columns += f" || '|' || {extra[1]}"
        listed = ",".join(map(str, ids))
        rows = [
            line.split("|")
            for line in self.site.sql(f"SELECT {columns} FROM {table} WHERE id IN ({listed}) ORDER BY id").splitlines()
        ]
        first = {"run": ids[0], "status": rows[0][0], "seconds": int(rows[0][1])}
        if extra:
            first[extra[0]] = int(rows[0][2])
        return {**first, "runs": len(rows), "statuses": dict(Counter(row[0] for row in rows))}

    def summary(self) -> dict:
        return {
            "training": self._runs("recommender_modelrun", self.train_ids),
            "import": self._runs("catalog_importrun", self.import_ids, ("lines", "rows_done")),
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
    training, imported = background["training"], background["import"]
    print(
        f"background: {training['runs']} trainings ({_statuses(training['statuses'])}), the first run "
        f"#{training['run']} {training['status']} in {training['seconds']} s; {imported['runs']} imports of "
        f"{background['import_source']} ({_statuses(imported['statuses'])}), the first #{imported['run']} "
        f"{imported['status']} in {imported['seconds']} s ({imported['lines']:,} lines)"
    )


def _statuses(counts: dict[str, int]) -> str:
    return ", ".join(f"{count} {status}" for status, count in counts.items())


if __name__ == "__main__":
    raise SystemExit(main())
