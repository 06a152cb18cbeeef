"""Benchmark: one training run end to end on 1,000,000 synthetic ratings, and the bare ALS fits.

    python bench/bench_training.py [--ratings 1000000] [--users 20000] [--titles 10000] [--keep]

Works in a database of its own, ``<DATABASE_URL's name>_bench_training``, created fresh, migrated,
filled with COPY (titles, users and ratings drawn from taste groups with popular titles rated
more), and dropped at the end (``--keep`` keeps it). Then:

1. ``model_run_train`` — the production pipeline exactly as a worker runs it (export with COPY,
   the Spark job, write-back with COPY and the switch), with the time of each phase;
2. in the same benchmark, the bare ``ALS.fit`` of both models on the same exported ratings
   (``python -m recommender.spark.train_als --bare-fit``: a Spark process that reads the Parquet
   file and only fits).

Targets (issue 7): end to end under 60 s; at most 1.5 x (bare fit + write-back); write-back at
200,000 rows/s or more. The machine is shared: the load average is printed before and after.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import urlparse, urlunparse

from benchdb import database_create, database_drop

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def _copy(table: str, columns: list[str], frame) -> None:
    from django.db import connection

    body = io.StringIO()
    # Quoted strings: an empty text is '' (not NULL, which an unquoted empty CSV field is).
    frame.to_csv(body, index=False, header=False, quoting=csv.QUOTE_NONNUMERIC)
    body.seek(0)
    with connection.cursor() as cursor:
        cursor.copy_expert(f"COPY {table} ({', '.join(columns)}) FROM STDIN WITH (FORMAT csv)", body)


def data_generate(*, ratings: int, users: int, titles: int, seed: int = 1) -> dict:
    """Titles, users and exactly ``ratings`` distinct ratings, written with COPY."""
    import numpy as np
    import pandas as pd
    from django.db import connection

    rng = np.random.default_rng(seed)
    groups = 8
    tconsts = np.array([f"tt{number:07d}" for number in range(1, titles + 1)])
    title_group = rng.integers(0, groups, titles)
    _copy(
        "catalog_title",
        ["tconst", "title_type", "primary_title", "original_title", "is_adult", "genres", "num_votes"],
        pd.DataFrame(
            {
                "tconst": tconsts,
                "title_type": "movie",
                "primary_title": [f"Film {n}" for n in range(titles)],
                "original_title": "",
                "is_adult": False,
                "genres": "{Drama}",
                "num_votes": 100,
            }
        ),
    )
    ids = np.arange(1, users + 1)
    _copy(
        "accounts_user",
        [
            "id",
            "password",
            "is_superuser",
            "username",
            "first_name",
            "last_name",
            "email",
            "is_staff",
            "is_active",
            "date_joined",
            "kind",
            "persona",
            "external_id",
            "favourite_genres",
        ],
        pd.DataFrame(
            {
                "id": ids,
                "password": "!",
                "is_superuser": False,
                "username": [f"bench{n}" for n in ids],
                "first_name": "",
                "last_name": "",
                "email": "",
                "is_staff": False,
                "is_active": True,
                "date_joined": "2024-01-01T00:00:00Z",
                "kind": "synthetic",
                "persona": "",
                "external_id": [f"bench:{n}" for n in ids],
                "favourite_genres": "[]",
            }
        ),
    )
    with connection.cursor() as cursor:
        cursor.execute("SELECT setval('accounts_user_id_seq', %s)", [users])

    # Heavy-tailed activity; each user mostly rates popular titles of their group.
    activity = rng.pareto(1.5, users) + 1
    per_user = np.maximum(3, np.round(activity / activity.sum() * ratings * 1.15)).astype(int)
    per_user = np.minimum(per_user, titles // 2)
    popularity = 1.0 / np.arange(1, titles + 1) ** 0.8
    user_group = rng.integers(0, groups, users)
    keys = []
    for group in range(groups):
        weights = popularity * np.where(title_group == group, 6.0, 1.0)
        weights /= weights.sum()
        members = np.flatnonzero(user_group == group)
        counts = per_user[members]
        picks = rng.choice(titles, size=int(counts.sum() * 1.3), p=weights)
        owners = np.repeat(members, np.ceil(counts * 1.3).astype(int))[: len(picks)]
        keys.append(owners.astype(np.int64) * titles + picks)
    unique = np.unique(np.concatenate(keys))
    rng.shuffle(unique)
    unique = unique[:ratings]
    user_index, title_index = unique // titles, unique % titles
    liked = title_group[title_index] == user_group[user_index]
    scores = np.clip(np.round(rng.normal(np.where(liked, 4.0, 2.8), 0.9)), 1, 5).astype(int)
    for start in range(0, len(unique), 250_000):
        part = slice(start, start + 250_000)
        _copy(
            "ratings_rating",
            ["user_id", "title_id", "score", "created_at", "updated_at"],
            pd.DataFrame(
                {
                    "user_id": ids[user_index[part]],
                    "title_id": tconsts[title_index[part]],
                    "score": scores[part],
                    "created_at": "2024-01-01T00:00:00Z",
                    "updated_at": "2024-01-01T00:00:00Z",
                }
            ),
        )
    # A quiet database, as a site's is between trainings: no autovacuum of the fresh rows while
    # the training is measured.
    connection.ensure_connection()
    autocommit = connection.connection.autocommit
    connection.connection.autocommit = True
    with connection.cursor() as cursor:
        cursor.execute("VACUUM (ANALYZE)")
    connection.connection.autocommit = autocommit
    return {
        "ratings": len(unique),
        "users": int(len(np.unique(user_index))),
        "titles": int(len(np.unique(title_index))),
    }


class _RolledBack(Exception):
    pass


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--ratings", type=int, default=1_000_000)
    parser.add_argument("--users", type=int, default=20_000)
    parser.add_argument("--titles", type=int, default=10_000)
    parser.add_argument("--params", default="{}", help="JSON training parameters (default: the defaults).")
    parser.add_argument("--skip-bare", action="store_true", help="Do not run the bare fit.")
    parser.add_argument("--keep", action="store_true", help="Keep the benchmark database.")
    parser.add_argument("--reuse", action="store_true", help="Reuse a database kept by --keep (no generation).")
    args = parser.parse_args()

    base_url = os.environ.get("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/imdbrec")
    name = urlparse(base_url).path.lstrip("/") + "_bench_training"
    if args.reuse:
        os.environ["DATABASE_URL"] = urlunparse(urlparse(base_url)._replace(path=f"/{name}"))
    else:
        os.environ["DATABASE_URL"] = database_create(base_url, name)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "imdbrec.settings.dev")
    os.environ["DEBUG"] = "false"
    os.environ.setdefault("SECRET_KEY", "bench-only-secret-key-bench-only-secret-key-0123456789")
    os.environ.setdefault("LOG_LEVEL", "WARNING")

    import django

    django.setup()
    from django.conf import settings
    from django.core.management import call_command

    from recommender.spark.params import params_resolve
    from recommender.training.export import exchange_directory, ratings_export
    from recommender.training.pipeline import model_run_train
    from recommender.training.runs import model_run_create
    from recommender.training.spark_job import spark_class_archive_build, spark_job_run

    try:
        call_command("migrate", verbosity=0)
        started = time.monotonic()
        if args.reuse:
            from django.db import connection

            with connection.cursor() as cursor:
                cursor.execute("SELECT count(*), count(DISTINCT user_id), count(DISTINCT title_id) FROM ratings_rating")
                counts = dict(zip(("ratings", "users", "titles"), cursor.fetchone(), strict=True))
        else:
            counts = data_generate(ratings=args.ratings, users=args.users, titles=args.titles)
        print(
            f"database {name}: {counts['ratings']:,} ratings of {counts['users']:,} users on "
            f"{counts['titles']:,} titles, written with COPY in {time.monotonic() - started:.1f} s"
        )
        print(
            f"Spark master {settings.SPARK_MASTER}, driver memory {settings.SPARK_DRIVER_MEMORY}, "
            f"shuffle partitions {settings.SPARK_SHUFFLE_PARTITIONS}; {os.cpu_count()} cores"
        )
        print(f"load average before: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")

        # Both the pipeline and the bare fit below start their JVM from the class archive.
        print(f"Spark class archive: {spark_class_archive_build()[1]}")
        params = json.loads(args.params)
        # The job's output, copied when the run has succeeded (before the training removes it), for
        # the write-back alone below. The copy is inside the end-to-end time.
        kept = Path(tempfile.mkdtemp(prefix="bench-output-", dir=settings.RECOMMENDER_EXCHANGE_DIR)) / "output"

        def output_keep(progress) -> None:
            if progress.status == "succeeded" and not kept.exists():
                shutil.copytree(exchange_directory(progress) / "output", kept)

        clock = time.monotonic()
        run = model_run_train(run_id=model_run_create(params=params, triggered_by="bench").pk, on_progress=output_keep)
        end_to_end = time.monotonic() - clock
        if run.status != "succeeded":
            raise SystemExit(f"run failed: {run.error}")
        timings = run.timings
        job = timings["job"]
        rows = run.metrics["rows"]
        written = sum(rows.values())
        print(f"\nend to end (model_run_train): {end_to_end:.1f} s")
        for label, value in (
            ("export (COPY -> Parquet), as Spark starts", timings["export"]),
            ("Spark process, whole, from the export", timings["spark"]),
            ("  JVM and session start", job.get("spark_start")),
            ("    meanwhile: wait for the export", job.get("input_wait")),
            ("    meanwhile: read + holdout split", job.get("load")),
            ("    meanwhile: item-item term (pruned EASE)", job.get("item_item")),
            ("    meanwhile: counts, biases, weights, star neighbours", job.get("prepare_arrays")),
            ("  then waiting for those", job.get("inputs_wait")),
            ("  observations as a DataFrame", job.get("prepare")),
            ("  star model ALS.fit", job.get("fit_rating")),
            ("  ranking model ALS.fit", job.get("fit_ranking")),
            ("  title vectors to the driver", job.get("collect")),
            ("  evaluation", job.get("evaluate")),
            ("  fold-in + top-N of every user", job.get("recommend")),
            ("  similar titles + title vectors", job.get("similar")),
            ("write-back, from the first COPY to the attaching", timings["write_back"]),
            ("  recommendations + similar titles, own connection", timings.get("write_back_partitions")),
            ("  meanwhile: rest of the clustering", timings.get("communities_clustering_wait")),
            ("  meanwhile: communities (database part)", timings.get("communities")),
            ("switch", timings.get("switch")),
        ):
            if value is not None:
                print(f"  {label:<44} {value:7.1f} s")
        print(
            f"  write-back: {written:,} rows ({', '.join(f'{k} {v:,}' for k, v in rows.items())}) in "
            f"{timings['write_back']:.1f} s = {written / timings['write_back']:,.0f} rows/s"
        )

        # The same write-back alone (nothing beside it), rolled back: the ratio below uses the
        # shorter of the two (a longer write-back in the denominator would flatter the ratio).
        from django.db import transaction

        from recommender.models import ModelRun
        from recommender.training.write_back import run_rows_write

        alone_run = ModelRun.objects.create(status="failed", triggered_by="bench")
        clock = time.monotonic()
        try:
            with transaction.atomic():
                alone_rows = sum(run_rows_write(run=alone_run, output_dir=kept).values())
                write_alone = time.monotonic() - clock
                raise _RolledBack
        except _RolledBack:
            pass
        alone_run.delete()
        shutil.rmtree(kept.parent, ignore_errors=True)
        print(
            f"  write-back alone (same files, one transaction, rolled back): {alone_rows:,} rows in "
            f"{write_alone:.1f} s = {alone_rows / write_alone:,.0f} rows/s"
        )
        write_back = min(timings["write_back"], write_alone)
        print(
            f"  holdout: RMSE {run.metrics.get('rmse', float('nan')):.4f}, precision@10 "
            f"{run.metrics.get('precision_at_10', float('nan')):.4f} (most popular "
            f"{run.metrics.get('popularity_precision_at_10', float('nan')):.4f})"
        )

        if not args.skip_bare:
            directory = Path(tempfile.mkdtemp(prefix="bench-bare-", dir=settings.RECOMMENDER_EXCHANGE_DIR))
            ratings_export(directory=directory)
            clock = time.monotonic()
            bare = spark_job_run(
                input_dir=directory,
                output_dir=directory / "out",
                params=params_resolve(params),
                log_path=directory / "spark.log",
                bare_fit=True,
            )
            bare_process = time.monotonic() - clock
            bare_timings = bare["timings"]
            fit_ranking, fit_rating = bare_timings["bare_fit_ranking"], bare_timings["bare_fit_rating"]
            print(
                f"\nbare ALS.fit on the same {counts['ratings']:,} ratings (own Spark process, "
                f"{bare_process:.1f} s with its start):"
            )
            print(
                f"  ranking model (implicit, rank {run.params['rank']}, {run.params['iterations']} it.) "
                f"{fit_ranking:6.1f} s"
            )
            print(
                f"  star model (explicit, rank {run.params['rating_rank']}, {run.params['rating_iterations']} it.) "
                f"{fit_rating:6.1f} s"
            )
            both = fit_ranking + fit_rating
            print(
                f"\nratio end to end / (bare fit of both models + write-back) = {end_to_end:.1f} / "
                f"({both:.1f} + {write_back:.1f}) = {end_to_end / (both + write_back):.2f}  (target <= 1.5)"
            )
            print(
                f"ratio end to end / (bare fit of the ranking model + write-back) = "
                f"{end_to_end / (fit_ranking + write_back):.2f}"
            )
            shutil.rmtree(directory, ignore_errors=True)
        print(
            f"\nend to end {end_to_end:.1f} s (target < 60 s); write-back {written / timings['write_back']:,.0f} rows/s "
            f"in the run, {alone_rows / write_alone:,.0f} rows/s alone (target >= 200,000)"
        )
        print(f"load average after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    finally:
        from django.db import connections

        connections.close_all()
        if not args.keep:
            database_drop(base_url, name)
            print(f"dropped {name}")


if __name__ == "__main__":
    main()
