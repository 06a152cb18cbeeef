"""Evaluate the recommender on a MovieLens release, offline: split its ratings at random, train
exactly the production pipeline (the same Spark job a training run starts) on the training part,
and score it on the held-out part against the most-popular baseline on the same split.

Reads ml-100k (u.data), ml-1m (ratings.dat) and ml-latest / ml-latest-small (ratings.csv), with
MovieLens movie ids as item ids and ratings on their own scale. Needs no catalog and writes
nothing to the database. Scores EASE (its λ chosen on a validation part of the training ratings)
and most popular on the same split and users, with beyond-accuracy figures (coverage, novelty,
diversity, already-rated share) for all three. Prints a table, then, as its last line, one JSON
object with the keys rmse, mae, precision_at_10, ndcg_at_10, popularity_precision_at_10,
popularity_ndcg_at_10, ease_precision_at_10, ease_ndcg_at_10 and the beyond-accuracy keys; with
--seeds those are the random split's means, with ``*_std`` and every run under ``splits``.

    python manage.py evaluate_recommender --movielens ../shared/data/movielens-latest-small
    python manage.py evaluate_recommender --movielens ml-100k --test-fraction 0.1 --split-seed 7
    python manage.py evaluate_recommender --movielens ml-1m --params '{"rank": 64}'
    python manage.py evaluate_recommender --movielens ml-latest-small --seeds 1,2,3,4,5 --split both
"""

import json

from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from recommender.quality.evaluation import (
    MovieLensError,
    SeedsReport,
    movielens_evaluate,
    movielens_read,
    summary_json,
)
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
        parser.add_argument("--seeds", help="Comma-separated split seeds (1,2,3,4,5): one run each, then mean ± sd.")
        parser.add_argument(
            "--split",
            choices=("random", "time", "both"),
            default="random",
            help="random (default), time (each user's latest ratings held out; run once) or both.",
        )
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

        seeds = [options["split_seed"]]
        if options["seeds"]:
            try:
                seeds = [int(seed) for seed in options["seeds"].split(",") if seed.strip()]
            except ValueError:
                raise CommandError(f"--seeds must be whole numbers separated by commas, not {options['seeds']!r}")
            if not seeds:
                raise CommandError("--seeds names no seed")
        runs = []
        if options["split"] in ("random", "both"):
            runs += [("random", seed) for seed in seeds]
        if options["split"] in ("time", "both"):
            runs.append(("time", seeds[0]))
        reports = []
        try:
            ratings = movielens_read(options["movielens"])
            for number, (split, seed) in enumerate(runs, start=1):
                bar.reset()
                bar.set_description(
                    f"{split} split{f' seed {seed}' if split == 'random' else ''} ({number}/{len(runs)})"
                )
                reports.append(
                    movielens_evaluate(
                        path=options["movielens"],
                        ratings=ratings,
                        test_fraction=options["test_fraction"],
                        seed=seed,
                        split=split,
                        params=params,
                        on_progress=progress,
                        keep_files=options["keep_files"],
                    )
                )
                if verbosity:
                    self.stdout.write(reports[-1].table() + "\n")
        except (MovieLensError, SparkJobError) as error:
            raise CommandError(str(error))
        finally:
            bar.close()
        if len(reports) == 1:
            self.stdout.write(summary_json(reports[0]))
            return
        combined = SeedsReport(reports)
        if verbosity:
            self.stdout.write(combined.table() + "\n")
        self.stdout.write(summary_json(combined))
