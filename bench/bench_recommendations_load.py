"""Load: 16 concurrent logged-in users on /recommendations/, served by gunicorn.

    DATABASE_URL=... CELERY_BROKER_URL=... python bench/bench_recommendations_load.py \\
        [--users 16] [--seconds 20] [--workers 4] [--port 8650] [--titles 50000] [--rate-every 0]

Sets up, in the database named by DATABASE_URL, a model run of ``--titles`` titles (made active
for the length of the benchmark) and ``--users`` site users with 50 ratings each, logged in (one
session each). Starts gunicorn (``imdbrec.wsgi``, the test settings: DEBUG off) on ``--port``,
warms every worker, then each simulated user requests /recommendations/ in a closed loop (no
think time) over one keep-alive connection for ``--seconds``. With ``--rate-every N`` a user rates
a title every N requests (each rating makes their next view a real-time fold-in).

Prints throughput, latency percentiles and errors. Targets: p99 < 150 ms and >= 200 requests/s.
Everything created is removed at the end; the previously active run is active again.
"""

from __future__ import annotations

import argparse
import http.client
import os
import signal
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "imdbrec.settings.test")

import django  # noqa: E402

django.setup()

from django.conf import settings  # noqa: E402
from django.test import Client  # noqa: E402

from accounts.models import User  # noqa: E402
from bench.bench_foldin import build, percentile, run_remove, run_serve  # noqa: E402
from bench.loadkit import threads_run  # noqa: E402
from ratings.models import Rating  # noqa: E402
from ratings.services import rating_changed_notify  # noqa: E402


def group_cpu_seconds(pgid: int) -> float:
    """User + system CPU seconds of every live process in the process group ``pgid`` (Linux /proc)."""
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as stat:
                fields = stat.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) == pgid:  # fields after "pid (comm)": state ppid pgrp ...
            total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / ticks


def gunicorn_start(*, port: int, workers: int, threads: int) -> subprocess.Popen:
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "imdbrec.settings.test", "DEBUG": "false"}
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "gunicorn",
            "imdbrec.wsgi:application",
            "--bind",
            f"127.0.0.1:{port}",
            "--workers",
            str(workers),
            "--threads",
            str(threads),
            "--worker-class",
            "gthread" if threads > 1 else "sync",
            "--keep-alive",
            "30",
            "--backlog",
            "256",
            "--log-level",
            "warning",
        ],
        cwd=ROOT,
        env=env,
        start_new_session=True,
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            conn.request("GET", "/accounts/login/")
            conn.getresponse().read()
            return process
        except OSError:
            time.sleep(0.3)
    process.kill()
    raise RuntimeError("gunicorn did not start")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--users", type=int, default=16)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--port", type=int, default=8650)
    parser.add_argument("--titles", type=int, default=50_000)
    parser.add_argument("--ratings", type=int, default=50)
    parser.add_argument("--rate-every", type=int, default=0)
    args = parser.parse_args()

    print(
        f"setting up: a run of {args.titles:,} titles, {args.users} users with {args.ratings} ratings ...", flush=True
    )
    run, tconsts, created_titles = build(titles=args.titles, rank=48, rating_rank=20, seed=11)
    users, process = [], None
    previous = run_serve(run)
    try:
        rng = np.random.default_rng(5)
        cookies = []
        for n in range(args.users):
            user = User.objects.create_user(username=f"bench-load-{run.pk}-{n}")
            users.append(user)
            chosen = rng.choice(len(tconsts), size=args.ratings, replace=False)
            Rating.objects.bulk_create(
                Rating(user=user, title_id=tconsts[i], score=int(rng.integers(1, 6))) for i in chosen
            )
            client = Client()
            client.force_login(user)
            cookies.append(f"{settings.SESSION_COOKIE_NAME}={client.cookies[settings.SESSION_COOKIE_NAME].value}")

        process = gunicorn_start(port=args.port, workers=args.workers, threads=args.threads)
        print(f"gunicorn: {args.workers} workers x {args.threads} threads on :{args.port}; warming up ...", flush=True)
        warm_deadline = time.monotonic() + 60
        for _round in range(6 * args.workers):
            for index, cookie in enumerate(cookies):
                conn = http.client.HTTPConnection("127.0.0.1", args.port, timeout=60)
                conn.request("GET", "/recommendations/", headers={"Cookie": cookie})
                response = conn.getresponse()
                body = response.read()
                if response.status != 200 or b"Because you rated" not in body:
                    raise RuntimeError(f"warm-up got {response.status}: {body[:300]!r}")
                # Keep the CSRF cookie the page sets, as a browser does (the forms' tokens use it).
                for header, value in response.getheaders():
                    if header.lower() == "set-cookie" and value.startswith(settings.CSRF_COOKIE_NAME + "="):
                        cookies[index] = f"{cookie}; {value.split(';', 1)[0]}"
                        cookie = cookies[index]
                conn.close()
            if time.monotonic() > warm_deadline:
                break

        latencies: list[list[float]] = [[] for _ in cookies]
        errors: list[int] = [0] * len(cookies)
        folds = [0] * len(cookies)
        stop = time.monotonic() + args.seconds

        def drive(index: int) -> None:
            conn = http.client.HTTPConnection("127.0.0.1", args.port, timeout=30)
            headers = {"Cookie": cookies[index], "Connection": "keep-alive"}
            count = 0
            while time.monotonic() < stop:
                count += 1
                if args.rate_every and count % args.rate_every == 0:
                    # A rating through the ORM, as the rate endpoint does: the next view folds in.
                    title_id = tconsts[(index * 7919 + count) % len(tconsts)]
                    Rating.objects.update_or_create(
                        user=users[index], title_id=title_id, defaults={"score": 1 + count % 5}
                    )
                    rating_changed_notify(user=users[index])
                    folds[index] += 1
                started = time.perf_counter()
                try:
                    conn.request("GET", "/recommendations/", headers=headers)
                    response = conn.getresponse()
                    response.read()
                    if response.status != 200:
                        errors[index] += 1
                except (OSError, http.client.HTTPException):
                    errors[index] += 1
                    conn.close()
                    conn = http.client.HTTPConnection("127.0.0.1", args.port, timeout=30)
                    continue
                latencies[index].append((time.perf_counter() - started) * 1000)
            conn.close()

        threads = [threading.Thread(target=drive, args=(index,)) for index in range(len(cookies))]
        load_before = os.getloadavg()[0]
        server_cpu_before, client_cpu_before = group_cpu_seconds(process.pid), time.process_time()
        elapsed = threads_run(threads)
        server_cpu = group_cpu_seconds(process.pid) - server_cpu_before
        client_cpu = time.process_time() - client_cpu_before
        every = [value for values in latencies for value in values]
        print()
        print(
            f"{len(cookies)} concurrent users, {elapsed:.1f} s, {len(every):,} requests, {sum(errors)} errors"
            + (f", {sum(folds)} ratings (fold-ins)" if args.rate_every else "")
        )
        print(f"throughput: {len(every) / elapsed:.0f} requests/s")
        print(
            f"latency ms: median {statistics.median(every):.1f}  p95 {percentile(every, 95):.1f}  "
            f"p99 {percentile(every, 99):.1f}  max {max(every):.1f}"
        )
        print(f"load average before the run: {load_before:.2f} on {os.cpu_count()} cores (other processes share them)")
        per_request = server_cpu / max(len(every), 1) * 1000
        print(
            f"CPU per request: server {per_request:.2f} ms, load generator {client_cpu / max(len(every), 1) * 1000:.2f} ms"
            f" -> {os.cpu_count()} idle cores would serve about {os.cpu_count() * 1000 / per_request:.0f} requests/s"
        )
        ok = percentile(every, 99) < 150 and len(every) / elapsed >= 200 and not sum(errors)
        print(f"targets p99 < 150 ms and >= 200 requests/s: {'PASS' if ok else 'FAIL'}")
    finally:
        if process is not None:
            os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
        for user in users:
            user.delete()
        run_remove(run, previous=previous, created_titles=created_titles)


if __name__ == "__main__":
    main()
