"""IMDb import benchmark: the importer against a bare ``psql \\copy`` of the same file.

    python bench/bench_import.py [--rows 1000000] [--repeat 2] [--source ../shared/data/imdb-sample]

Builds a title.basics-shaped and a title.principals-shaped file of ``--rows`` rows from the real
50,001-row slice (its rows repeated with fresh tconsts), then for each file, in the same run:

  (a) the importer end to end on an empty table, in a fresh process (``import_run_execute``:
      read, check and convert every row, COPY, commit), and the secondary indexes it builds
      after the load (for title.basics these include the two trigram GIN indexes of search);
  (b) ``psql \\copy`` of the same file into a plain table with a primary key;

and prints rows/s of both, the ratio, and the importer's peak RSS. Uses its own database
(``<DATABASE_URL's name>_bench``, created and migrated here, dropped at the end unless --keep).
Targets on the 2-core machine: >= 300,000 rows/s, >= 0.55x the bare copy, peak RSS < 500 MB.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import urlparse

from benchdb import database_create, database_drop

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_SOURCE = ROOT.parent / "shared" / "data" / "imdb-sample"
SHAPES = {
    # file: (plain table for psql, its columns, primary key)
    "title.basics": (
        "bench_bare_basics",
        "tconst text, title_type text, primary_title text, original_title text, "
        "is_adult text, start_year text, end_year text, runtime_minutes text, genres text",
        "tconst",
    ),
    "title.principals": (
        "bench_bare_principals",
        "tconst text, ordering text, nconst text, category text, job text, characters text",
        "tconst, ordering",
    ),
}
TABLES = {"title.basics": "catalog_title", "title.principals": "catalog_principal"}


def build_file(source: Path, name: str, rows: int, target: Path) -> Path:
    """``rows`` rows shaped like ``name``: the slice repeated, each copy with its own tconsts."""
    with gzip.open(source / f"{name}.tsv.gz", "rb") as stream:
        header, *lines = stream.read().split(b"\n")
    lines = [line for line in lines if line]
    path = target / f"{name}.tsv"
    written = 0
    copy = 0
    with open(path, "wb") as output:
        output.write(header + b"\n")
        while written < rows:
            copy += 1
            batch = []
            for line in lines[: rows - written]:
                tab = line.index(b"\t")
                batch.append(b"tt%d%07d%s" % (copy, int(line[2:tab]), line[tab:]))
            output.write(b"\n".join(batch) + b"\n")
            written += len(batch)
    return path


def psql(url: str, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        ["psql", url, "-v", "ON_ERROR_STOP=1", "-q", *args], check=True, capture_output=True, text=True
    )


def bare_copy(url: str, name: str, path: Path) -> float:
    table, columns, key = SHAPES[name]
    psql(url, "-c", f"DROP TABLE IF EXISTS {table}", "-c", f"CREATE TABLE {table} ({columns}, PRIMARY KEY ({key}))")
    started = time.perf_counter()
    psql(
        url,
        "-c",
        f"\\copy {table} FROM '{path}' WITH (FORMAT csv, HEADER true, DELIMITER E'\\t', QUOTE E'\\x01', NULL '\\N')",
    )
    seconds = time.perf_counter() - started
    psql(url, "-c", f"DROP TABLE {table}")
    return seconds


def importer(url: str, name: str, directory: Path) -> dict:
    env = {
        **os.environ,
        "DATABASE_URL": url,
        "DJANGO_SETTINGS_MODULE": "imdbrec.settings.dev",
        "DEBUG": "false",
        "SECRET_KEY": os.environ.get("SECRET_KEY", "bench-only-secret-key-0123456789-abcdefghijklmnopqrstuvwxyz"),
    }
    started = time.perf_counter()
    result = subprocess.run(
        [sys.executable, __file__, "--child", name, str(directory)], env=env, cwd=ROOT, capture_output=True, text=True
    )
    if result.returncode:
        raise SystemExit(f"importer failed:\n{result.stdout}\n{result.stderr[-3000:]}")
    report = json.loads(result.stdout.strip().splitlines()[-1])
    report["process_s"] = time.perf_counter() - started
    return report


def child(name: str, directory: str) -> None:
    """Runs in a fresh process: one import of one file, timed, with the process's peak RSS."""
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    from django.db import connection

    from catalog.services import import_run_create, import_run_execute

    with connection.cursor() as cursor:  # an empty table: the first-load path
        cursor.execute(f"TRUNCATE {TABLES[name]} CASCADE")
    started = time.perf_counter()
    run = import_run_execute(run_id=import_run_create(source=directory, files=[name]).pk)
    seconds = time.perf_counter() - started
    result = run.counts[name]
    if run.status != "succeeded" or result["loaded"] != result["lines"]:
        raise SystemExit(f"import did not load every row: {run.status} {result}")
    again_started = time.perf_counter()
    again = import_run_execute(run_id=import_run_create(source=directory, files=[name]).pk).counts[name]
    again_seconds = time.perf_counter() - again_started
    print(
        json.dumps(
            {
                "rows": result["lines"],
                "run_s": seconds,
                "load_s": result["seconds"],
                "index_s": result.get("indexes_seconds", 0.0),
                "phases": result["phases"],
                "reimport_s": again_seconds,
                "reimport_changed": again["inserted"] + again["updated"] + again["removed"],
                "maxrss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
            }
        )
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=2, help="runs of each measurement; the best is kept")
    parser.add_argument("--source", type=Path, default=DEFAULT_SOURCE)
    parser.add_argument("--keep", action="store_true", help="keep the benchmark database")
    parser.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        return child(*args.child)

    base_url = os.environ.get("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/imdbrec")
    bench_name = urlparse(base_url).path.lstrip("/") + "_bench"
    url = database_create(base_url, bench_name)
    env = {**os.environ, "DATABASE_URL": url, "DJANGO_SETTINGS_MODULE": "imdbrec.settings.dev"}
    subprocess.run(
        [sys.executable, "manage.py", "migrate", "--noinput", "-v", "0"],
        cwd=ROOT,
        env=env,
        check=True,
        capture_output=True,
    )
    print(
        f"benchmark database {bench_name}; {args.rows:,} rows per file; best of {args.repeat}; "
        f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}"
    )
    failures = []
    try:
        with tempfile.TemporaryDirectory(prefix="imdbrec-bench-") as scratch:
            for name in SHAPES:
                directory = Path(scratch) / name
                directory.mkdir()
                path = build_file(args.source, name, args.rows, directory)
                size_mb = path.stat().st_size / 1e6
                bare_runs, import_runs = [], []
                for _ in range(args.repeat):
                    bare_runs.append(bare_copy(url, name, path))
                    import_runs.append(importer(url, name, directory))
                bare = min(bare_runs)
                best = min(import_runs, key=lambda report: report["load_s"])
                load_runs = [report["load_s"] for report in import_runs]
                rows = best["rows"]
                bare_rate, load_rate = rows / bare, rows / best["load_s"]
                full_rate = rows / (best["load_s"] + best["index_s"])
                rss = max(report["maxrss_mb"] for report in import_runs)
                print(f"\n{name}: {rows:,} rows, {size_mb:,.0f} MB")
                print(
                    f"  psql \\copy into a plain table with a primary key: {bare:6.2f} s  {bare_rate:10,.0f} rows/s"
                    f"   (runs: {', '.join(f'{s:.2f}' for s in bare_runs)})"
                )
                print(
                    f"  importer, load (read, check, convert, COPY, commit): {best['load_s']:6.2f} s"
                    f"  {load_rate:10,.0f} rows/s   (runs: {', '.join(f'{seconds:.2f}' for seconds in load_runs)})"
                )
                print(
                    f"  importer, + secondary indexes built after the load: {best['load_s'] + best['index_s']:6.2f} s"
                    f"  {full_rate:10,.0f} rows/s   (index build {best['index_s']:.2f} s)"
                )
                print(
                    f"  importer, whole run incl. bookkeeping: {best['run_s']:.2f} s; "
                    f"process incl. Python/Django start: {best['process_s']:.2f} s"
                )
                print(
                    f"  re-import of the same file (update path, {best['reimport_changed']} rows changed): "
                    f"{best['reimport_s']:.2f} s"
                )
                print(
                    f"  ratio importer/bare: load {load_rate / bare_rate:.2f}x, with indexes {full_rate / bare_rate:.2f}x"
                )
                print(f"  importer peak RSS: {rss:.0f} MB; phases of the best run: {best['phases']}")
                checks = {
                    "load >= 300,000 rows/s": load_rate >= 300_000,
                    "load >= 0.55x bare copy": load_rate / bare_rate >= 0.55,
                    "peak RSS < 500 MB": rss < 500,
                }
                print("  targets: " + "; ".join(f"{label} {'OK' if ok else 'MISSED'}" for label, ok in checks.items()))
                failures += [f"{name}: {label}" for label, ok in checks.items() if not ok]
    finally:
        if not args.keep:
            database_drop(base_url, bench_name)
    if failures:
        print("targets missed: " + "; ".join(failures))


if __name__ == "__main__":
    main()
