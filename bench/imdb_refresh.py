"""Tomorrow's IMDb dump: a copy of a dump with 1% of rows changed, 0.5% added and 0.1% gone.

    python bench/imdb_refresh.py --from var/imdb-full --out var/imdb-full-next          # every file
    python bench/imdb_refresh.py --from DIR --out DIR2 --changed 0.02 --added 0 --gone 0 --jobs 2

Writes the seven files (those found in --from) to --out, plus ``refresh-expected.json``: per
file, the table rows an import of the new dump over the old one must change, add and flag as
removed (``bench/bench_full.py`` checks the import's counts against it). Deterministic by
--seed; streamed, so memory stays flat at any size. The rules are in bench/imdbgen/refresh.py.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import resource
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT / "bench")]

from imdbgen.refresh import DEFAULT_SHARES, FILE_NAMES, Shares, refresh_file  # noqa: E402

EXPECTED_FILE = "refresh-expected.json"


def _source(directory: Path, name: str) -> Path | None:
    for suffix in (".tsv.gz", ".tsv"):
        if (directory / f"{name}{suffix}").is_file():
            return directory / f"{name}{suffix}"
    return None


def _one(job: tuple) -> dict:
    name, source, target, seed, shares, gzip_level = job
    started = time.monotonic()
    cpu = time.process_time()
    counts = refresh_file(name=name, source=source, target=target, seed=seed, shares=shares, gzip_level=gzip_level)
    return {
        **counts.as_dict(),
        "seconds": round(time.monotonic() - started, 2),
        "cpu_seconds": round(time.process_time() - cpu, 2),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
    }


def dump_refresh(
    *, source: Path, out: Path, seed: int = 1, shares: Shares = DEFAULT_SHARES, jobs: int = 1, gzip_level: int = 1
) -> dict[str, dict]:
    """Refresh every file of ``source`` into ``out``; returns (and writes) the expected counts."""
    if source.resolve() == out.resolve():
        raise ValueError("--out must be another directory than --from (the dump is read while written)")
    out.mkdir(parents=True, exist_ok=True)
    work = [
        (name, path, out / f"{name}.tsv.gz", seed, shares, gzip_level)
        for name in FILE_NAMES
        if (path := _source(source, name)) is not None
    ]
    if not work:
        raise ValueError(f"{source} holds none of the IMDb files")
    # biggest first, so that two processes finish at about the same time
    work.sort(key=lambda job: job[1].stat().st_size, reverse=True)
    if jobs > 1:
        with multiprocessing.get_context("spawn").Pool(min(jobs, len(work))) as pool:
            results = pool.map(_one, work, chunksize=1)
    else:
        results = [_one(job) for job in work]
    expected = {
        result["file"]: result for result in sorted(results, key=lambda result: FILE_NAMES.index(result["file"]))
    }
    (out / EXPECTED_FILE).write_text(
        json.dumps({"seed": seed, "shares": shares.__dict__, "files": expected}, indent=2) + "\n"
    )
    return expected


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--from", dest="source", required=True, help="the dump to start from")
    parser.add_argument("--out", required=True, help="directory for the new dump")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--changed", type=float, default=0.01, help="share of rows changed (default 0.01)")
    parser.add_argument("--added", type=float, default=0.005, help="share of rows added (default 0.005)")
    parser.add_argument("--gone", type=float, default=0.001, help="share of rows gone (default 0.001)")
    parser.add_argument("--jobs", type=int, default=1, help="files written at once, one process each")
    parser.add_argument("--gzip-level", type=int, default=1)
    args = parser.parse_args()
    try:
        shares = Shares(changed=args.changed, added=args.added, gone=args.gone)
        started = time.monotonic()
        expected = dump_refresh(
            source=Path(args.source),
            out=Path(args.out),
            seed=args.seed,
            shares=shares,
            jobs=args.jobs,
            gzip_level=args.gzip_level,
        )
    except ValueError as error:
        parser.error(str(error))
    for name, counts in expected.items():
        print(
            f"{name:18} {counts['lines_in']:>12,} lines in, {counts['lines_out']:>12,} out; rows: "
            f"{counts['updated']:>9,} changed {counts['inserted']:>9,} added {counts['removed']:>8,} gone; "
            f"{counts['seconds']:.1f} s ({counts['cpu_seconds']:.1f} CPU s)"
        )
    peak = max(counts["peak_rss_mb"] for counts in expected.values())
    print(
        f"total {time.monotonic() - started:.1f} s, peak RSS {peak} MB (of one process); "
        f"expected counts in {Path(args.out) / EXPECTED_FILE}"
    )


if __name__ == "__main__":
    main()
