"""Shared by the load scripts: a private site to load (Postgres cluster, Redis, gunicorn, Celery
workers of this project on ports 8700-8799) and latency statistics.

Nothing shared is touched: the load runs against a throwaway Postgres cluster (initdb in a
temporary directory, needs root to run it as the ``postgres`` user) and a throwaway redis-server,
both removed at the end.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.reliability.procs import (  # noqa: E402
    MISSING_TOOLS,
    CeleryWorker,
    Gunicorn,
    PrivatePostgres,
    PrivateRedis,
    manage,
    project_env,
)

SAMPLE_DIR = "catalog/sample"


def percentile(values: list[float], fraction: float) -> float:
    """Nearest-rank percentile (p99 of 2,000 values is the 1,980th smallest)."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, math.ceil(fraction * len(ordered)) - 1))]


def latency_summary(seconds: list[float]) -> dict:
    return {
        "count": len(seconds),
        "p50_ms": round(percentile(seconds, 0.50) * 1000, 1),
        "p95_ms": round(percentile(seconds, 0.95) * 1000, 1),
        "p99_ms": round(percentile(seconds, 0.99) * 1000, 1),
        "max_ms": round(max(seconds) * 1000, 1) if seconds else None,
    }


def load_parser(doc: str, *, clients: int, requests: int, requests_help: str) -> argparse.ArgumentParser:
    """The options every load script takes (how many clients, requests per client, --json, --seed);
    the script adds its own."""
    parser = argparse.ArgumentParser(description=doc.splitlines()[0])
    parser.add_argument("--clients", type=int, default=clients)
    parser.add_argument("--requests", type=int, default=requests, help=requests_help)
    parser.add_argument("--json", help="also write the results here")
    parser.add_argument("--seed", type=int, default=1)
    return parser


def threads_run(threads: list[threading.Thread]) -> float:
    """Start ``threads`` and wait for them all; the seconds that took."""
    began = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return time.perf_counter() - began


class PrivateSite:
    """Postgres + Redis + gunicorn (+ workers) of this project, all private and temporary."""

    def __init__(self, *, log_dir: Path, spark_master: str = "local[1]"):
        if MISSING_TOOLS:
            raise SystemExit(f"cannot start private services: {MISSING_TOOLS}")
        self.log_dir = log_dir
        log_dir.mkdir(parents=True, exist_ok=True)
        self.postgres = PrivatePostgres().init().start()
        self.redis = PrivateRedis().start()
        self.postgres.psql("CREATE DATABASE imdbrec_load")
        self.env = project_env(
            database_url=self.postgres.url("imdbrec_load"),
            broker_url=self.redis.url(0),
            SPARK_MASTER=spark_master,
            RECOMMENDER_EXCHANGE_DIR=log_dir / "exchange",
            IMDB_DATA_DIR=log_dir / "imdb",
            CONN_MAX_AGE=60,
            # These benchmarks measure capacity with every client on 127.0.0.1: the per-address rate
            # limits would answer most of them 429 (tests/reliability/test_hostile_load.py checks those).
            RATELIMIT_ENABLE="false",
        )
        self.processes: list = []

    def manage(self, *args, timeout: float = 900) -> str:
        return manage(*args, env=self.env, timeout=timeout).stdout

    def sql(self, query: str) -> str:
        return self.postgres.psql(query, database="imdbrec_load")

    def prepare(self, *, synthetic_users: int = 0) -> None:
        self.manage("migrate", "--noinput", "-v0")
        self.manage("import_imdb", "--dir", SAMPLE_DIR, "-v0")
        if synthetic_users:
            self.manage("generate_synthetic_users", "--users", str(synthetic_users), "--seed", "11", "-v0")

    def gunicorn(self, *, workers: int = 3, threads: int = 2) -> Gunicorn:
        server = Gunicorn(self.env, workers=workers, threads=threads, log=self.log_dir / "gunicorn.log").start()
        self.processes.append(server)
        return server

    def worker(self, queues: str) -> CeleryWorker:
        worker = CeleryWorker(
            self.env,
            queues=queues,
            name=f"load-{queues.replace(',', '-')}",
            log=self.log_dir / f"worker-{queues.replace(',', '-')}.log",
        ).start()
        self.processes.append(worker)
        return worker

    def close(self) -> None:
        for process in reversed(self.processes):
            process.stop()
        self.redis.destroy()
        self.postgres.destroy()


def write_json(path: str | None, result: dict) -> None:
    if path:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        Path(path).write_text(json.dumps(result, indent=2) + "\n")
