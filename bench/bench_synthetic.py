"""Benchmark: generate 100,000 synthetic users (about 4 million ratings) and remove them again.

    python bench/bench_synthetic.py [--users 100000] [--seed 1] [--writers 2] [--keep-row-triggers]

Works in a database of its own, ``<DATABASE_URL's name>_bench_synthetic``, created fresh, migrated,
filled with titles and dropped at the end (``--keep`` keeps it). The titles are the real IMDb slice
(title.basics, title.ratings, title.crew and title.principals of ../shared/data/imdb-sample or
$IMDBREC_SHARED_DATA/imdb-sample, loaded with COPY) when it is there, else 30,000 made-up titles
with IMDb-like genres, averages, vote counts, runtimes and people.

The ratio: the taste model alone (``block_generate``, no database) for the same users with the
generator's defaults against the seed's rules (personas and popularity only, every personal taste
switched off), both timed in this run.

Prints the wall time, ratings per second and peak memory of the generation, of a second run with
the same seed (which must write nothing), and of the removal, with the machine's load average:
the box is shared, and a busy neighbour slows Postgres down.
"""

from __future__ import annotations

import argparse
import io
import os
import resource
import sys
import time
from pathlib import Path
from urllib.parse import urlparse

from benchdb import database_create, database_drop
from shareddata import IMDB_NULL, IMDB_TSV, imdb_titles_frame, weighted_rating_mean_set
from shareddata import IMDB_SLICE as SLICE

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def titles_load() -> tuple[int, str]:
    """Fill catalog_title with COPY; returns (rows, where they came from)."""
    import numpy as np
    import pandas as pd
    from django.db import connection

    if (SLICE / "title.basics.tsv.gz").exists():
        frame = imdb_titles_frame(SLICE)
        source = f"the real IMDb slice ({SLICE})"
    else:
        rng = np.random.default_rng(0)
        count = 30_000
        genres = np.array(
            [
                "Drama",
                "Comedy",
                "Romance",
                "Crime",
                "Action",
                "Adventure",
                "Thriller",
                "Horror",
                "Sci-Fi",
                "Fantasy",
                "Family",
                "Animation",
                "War",
                "Biography",
                "Musical",
                "Western",
            ]
        )
        picks = [sorted(set(rng.choice(genres, size=rng.integers(1, 4), p=None))) for _ in range(count)]
        frame = pd.DataFrame(
            {
                "tconst": [f"tt{i:07d}" for i in range(1, count + 1)],
                "title_type": "movie",
                "primary_title": [f"Film {i}" for i in range(1, count + 1)],
                "original_title": "",
                "is_adult": False,
                "start_year": rng.integers(1920, 2024, count),
                "runtime_minutes": rng.integers(60, 200, count),
                "genres": ["{" + ",".join(g) + "}" for g in picks],
                "average_rating": np.clip(rng.normal(6.3, 1.1, count), 1, 10).round(1),
                "num_votes": (rng.lognormal(6, 2, count) + 5).astype(int),
            }
        )
        # People with a heavy-tailed number of titles each: 3,000 directors, 6,000 writers, 12,000 actors.
        crew = pd.DataFrame(
            {
                "title_id": np.concatenate([frame.tconst, frame.tconst]),
                "person_id": [f"nm{1 + int(n):07d}" for n in rng.zipf(1.6, count) % 3000]
                + [f"nm{10_000 + int(n):07d}" for n in rng.zipf(1.6, count) % 6000],
                "role": ["director"] * count + ["writer"] * count,
                "ordering": 0,
            }
        ).drop_duplicates(["title_id", "person_id", "role"])
        principals = pd.DataFrame(
            {
                "title_id": np.repeat(frame.tconst.to_numpy(), 2),
                "ordering": np.tile([1, 2], count),
                "person_id": [f"nm{20_000 + int(n):07d}" for n in rng.zipf(1.5, 2 * count) % 12000],
                "category": np.tile(["actor", "actress"], count),
                "job": "",
                "characters": "{}",
            }
        )
        source = "30,000 made-up titles"
    if (SLICE / "title.crew.tsv.gz").exists() and source != "30,000 made-up titles":
        crew_file = pd.read_csv(SLICE / "title.crew.tsv.gz", **IMDB_TSV)
        parts = []
        for role, column in (("director", "directors"), ("writer", "writers")):
            people = crew_file[["tconst", column]][crew_file[column] != IMDB_NULL]
            people = people.assign(person_id=people[column].str.split(",")).explode("person_id")
            parts.append(pd.DataFrame({"title_id": people.tconst, "person_id": people.person_id, "role": role}))
        crew = pd.concat(parts).drop_duplicates(["title_id", "person_id", "role"]).assign(ordering=0)
        principal_file = pd.read_csv(SLICE / "title.principals.tsv.gz", **IMDB_TSV)
        principals = pd.DataFrame(
            {
                "title_id": principal_file.tconst,
                "ordering": principal_file.ordering,
                "person_id": principal_file.nconst,
                "category": principal_file.category,
                "job": principal_file.job.replace(IMDB_NULL, ""),
                "characters": "{}",
            }
        )
    with connection.cursor() as cursor:
        weighted_rating_mean_set(cursor, frame)
        for table, rows, options in (
            ("catalog_title", frame, ""),
            ("catalog_crew", crew, ""),
            ("catalog_principal", principals, ", FORCE_NOT_NULL (job)"),  # an empty job is "", not NULL
        ):
            body = io.StringIO()
            rows.to_csv(body, index=False, header=False)
            body.seek(0)
            cursor.copy_expert(f"COPY {table} ({', '.join(rows.columns)}) FROM STDIN WITH (FORMAT csv{options})", body)
            cursor.execute(f"ANALYZE {table}")
    return len(frame), f"{source}, {len(crew):,} crew and {len(principals):,} principal rows"


def taste_model_ratio(users: int, seed: int) -> str:
    """Seconds of the taste model alone (no database) with the defaults and with the seed's rules."""
    from dataclasses import replace

    from ratings.synthetic import GeneratorConfig
    from ratings.synthetic.generation import BLOCK_SIZE, block_generate
    from ratings.synthetic.writing import synthetic_title_pool

    seed_rules = replace(
        GeneratorConfig(),
        liked_choice_weight=5.0,
        disliked_choice_weight=0.3,
        genre_weights_multiply=False,
        obscurity_shift=0.0,
        favourite_people=(0, 0),
        disliked_people=(0, 0),
        era_floor=1.0,
        runtime_floor=1.0,
        other_type_acceptance=1.0,
    )
    timings = {}
    for label, config in (("seed's rules", seed_rules), ("defaults", GeneratorConfig())):
        started, cpu = time.monotonic(), time.process_time()
        pool = synthetic_title_pool(config=config)
        ratings = sum(
            len(block_generate(seed=seed, block=b, pool=pool, config=config).rating_title)
            for b in range(-(-users // BLOCK_SIZE))
        )
        timings[label] = (time.monotonic() - started, time.process_time() - cpu, ratings)
    (base, base_cpu, base_ratings), (new, new_cpu, new_ratings) = timings["seed's rules"], timings["defaults"]
    return (
        f"taste model alone, {users:,} users: defaults {new:.1f} s wall, {new_cpu:.1f} s CPU ({new_ratings:,} "
        f"ratings); seed's rules {base:.1f} s wall, {base_cpu:.1f} s CPU ({base_ratings:,} ratings): "
        f"ratio {new / base:.2f} wall, {new_cpu / base_cpu:.2f} CPU"
    )


class BackendCpu:
    """CPU seconds used by the Postgres backends serving one database, sampled from /proc.

    Backends show their database in their process title ("postgres: 15/main: user db ...").
    Each writer chunk has its own short-lived connection, so the sampler keeps the last reading
    of every backend it saw (up to one sampling interval of a backend's last work is missed),
    and of the parallel workers of an index build, which name their leader's PID instead.
    """

    def __init__(self, database: str, interval: float = 0.05):
        import threading

        self.database, self.interval = database, interval
        self.seen: dict[int, float] = {}
        self.stop = threading.Event()
        self.ticks = os.sysconf("SC_CLK_TCK")
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.own_seconds = 0.0

    def sample(self) -> None:
        for entry in os.scandir("/proc"):
            if not entry.name.isdigit():
                continue
            try:
                title = Path(entry.path, "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
                if not title.startswith("postgres:"):
                    continue
                # A parallel index build's workers name their leader, not the database.
                leader = title.split("parallel worker for PID ", 1)[1].split()[0] if "parallel worker" in title else ""
                if f" {self.database} " not in title and not (leader.isdigit() and int(leader) in self.seen):
                    continue
                fields = Path(entry.path, "stat").read_text().rsplit(")", 1)[1].split()
                self.seen[int(entry.name)] = (int(fields[11]) + int(fields[12])) / self.ticks
            except OSError:
                continue

    def run(self) -> None:
        while not self.stop.is_set():
            self.sample()
            self.stop.wait(self.interval)
        # Its own CPU: the process's CPU time includes this thread, which is not the generator.
        self.own_seconds = time.thread_time()

    def __enter__(self):
        self.sample()
        self.before = dict(self.seen)
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop.set()
        self.thread.join()
        self.sample()

    @property
    def seconds(self) -> float:
        return sum(cpu - self.before.get(pid, 0.0) for pid, cpu in self.seen.items())


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--users", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--writers", type=int, default=2)
    parser.add_argument(
        "--keep-row-triggers",
        action="store_true",
        help="Do not skip the per-row foreign-key triggers (what a non-superuser role gets).",
    )
    parser.add_argument("--keep", action="store_true", help="Keep the benchmark database.")
    args = parser.parse_args()

    base_url = os.environ.get("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/imdbrec")
    name = urlparse(base_url).path.lstrip("/") + "_bench_synthetic"
    os.environ["DATABASE_URL"] = database_create(base_url, name)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "imdbrec.settings.dev")
    os.environ.setdefault("LOG_LEVEL", "WARNING")

    import django

    django.setup()
    from django.core.management import call_command

    from ratings.synthetic import synthetic_users_generate, synthetic_users_remove

    try:
        call_command("migrate", verbosity=0)
        started = time.monotonic()
        rows, source = titles_load()
        print(f"database {name}: {rows:,} titles from {source} in {time.monotonic() - started:.1f} s")
        print(f"load average before: {' '.join(f'{x:.2f}' for x in os.getloadavg())} on {os.cpu_count()} cores")

        rss_before = peak_rss_mb()
        cpu_before = time.process_time()
        with BackendCpu(name) as backends:
            report = synthetic_users_generate(
                users=args.users, seed=args.seed, writers=args.writers, skip_row_triggers=not args.keep_row_triggers
            )
        sampler = backends.own_seconds
        cpu = time.process_time() - cpu_before - sampler
        print(
            f"generate: {report.users_created:,} users, {report.ratings_created:,} ratings from "
            f"{report.titles_in_pool:,} titles in {report.seconds:.1f} s = "
            f"{report.ratings_created / report.seconds:,.0f} ratings/s "
            f"({'row triggers skipped, checked per title' if report.fast_path else 'row triggers on'}; "
            f"{'indexes dropped and rebuilt' if report.indexes_rebuilt else 'indexes kept, chunk by chunk'}); "
            f"peak RSS {peak_rss_mb():.0f} MB (before: {rss_before:.0f} MB)"
        )
        # On an idle machine the CPU needed bounds the time. Written chunk by chunk, the writers'
        # connections work while Python generates; with the indexes rebuilt there is one
        # connection, which Python waits for (the index builds may take a parallel worker).
        if report.indexes_rebuilt:
            idle = cpu + backends.seconds
        else:
            idle = max(cpu, backends.seconds / args.writers, (cpu + backends.seconds) / (os.cpu_count() or 1))
        print(
            f"CPU: Python {cpu:.1f} s (the /proc sampler's own {sampler:.1f} s left out) + Postgres backends "
            f"{backends.seconds:.1f} s = {cpu + backends.seconds:.1f} s; on {os.cpu_count()} idle cores about "
            f"{idle:.1f} s (plus WAL writing and checkpoints, not counted)"
        )
        print(f"load average after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")

        print(taste_model_ratio(args.users, args.seed))
        print(f"load average: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")

        again = synthetic_users_generate(users=args.users, seed=args.seed, writers=args.writers)
        print(
            f"same seed again: {again.users_created:,} users, {again.ratings_created:,} ratings written "
            f"in {again.seconds:.1f} s"
        )

        started = time.monotonic()
        removed = synthetic_users_remove()
        print(
            f"remove: {removed['users']:,} users and {removed['ratings']:,} ratings in "
            f"{time.monotonic() - started:.1f} s"
        )
    finally:
        from django.db import connections

        connections.close_all()
        if not args.keep:
            database_drop(base_url, name)


if __name__ == "__main__":
    main()
