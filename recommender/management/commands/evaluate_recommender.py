"""Evaluate the recommender on a MovieLens release, offline: split its ratings at random, train
exactly the production pipeline (the same Spark job a training run starts) on the training part,
and score it on the held-out part against the most-popular baseline on the same split.

Reads ml-100k (u.data), ml-1m (ratings.dat) and ml-latest / ml-latest-small (ratings.csv), with
MovieLens movie ids as item ids and ratings on their own scale. Needs no catalog and writes
nothing to the database. Prints a table, then, as its last line, one JSON object with the keys
rmse, mae, precision_at_10, ndcg_at_10, popularity_precision_at_10 and popularity_ndcg_at_10.

    python manage.py evaluate_recommender --movielens ../shared/data/movielens-latest-small
    python manage.py evaluate_recommender --movielens ml-100k --test-fraction 0.1 --split-seed 7
    python manage.py evaluate_recommender --movielens ml-1m --params '{"rank": 64}'
"""

import json

from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from recommender.quality.evaluation import MovieLensError, movielens_evaluate, summary_json
from recommender.training.spark_job import SparkJobError


class Command(BaseCommand):
    help = __doc__
    requires_system_checks = []

    def add_arguments(self, parser):
        parser.add_argument(
            "--movielens", required=True, metavar="DIR", help="A MovieLens release directory (or its ratings file)."
        )
        parser.add_argument("--test-fraction", type=float, default=0.2, help="Share of ratings held out (default 0.2).")
        parser.add_argument("--split-seed", type=int, default=42, help="Seed of the random split (default 42).")
        parser.add_argument("--params", default="{}", help="JSON object overriding the training parameters.")
        parser.add_argument("--keep-files", action="store_true", help="Keep the exchanged Parquet files and Spark log.")

    def handle(self, *args, **options):
        try:
            params = json.loads(options["params"])
        except json.JSONDecodeError as error:
            raise CommandError(f"--params must be JSON: {error}")
        if not isinstance(params, dict):
            raise CommandError("--params must be a JSON object")
        verbosity = options["verbosity"]
        bar = tqdm(
            total=100,
            unit="%",
            disable=verbosity < 1,
            file=self.stderr._out,
            leave=False,
            bar_format="{l_bar}{bar}| {elapsed} {postfix}",
        )

        def progress(step: str, fraction: float, message: str) -> None:
            bar.update(max(round(fraction * 100) - bar.n, 0))
            bar.set_postfix_str(message, refresh=True)

        try:
            report = movielens_evaluate(
                path=options["movielens"],
                test_fraction=options["test_fraction"],
                seed=options["split_seed"],
                params=params,
                on_progress=progress,
                keep_files=options["keep_files"],
            )
        except (MovieLensError, SparkJobError) as error:
            raise CommandError(str(error))
        finally:
            bar.close()
        if verbosity:
            self.stdout.write(report.table())
        self.stdout.write(summary_json(report))
