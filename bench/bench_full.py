"""The site at IMDb's full size, end to end: generate → import → refresh → crowd → training → load.

    make bench-full                                   # --scale 1.0: about 203 M rows, hours on 2 cores
    make bench-full SCALE=0.02                        # a rehearsal: 4.4 M rows
    python bench/bench_full.py --scale 0.0005 --work /tmp/full --steps generate,import,refresh

Each step runs as its own process (as a user would run it) and is measured from outside: wall
seconds, its CPU seconds and peak RSS (``os.wait4``), the CPU seconds of the Postgres backends
working for it (sampled from /proc, so only with the server on this machine), and the load
average before and after, since the machine is shared. Figures:

* **generate**: ``bench/imdb_generate.py --scale S`` into ``WORK/dump`` (kept and reused when the
  same scale is there already);
* **import**: ``import_imdb --dir WORK/dump`` into a fresh database: rows/s per file, the load's
  phases, each unique constraint and index built and its seconds, the size of every table and
  index. Target at 1.0: under 30 min, importer peak RSS under 1 GB;
* **refresh**: ``bench/imdb_refresh.py`` makes tomorrow's dump (1 % changed, 0.5 % added, 0.1 % gone)
  and ``import_imdb`` loads it over the first; the rows it changed, added and flagged as removed
  must equal what the refresh made, file by file. Target: under 10 min;
* **crowd**: ``generate_synthetic_users --users 200,000 × S`` (at least 200): ratings/s.
  Target at 1.0 (8 M ratings): under 2 min;
* **train**: ``train_recommender``: its phases and write-back rows/s. Target: under 10 min;
* **load**: ``bench/bench_recommendations_load.py`` (16 clients on /recommendations/) on this
  database and, as the baseline in the same run, on a database holding only the bundled sample
  catalog: the ratio of their throughputs and p95. Target: full within 1.5× of the sample.

``--database NAME`` (default ``imdbrec_bench_full``) is dropped and created again before an
import; ``--keep`` leaves it for inspection (a full import is hours of work). ``--json PATH``
writes every figure. The database server comes from DATABASE_URL; the broker from
CELERY_BROKER_URL. Nothing is timed in assertions: the figures are printed.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path
from urllib.parse import urlparse, urlunparse

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "bench")]

from benchdb import database_create, database_drop  # noqa: E402
from imdb_refresh import EXPECTED_FILE  # noqa: E402
from imdbgen.realdata import FILES as IMPORT_FILES  # noqa: E402  (the seven files the generator writes)

STEPS = ("generate", "import", "refresh", "crowd", "train", "load")
DEFAULT_STEPS = ("generate", "import", "refresh", "crowd", "train", "load")
FULL_USERS = 200_000
TARGETS = {  # at --scale 1.0, seconds
    "import": 30 * 60,
    "refresh": 10 * 60,
    "crowd": 2 * 60,
    "train": 10 * 60,
}


# --- measuring ---------------------------------------------------------------------------------


# The server imdbrec/settings/base.py connects to when DATABASE_URL is not set.
DEFAULT_SERVER_URL = "postgres://postgres@127.0.0.1:5432/imdbrec"


def _proc_cpu_seconds(pid: int) -> float | None:
    try:
        with open(f"/proc/{pid}/stat") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class BackendCpu:
    """CPU seconds of the Postgres processes serving one database (backends and their parallel
    workers), sampled every ``interval`` from /proc while a step runs. A process that ends between
    two samples loses at most its last interval; a server on another machine reads as 0."""

    def __init__(self, url: str, interval: float = 0.5):
        self.url = url
        self.database = urlparse(url).path.lstrip("/")
        self.interval = interval
        self.seen: dict[int, tuple[float, float]] = {}  # pid -> (cpu at first sight, latest cpu)
        self.stopping = threading.Event()
        self.thread: threading.Thread | None = None

    def __enter__(self) -> BackendCpu:
        import psycopg2

        self.connection = psycopg2.connect(urlunparse(urlparse(self.url)._replace(path="/postgres")))
        self.connection.autocommit = True
        self.thread = threading.Thread(target=self._sample, name="backend-cpu", daemon=True)
        self.thread.start()
        return self

    def _sample(self) -> None:
        with self.connection.cursor() as cursor:
            while not self.stopping.is_set():
                cursor.execute(
                    "SELECT pid FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()",
                    [self.database],
                )
                for (pid,) in cursor.fetchall():
                    cpu = _proc_cpu_seconds(pid)
                    if cpu is not None:
                        first, _latest = self.seen.get(pid, (cpu, cpu))
                        self.seen[pid] = (first, cpu)
                self.stopping.wait(self.interval)

    def __exit__(self, *exc) -> None:
        self.stopping.set()
        if self.thread is not None:
            self.thread.join()
        self.connection.close()

    @property
    def seconds(self) -> float:
        return round(sum(latest - first for first, latest in self.seen.values()), 1)


def run_step(
    name: str, command: list[str], *, env: dict, database_url: str | None = None, log: Path | None = None
) -> dict:
    """Run one step's process; wall and CPU seconds, peak RSS, Postgres CPU, load averages."""
    load_before = os.getloadavg()
    started = time.monotonic()
    print(f"\n== {name}: {' '.join(command)}", flush=True)
    output = open(log, "w") if log else None  # noqa: SIM115 - closed below
    sampler = BackendCpu(database_url) if database_url else None
    try:
        if sampler:
            sampler.__enter__()
        process = subprocess.Popen(command, env=env, cwd=ROOT, stdout=output or None, stderr=subprocess.STDOUT)
        _pid, status, usage = os.wait4(process.pid, 0)
        process.returncode = os.waitstatus_to_exitcode(status)
    finally:
        if sampler:
            sampler.__exit__(None, None, None)
        if output:
            output.close()
    result = {
        "step": name,
        "seconds": round(time.monotonic() - started, 1),
        "cpu_seconds": round(usage.ru_utime + usage.ru_stime, 1),
        "peak_rss_mb": round(usage.ru_maxrss / 1024),
        "postgres_cpu_seconds": sampler.seconds if sampler else None,
        "load_before": [round(value, 2) for value in load_before],
        "load_after": [round(value, 2) for value in os.getloadavg()],
        "exit_status": process.returncode,
    }
    if process.returncode:
        tail = log.read_text()[-3000:] if log else ""
        raise SystemExit(f"{name} failed (exit {process.returncode}):\n{tail}")
    return result


# --- the database ------------------------------------------------------------------------------


def _connect(url: str):
    import psycopg2

    connection = psycopg2.connect(url)
    connection.autocommit = True
    return connection


def _query(url: str, sql: str, params=None) -> list[tuple]:
    connection = _connect(url)
    try:
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
            return cursor.fetchall()
    finally:
        connection.close()


def database_sizes(url: str) -> dict:
    """Bytes of every catalog, ratings and recommender table (heap + TOAST) and of each of its indexes."""
    tables = _query(
        url,
        """
        SELECT c.relname, pg_table_size(c.oid), pg_indexes_size(c.oid), c.reltuples::bigint
        FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p')
          AND (c.relname LIKE 'catalog\\_%%' OR c.relname LIKE 'ratings\\_%%' OR c.relname LIKE 'recommender\\_%%')
          AND pg_total_relation_size(c.oid) > 0
        ORDER BY pg_total_relation_size(c.oid) DESC
        """,
    )
    indexes = _query(
        url,
        """
        SELECT t.relname, i.relname, pg_relation_size(i.oid)
        FROM pg_index x JOIN pg_class i ON i.oid = x.indexrelid JOIN pg_class t ON t.oid = x.indrelid
        JOIN pg_namespace n ON n.oid = t.relnamespace
        WHERE n.nspname = 'public' AND t.relname LIKE 'catalog\\_%%'
        ORDER BY pg_relation_size(i.oid) DESC
        """,
    )
    database = _query(url, "SELECT pg_database_size(current_database())")[0][0]
    return {
        "database": database,
        "tables": [
            {"table": name, "table_bytes": heap, "index_bytes": index, "rows": max(rows, 0)}
            for name, heap, index, rows in tables
        ],
        "indexes": [{"table": table, "index": name, "bytes": size} for table, name, size in indexes],
    }


def last_import_counts(url: str) -> dict:
    rows = _query(url, "SELECT counts, status FROM catalog_importrun ORDER BY id DESC LIMIT 1")
    if not rows:
        raise SystemExit("no import run in the database")
    counts, status = rows[0]
    if status != "succeeded":
        raise SystemExit(f"the import ended {status}: {json.dumps(counts)[:2000]}")
    return counts


# --- the steps ---------------------------------------------------------------------------------


def dump_complete(directory: Path, scale: float) -> bool:
    marker = directory / "scale.json"
    if not marker.is_file():
        return False
    return json.loads(marker.read_text()).get("scale") == scale and all(
        (directory / f"{name}.tsv.gz").is_file() for name in IMPORT_FILES
    )


def step_generate(args, env) -> dict:
    dump = args.work / "dump"
    if dump_complete(dump, args.scale):
        print(f"\n== generate: {dump} already holds --scale {args.scale}; reused")
        return {"step": "generate", "reused": str(dump)}
    result = run_step(
        "generate",
        [
            sys.executable,
            "bench/imdb_generate.py",
            "--scale",
            str(args.scale),
            "--seed",
            str(args.seed),
            "--out",
            str(dump),
            "--jobs",
            str(args.jobs),
            "--gzip-level",
            "1",
            *(["--real", str(args.real)] if args.real else []),
        ],
        env=env,
        log=args.work / "generate.log",
    )
    (dump / "scale.json").write_text(json.dumps({"scale": args.scale, "seed": args.seed}) + "\n")
    result["log"] = (args.work / "generate.log").read_text().strip().splitlines()[-9:]
    result["gz_bytes"] = sum(path.stat().st_size for path in dump.glob("*.tsv.gz"))
    return result


def _import(args, env, directory: Path, name: str) -> dict:
    result = run_step(
        name,
        [sys.executable, "manage.py", "import_imdb", "--dir", str(directory)],
        env=env,
        database_url=env["DATABASE_URL"],
        log=args.work / f"{name}.log",
    )
    counts = last_import_counts(env["DATABASE_URL"])
    result["files"] = {
        file_name: {
            key: value
            for key, value in file_counts.items()
            if key in ("lines", "loaded", "inserted", "updated", "removed", "rejected", "seconds", "mode")
            or key.endswith("seconds")
            or key == "phases"
        }
        for file_name, file_counts in counts.items()
    }
    for file_counts in result["files"].values():
        file_counts["rows_per_second"] = (
            round(file_counts["lines"] / file_counts["seconds"]) if file_counts["seconds"] else 0
        )
    return result


def step_import(args, env) -> dict:
    url = env["DATABASE_URL"]
    if not args.reuse_database:
        database_create(args.server_url, args.database)
        run_step("migrate", [sys.executable, "manage.py", "migrate", "--noinput", "-v0"], env=env)
    result = _import(args, env, args.work / "dump", "import")
    result["sizes"] = database_sizes(url)
    return result


def step_refresh(args, env) -> dict:
    dump, following = args.work / "dump", args.work / "next"
    expected_path = following / EXPECTED_FILE
    made = None
    if not (expected_path.is_file() and json.loads(expected_path.read_text()).get("seed") == args.seed):
        made = run_step(
            "refresh dump",
            [
                sys.executable,
                "bench/imdb_refresh.py",
                "--from",
                str(dump),
                "--out",
                str(following),
                "--seed",
                str(args.seed),
                "--jobs",
                str(args.jobs),
            ],
            env=env,
            log=args.work / "refresh-dump.log",
        )
    expected = json.loads(expected_path.read_text())["files"]
    if args.busy_file:
        args.busy_file.write_text(f"refresh import running since {time.strftime('%H:%M:%S')} UTC\n")
    try:
        result = _import(args, env, following, "refresh")
    finally:
        if args.busy_file:
            args.busy_file.unlink(missing_ok=True)
    result["dump"] = made
    mismatches = []
    for name, want in expected.items():
        got = result["files"].get(name, {})
        for key in ("inserted", "updated", "removed"):
            if got.get(key) != want[key]:
                mismatches.append(f"{name} {key}: imported {got.get(key)}, made {want[key]}")
    result["expected"] = {
        name: {key: want[key] for key in ("inserted", "updated", "removed")} for name, want in expected.items()
    }
    result["exact"] = not mismatches
    result["mismatches"] = mismatches
    return result


def crowd_users(args) -> int:
    return args.users or max(200, round(FULL_USERS * args.scale))


def step_crowd(args, env) -> dict:
    users = crowd_users(args)
    before = _query(env["DATABASE_URL"], "SELECT count(*) FROM ratings_rating")[0][0]
    result = run_step(
        "crowd",
        [sys.executable, "manage.py", "generate_synthetic_users", "--users", str(users), "--seed", str(args.seed)],
        env=env,
        database_url=env["DATABASE_URL"],
        log=args.work / "crowd.log",
    )
    after = _query(env["DATABASE_URL"], "SELECT count(*) FROM ratings_rating")[0][0]
    result.update(users=users, ratings=after - before, ratings_per_second=round((after - before) / result["seconds"]))
    return result


def step_train(args, env) -> dict:
    result = run_step(
        "train",
        [sys.executable, "manage.py", "train_recommender"],
        env=env,
        database_url=env["DATABASE_URL"],
        log=args.work / "train.log",
    )
    rows = _query(
        env["DATABASE_URL"],
        "SELECT timings, metrics -> 'rows', num_ratings, num_users, num_titles FROM recommender_modelrun "
        "WHERE status = 'succeeded' ORDER BY id DESC LIMIT 1",
    )
    timings, written, ratings, users, titles = rows[0]
    result.update(timings=timings, rows=written, ratings=ratings, users=users, titles=titles)
    return result


def _load_figures(output: str) -> dict:
    figures = {}
    for line in output.splitlines():
        if line.startswith("throughput:"):
            figures["requests_per_second"] = float(line.split()[1])
        elif line.startswith("latency ms:"):
            parts = line.split()
            figures.update(median_ms=float(parts[3]), p95_ms=float(parts[5]), p99_ms=float(parts[7]))
        elif " errors" in line and "concurrent users" in line:
            figures["errors"] = int(line.split(" errors")[0].rsplit(None, 1)[1])
    return figures


def _load_bench(args, env, label: str) -> dict:
    log = args.work / f"load-{label}.log"
    # 16 members in a closed loop are far over the per-member limits: they would measure 429s
    env = {**env, "RATELIMIT_ENABLE": "false"}
    result = run_step(
        f"load ({label})",
        [
            sys.executable,
            "bench/bench_recommendations_load.py",
            "--seconds",
            str(args.load_seconds),
            "--port",
            str(args.load_port),
        ],
        env=env,
        log=log,
    )
    result.update(_load_figures(log.read_text()))
    return result


def step_load(args, env) -> dict:
    baseline_name = f"{args.database}_sample"
    baseline_url = urlunparse(urlparse(args.server_url)._replace(path=f"/{baseline_name}"))
    database_create(args.server_url, baseline_name)
    baseline_env = {**env, "DATABASE_URL": baseline_url}
    try:
        run_step("migrate (sample)", [sys.executable, "manage.py", "migrate", "--noinput", "-v0"], env=baseline_env)
        run_step(
            "import (sample)",
            [sys.executable, "manage.py", "import_imdb", "--dir", "catalog/sample", "-v0"],
            env=baseline_env,
        )
        small = _load_bench(args, baseline_env, "sample catalog")
    finally:
        database_drop(args.server_url, baseline_name)
    full = _load_bench(args, env, "full catalog")
    ratio = {
        "throughput": round(small["requests_per_second"] / full["requests_per_second"], 2)
        if full.get("requests_per_second")
        else None,
        "p95": round(full["p95_ms"] / small["p95_ms"], 2) if small.get("p95_ms") else None,
    }
    return {"step": "load", "sample": small, "full": full, "slowdown": ratio}


RUNNERS = {
    "generate": step_generate,
    "import": step_import,
    "refresh": step_refresh,
    "crowd": step_crowd,
    "train": step_train,
    "load": step_load,
}


# --- the report --------------------------------------------------------------------------------


def _mb(size: int) -> str:
    return f"{size / 1024**2:,.0f} MB" if size < 10 * 1024**3 else f"{size / 1024**3:,.1f} GB"


def _measured(result: dict) -> str:
    postgres = result.get("postgres_cpu_seconds")
    return (
        f"{result['seconds']:,.1f} s wall, {result['cpu_seconds']:,.1f} CPU s"
        + (f" + Postgres {postgres:,.1f} CPU s" if postgres is not None else "")
        + f", peak RSS {result['peak_rss_mb']:,} MB, load {result['load_before'][0]:.1f} -> {result['load_after'][0]:.1f}"
    )


def _target(step: str, seconds: float, scale: float) -> str:
    if step not in TARGETS or scale != 1.0:
        return ""
    return f"  [target {TARGETS[step] / 60:.0f} min: {'MET' if seconds <= TARGETS[step] else 'MISSED'}]"


def report(results: dict, scale: float) -> None:
    print(f"\n==== bench-full at --scale {scale} on {os.cpu_count()} cores ====")
    if "generate" in results and "seconds" in results["generate"]:
        generate = results["generate"]
        print(f"generate: {_measured(generate)}, {_mb(generate['gz_bytes'])} gzipped")
    for step in ("import", "refresh"):
        if step not in results:
            continue
        result = results[step]
        lines = sum(file["lines"] for file in result["files"].values())
        print(f"{step}: {lines:,} lines, {_measured(result)}{_target(step, result['seconds'], scale)}")
        for name, file in result["files"].items():
            phases = file.get("phases", {})
            extra = ", ".join(
                f"{key} {value:.1f} s"
                for key, value in phases.items()
                if key.endswith("_s") and isinstance(value, float)
            )
            print(
                f"  {name:17} {file['lines']:>12,} lines {file['seconds']:>8.1f} s {file['rows_per_second']:>9,} rows/s"
                f"  +{file['inserted']:,} ~{file['updated']:,} -{file['removed']:,}  ({extra})"
            )
            built = {**phases.get("constraint_seconds", {}), **file.get("index_seconds", {})}
            for index, seconds in sorted(built.items(), key=lambda item: -item[1]):
                print(f"      {index:44} {seconds:>8.1f} s")
        if step == "refresh":
            verdict = "EXACT" if result["exact"] else "MISMATCH: " + "; ".join(result["mismatches"])
            print(f"  rows changed / added / removed against what the refresh made: {verdict}")
        if "sizes" in result:
            sizes = result["sizes"]
            print(f"  database size {_mb(sizes['database'])}")
            for table in sizes["tables"]:
                print(
                    f"    {table['table']:32} {table['rows']:>12,} rows  table {_mb(table['table_bytes']):>9}"
                    f"  indexes {_mb(table['index_bytes']):>9}"
                )
            for index in sizes["indexes"][:20]:
                print(f"      {index['index']:44} {_mb(index['bytes']):>9}")
    if "crowd" in results:
        crowd = results["crowd"]
        print(
            f"crowd: {crowd['users']:,} users, {crowd['ratings']:,} ratings, {crowd['ratings_per_second']:,} ratings/s; "
            f"{_measured(crowd)}{_target('crowd', crowd['seconds'], scale)}"
        )
    if "train" in results:
        train = results["train"]
        timings = train["timings"] or {}
        phases = ", ".join(f"{key} {value:.1f} s" for key, value in timings.items() if isinstance(value, float))
        print(
            f"train: {train['ratings']:,} ratings of {train['users']:,} users on {train['titles']:,} titles; "
            f"{_measured(train)}{_target('train', train['seconds'], scale)}\n  phases: {phases}\n"
            f"  write-back: {timings.get('write_back_rows_per_second', 0):,.0f} rows/s ({train['rows']})"
        )
    if "load" in results:
        load = results["load"]
        for label in ("sample", "full"):
            figures = load[label]
            print(
                f"load /recommendations/, 16 clients, {label} catalog: {figures.get('requests_per_second')} requests/s, "
                f"p95 {figures.get('p95_ms')} ms, errors {figures.get('errors')} (load {figures['load_before'][0]:.1f})"
            )
        slowdown = load["slowdown"]
        met = all(value is not None and value <= 1.5 for value in slowdown.values())
        print(
            f"  full / sample: throughput {slowdown['throughput']}x slower, p95 {slowdown['p95']}x  "
            f"[target within 1.5x: {'MET' if met else 'MISSED'}]"
        )
    print(f"load average now: {' '.join(f'{value:.2f}' for value in os.getloadavg())}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--scale", type=float, default=1.0, help="1.0 = IMDb's full size (about 203 M rows)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--work", type=Path, default=ROOT / "var" / "bench-full", help="dumps and logs")
    parser.add_argument("--steps", default=",".join(DEFAULT_STEPS), help=f"comma-separated, of: {', '.join(STEPS)}")
    parser.add_argument("--database", default="imdbrec_bench_full", help="created afresh by the import step")
    parser.add_argument(
        "--reuse-database", action="store_true", help="import into --database as it is (migrated, empty)"
    )
    parser.add_argument("--keep", action="store_true", help="keep --database at the end")
    parser.add_argument("--users", type=int, default=0, help="synthetic users (default 200,000 x scale, at least 200)")
    parser.add_argument("--real", type=Path, help="the real slice the generator starts from (its default otherwise)")
    parser.add_argument("--jobs", type=int, default=2, help="processes for generating and refreshing the dumps")
    parser.add_argument("--load-seconds", type=float, default=20.0)
    parser.add_argument("--load-port", type=int, default=8656, help="gunicorn's port for the load step")
    parser.add_argument("--busy-file", type=Path, help="a file present while the refresh import writes")
    parser.add_argument("--json", type=Path, help="write every figure here")
    args = parser.parse_args()
    steps = [step.strip() for step in args.steps.split(",") if step.strip()]
    unknown = sorted(set(steps) - set(STEPS))
    if unknown:
        parser.error(f"unknown step(s) {', '.join(unknown)}; known: {', '.join(STEPS)}")
    if not 0 < args.scale <= 1.0:
        parser.error("--scale is between 0 and 1.0")
    # DATABASE_URL names the Postgres server (its database part is replaced by --database); without
    # it, the settings' default server.
    server_url = os.environ.get("DATABASE_URL") or DEFAULT_SERVER_URL
    args.server_url = server_url
    args.work.mkdir(parents=True, exist_ok=True)
    env = {
        **os.environ,
        "DATABASE_URL": urlunparse(urlparse(server_url)._replace(path=f"/{args.database}")),
        "PYTHONUNBUFFERED": "1",
    }
    results: dict = {"scale": args.scale, "cores": os.cpu_count()}
    started = time.monotonic()
    try:
        for step in STEPS:
            if step in steps:
                results[step] = RUNNERS[step](args, env)
                if args.json:
                    args.json.write_text(json.dumps(results, indent=1, default=str) + "\n")
    finally:
        if not args.keep and "import" in steps:
            database_drop(server_url, args.database)
    results["seconds"] = round(time.monotonic() - started, 1)
    if args.json:
        args.json.write_text(json.dumps(results, indent=1, default=str) + "\n")
    report(results, args.scale)
    if "refresh" in results and not results["refresh"]["exact"]:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
