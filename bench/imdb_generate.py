"""A full-size IMDb dump, generated: the seven files in the official format, at any scale.

    python bench/imdb_generate.py --scale 1.0 --out var/imdb-full        # about 200 M rows
    python bench/imdb_generate.py --scale 0.01 --seed 7 --out /tmp/imdb --files title.basics,title.akas

The real slice (``--real``; by default ../shared/data/imdb-sample, or $IMDBREC_SHARED_DATA/imdb-sample,
else the bundled catalog/sample) is copied into every file unchanged, so real titles keep their
ids and names.
The rest is generated above the real slice's largest ids (every id that any real file mentions,
so none collides) and sorted by id as IMDb's files are:

* titles and names recombined from the real slice's words with their real frequencies, plus a
  growing share of new words; long titles, and originals and akas in Cyrillic, CJK, Japanese,
  Greek, Arabic, Hebrew, Devanagari, Hangul and Thai;
* IMDb's mix of types (73% episodes, 10% shorts, 7% movies, 2.8% series, ...), ratings for
  1.6 M of 12.3 M titles with votes drawn from the real ratings (heavy-tailed);
* heavy tails: people's credits and series' episodes follow power laws, so at full size the top
  people have 10,000+ credits and the biggest series 10,000+ episodes (both grow about as the
  square root of the scale); about one title in 12,000 (one at least) has 200-260 akas across
  the world's regions and scripts and as many principals;
* every tconst and nconst a generated row mentions exists in title.basics or name.basics (the
  real slice's own dangling references stay as they are).

Deterministic: the same --seed, --scale and --real give byte-identical files. Streamed: each
file is written block by block (4,096 titles), so memory does not grow with the scale.
Prints rows per file, seconds and peak RSS.

Measured (2-core machine shared with seven other sessions, so the process got 15-20% of a
core: CPU seconds are the figure to go by), one process, gzip level 6, seed 1:

    scale  rows written  CPU s  wall s  peak RSS  .tsv.gz  uncompressed
    0.01      2,376,547    9.7    61      82 MB    33 MB     122 MB
    0.02      4,399,900   17.1    86      84 MB    59 MB     226 MB

Rows per CPU-second (0.02): principals 310 k, akas 290 k, episode 290 k, crew 224 k, ratings
166 k (per rated title; it walks every title), names 159 k, basics 138 k. Each step of 0.01
costs 7.4 CPU s, 28.6 MB gzipped and 104 MB uncompressed, and memory stays flat (only the
series list grows: 3% of titles, a few bytes each). Extrapolated to --scale 1.0 (203 M rows):
about 760 CPU s (13 min on one free core; about 7 min with --jobs 2 on two free cores),
2.9 GB gzipped, 10.4 GB uncompressed, peak RSS about 100 MB per process. The tails at 0.01:
the biggest series has 1,563 episodes (2,209 at 0.02), the busiest person 2,635 principal
credits and the biggest titles 250 akas; series and people grow as the square root of the
scale, so at 1.0 they reach about 15,000 episodes and 26,000 credits.
"""

from __future__ import annotations

import argparse
import gzip
import multiprocessing
import resource
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "bench")]

from imdbgen.plan import FULL_ROWS, Plan  # noqa: E402
from imdbgen.realdata import FILES, real_slice_read  # noqa: E402
from imdbgen.rows import WRITERS  # noqa: E402
from imdbgen.text import Words  # noqa: E402
from shareddata import IMDB_SLICE  # noqa: E402

from catalog.importing.datasets import DATASETS_BY_NAME  # noqa: E402

BUNDLED_SAMPLE = ROOT / "catalog" / "sample"
COPY_BYTES = 1 << 20


def default_real() -> Path:
    return IMDB_SLICE if IMDB_SLICE.is_dir() else BUNDLED_SAMPLE


def _real_lines(path: Path):
    """The real file's data lines as raw bytes blocks (header dropped, final newline ensured)."""
    opener = gzip.open if path.name.endswith(".gz") else open
    with opener(path, "rb") as stream:
        stream.readline()
        last = b"\n"
        while block := stream.read(COPY_BYTES):
            last = block[-1:]
            yield block
        if last != b"\n":
            yield b"\n"


def file_write(plan: Plan, words: Words, name: str, out: Path, *, level: int) -> tuple[int, int, float, float]:
    """Write ``name``.tsv.gz into ``out``; returns (real rows, generated rows, seconds, CPU seconds)."""
    started = time.monotonic()
    cpu = time.process_time()
    generated = 0
    target = out / f"{name}.tsv.gz"
    partial = target.with_suffix(".gz.part")
    with (
        open(partial, "wb") as raw,
        gzip.GzipFile(filename="", fileobj=raw, mode="wb", compresslevel=level, mtime=0) as gz,
    ):
        gz.write(("\t".join(DATASETS_BY_NAME[name].header) + "\n").encode())
        for block in _real_lines(plan.real.paths[name]):
            gz.write(block)
        for text in WRITERS[name](plan, words):
            generated += text.count("\n")
            gz.write(text.encode("utf-8"))
    partial.replace(target)
    return plan.real.rows[name], generated, time.monotonic() - started, time.process_time() - cpu


def peak_rss_mb() -> float:
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return max(own, children) / 1024


def cpu_seconds() -> float:
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


_forked: dict = {}


def _file_write_forked(name: str):
    plan, words, out, level = _forked["state"]
    return name, file_write(plan, words, name, out, level=level)


def _files_write(plan: Plan, words: Words, names: list[str], args):
    """Each file in turn, or ``--jobs`` at once in forked processes (the biggest files first)."""
    if args.jobs <= 1:
        for name in names:
            yield name, file_write(plan, words, name, args.out, level=args.gzip_level)
        return
    _forked["state"] = (plan, words, args.out, args.gzip_level)
    biggest_first = sorted(names, key=lambda name: -FULL_ROWS[name])
    context = multiprocessing.get_context("fork")
    with context.Pool(args.jobs) as pool:
        yield from pool.imap_unordered(_file_write_forked, biggest_first)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scale", type=float, default=0.01, help="1.0 = IMDb's full size (default 0.01)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--out", type=Path, required=True, help="directory for the seven .tsv.gz files")
    parser.add_argument(
        "--real", type=Path, default=None, help="the real slice (default: the shared imdb-sample, else catalog/sample)"
    )
    parser.add_argument("--files", default="", help=f"comma-separated subset of: {','.join(FILES)}")
    parser.add_argument("--gzip-level", type=int, default=6)
    parser.add_argument("--jobs", type=int, default=1, help="files written at once, one process each (default 1)")
    args = parser.parse_args(argv)
    names = [name for name in args.files.split(",") if name] or list(FILES)
    unknown = sorted(set(names) - set(FILES))
    if unknown:
        parser.error(f"unknown file(s): {', '.join(unknown)}")
    if args.scale < 0:
        parser.error("--scale must not be negative")

    started = time.monotonic()
    real = real_slice_read(args.real or default_real())
    plan = Plan(real, scale=args.scale, seed=args.seed)
    words = Words(real, scale=args.scale)
    args.out.mkdir(parents=True, exist_ok=True)
    print(
        f"real slice {real.directory}; {plan.titles:,} new titles from tt{plan.title_base:07d}, "
        f"{plan.people:,} new people from nm{plan.name_base:07d}, {len(plan.series_index):,} series "
        f"(plan {time.monotonic() - started:.1f} s)",
        flush=True,
    )
    total = 0
    for name, (real_rows, generated, seconds, cpu) in _files_write(plan, words, names, args):
        rows = real_rows + generated
        total += rows
        size = (args.out / f"{name}.tsv.gz").stat().st_size
        print(
            f"{name + '.tsv.gz':24} {rows:>12,} rows ({real_rows:,} real) {seconds:7.1f} s {cpu:7.1f} s CPU "
            f"{generated / max(cpu, 1e-9):>9,.0f} rows/CPU-s {size / 1e6:8.1f} MB",
            flush=True,
        )
    elapsed = time.monotonic() - started
    print(
        f"{'total':24} {total:>12,} rows {elapsed:.1f} s, {cpu_seconds():.1f} s CPU, peak RSS {peak_rss_mb():.0f} MB"
        " (of the largest process)",
        flush=True,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
