"""Train the recommender now: export the ratings, fit both ALS models in one Spark job, evaluate
on a holdout, write the run's rows and switch the site over to it (recommender/DESIGN.md).

Runs in this process by default (with a progress bar); --queue hands it to a Celery worker of the
spark queue instead. Only one training runs at a time: while another holds the lock this one is
refused with a message and the command exits with status 1. The previous run keeps serving until
the new one has fully succeeded, and keeps serving if it fails.

    python manage.py train_recommender
    python manage.py train_recommender --rank 64 --reg 0.05 --iterations 15 --alpha 2
    python manage.py train_recommender --grid                       # default grid, validation split
    python manage.py train_recommender --grid '{"rank": [32, 64], "rating_reg": [0.1, 0.2]}'
    python manage.py train_recommender --grid --seeds 1,2,3,4,5     # mean over five validation splits
    python manage.py train_recommender --params '{"top_n": 100, "holdout_fraction": 0}'
"""

import json

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError
from django.db import connection
from tqdm import tqdm

from imdbrec.queueing import BackgroundUnavailable
from recommender.models import ModelRun
from recommender.training.pipeline import model_run_train
from recommender.training.runs import model_run_create, model_run_start

METRIC_LABELS = (
    ("rmse", "RMSE (stars)"),
    ("mae", "MAE (stars)"),
    ("precision_at_10", "precision@10"),
    ("ndcg_at_10", "NDCG@10"),
    ("popularity_precision_at_10", "most popular: precision@10"),
    ("popularity_ndcg_at_10", "most popular: NDCG@10"),
    ("catalog_coverage", "catalog coverage of top 10s"),
    ("novelty_bits", "novelty (bits)"),
    ("intra_list_diversity", "intra-list diversity"),
    ("already_rated_share", "already rated (must be 0)"),
)


class Command(BaseCommand):
    help = __doc__

    def add_arguments(self, parser):
        parser.add_argument("--rank", type=int, help="Ranking model (implicit ALS) rank.")
        parser.add_argument("--reg", type=float, help="Ranking model regularisation.")
        parser.add_argument("--iterations", type=int, help="Ranking model ALS iterations.")
        parser.add_argument("--alpha", type=float, help="Ranking model confidence scale alpha.")
        parser.add_argument("--rating-rank", type=int, help="Star model (explicit ALS) rank.")
        parser.add_argument("--rating-reg", type=float, help="Star model regularisation.")
        parser.add_argument("--top-n", type=int, help="Recommendations kept per user (default RECOMMENDER_TOP_N).")
        parser.add_argument(
            "--grid",
            nargs="?",
            const="true",
            default=None,
            help="Grid search with a validation split: the default grid, or a JSON mapping of "
            "parameter to values. Every candidate's metrics are kept in the run.",
        )
        parser.add_argument(
            "--seeds",
            help="With --grid: comma-separated seeds of the validation splits (1,2,3,4,5); every "
            "candidate is scored on each, chosen by its mean, and each seed's figures are kept.",
        )
        parser.add_argument("--params", default="{}", help="JSON object of any other parameter (see DESIGN.md).")
        parser.add_argument("--queue", action="store_true", help="Queue on the spark worker instead of training here.")
        parser.add_argument(
            "--dry-run", action="store_true", help="Check the parameters and show what would be trained."
        )

    def handle(self, *args, **options):
        from django.conf import settings

        try:
            params = json.loads(options["params"])
            grid = json.loads(options["grid"]) if options["grid"] is not None else None
        except json.JSONDecodeError as error:
            raise CommandError(f"--params/--grid must be JSON: {error}")
        if not isinstance(params, dict):
            raise CommandError("--params must be a JSON object")
        for name in ("rank", "reg", "iterations", "alpha", "rating_rank", "rating_reg", "top_n"):
            if options[name] is not None:
                params[name] = options[name]
        params.setdefault("top_n", settings.RECOMMENDER_TOP_N)
        if grid is not None:
            params["grid"] = grid
        if options["seeds"] is not None:
            if grid is None and not params.get("grid"):
                raise CommandError("--seeds goes with --grid: the seeds are those of the validation splits")
            try:
                params["grid_seeds"] = [int(seed) for seed in options["seeds"].split(",") if seed.strip()]
            except ValueError:
                raise CommandError(f"--seeds must be whole numbers separated by commas, not {options['seeds']!r}")
            if not params["grid_seeds"]:
                raise CommandError("--seeds names no seed")
        verbosity = options["verbosity"]

        if options["dry_run"]:
            from recommender.spark.params import ParamsError, params_resolve

            try:
                resolved = params_resolve(params)
            except ParamsError as error:
                raise CommandError(f"Bad training parameter: {error}")
            with connection.cursor() as cursor:
                cursor.execute("SELECT count(*), count(DISTINCT user_id), count(DISTINCT title_id) FROM ratings_rating")
                ratings, users, titles = cursor.fetchone()
            self.stdout.write(
                f"Would train on {ratings:,} ratings of {users:,} users and {titles:,} titles "
                f"(Spark master {settings.SPARK_MASTER}) with:\n{json.dumps(resolved, indent=1)}"
            )
            return

        if options["queue"]:
            try:
                run = model_run_start(params=params, triggered_by="command")
            except ValidationError as error:
                raise CommandError(" ".join(error.messages))
            except BackgroundUnavailable as error:
                raise CommandError(str(error))
            if verbosity:
                self.stdout.write(f"Run #{run.pk} queued on the spark queue; follow it on /system/.")
            return

        try:
            run = model_run_create(params=params, triggered_by="command")
        except ValidationError as error:
            raise CommandError(" ".join(error.messages))
        bar = tqdm(
            total=100,
            unit="%",
            disable=verbosity < 1,
            file=self.stderr._out,
            leave=True,
            bar_format="{l_bar}{bar}| {elapsed} {postfix}",
        )
        last_phase = {"phase": ""}

        def progress(current: ModelRun) -> None:
            bar.update(round(current.progress * 100) - bar.n)
            bar.set_postfix_str(current.phase, refresh=True)
            if verbosity >= 2 and current.phase != last_phase["phase"]:
                bar.write(f"  {current.phase}", file=self.stderr._out)
            last_phase["phase"] = current.phase

        try:
            run = model_run_train(run_id=run.pk, on_progress=progress)
        finally:
            bar.close()
        if run.status != ModelRun.Status.SUCCEEDED:
            raise CommandError(f"Run #{run.pk} {run.status}: {run.error}")
        if verbosity:
            self.stdout.write(self.summary(run))

    def summary(self, run: ModelRun) -> str:
        lines = [
            f"Run #{run.pk} succeeded and is now serving: {run.num_ratings:,} ratings, {run.num_users:,} users, "
            f"{run.num_titles:,} titles."
        ]
        timings = run.timings or {}
        phases = (
            "export",
            "spark_start",
            "fit",
            "grid",
            "evaluate",
            "recommend",
            "similar",
            "spark",
            "write_back",
            "communities",
            "total",
        )
        lines.append(
            "  timings: "
            + ", ".join(
                f"{name} {timings[name]:.1f} s" for name in phases if isinstance(timings.get(name), int | float)
            )
        )
        rows = (run.metrics or {}).get("rows") or {}
        if rows:
            lines.append(
                "  rows: "
                + ", ".join(f"{name.replace('_', ' ')} {count:,}" for name, count in rows.items())
                + f" ({timings.get('write_back_rows_per_second', 0):,.0f} rows/s)"
            )
        metrics = run.metrics or {}
        if metrics.get("eval_users"):
            lines.append(f"  holdout ({metrics['eval_pairs']:,} ratings of {metrics['eval_users']:,} users):")
            for key, label in METRIC_LABELS:
                if metrics.get(key) is not None:
                    lines.append(f"    {label:<28} {metrics[key]:.4f}")
        if metrics.get("confidence_buckets"):
            rates = " / ".join(
                "–" if bucket.get("hit_rate") is None else f"{bucket['hit_rate']:.3f}"
                for bucket in metrics["confidence_buckets"]
            )
            rises = {True: "rises", False: "does NOT rise", None: "too few buckets to tell"}[
                metrics.get("confidence_rises")
            ]
            lines.append(f"    top-10 hit rate by confidence low / medium / high: {rates} ({rises})")
        for candidate in run.candidates or []:
            scores = candidate.get("metrics") or {}

            def figure(key: str, scores: dict = scores) -> str:
                value = f"{scores.get(key) or float('nan'):.4f}"
                return value + (f" ± {scores[key + '_std']:.4f}" if key + "_std" in scores else "")

            lines.append(
                f"  grid {candidate['kind']:<7} {json.dumps(candidate['params'])}: "
                f"RMSE {figure('rmse')}, precision@10 {figure('precision_at_10')}, NDCG@10 {figure('ndcg_at_10')}"
                f"{'  <- chosen' if candidate.get('chosen') else ''}"
            )
            for row in candidate.get("per_seed") or []:
                lines.append(
                    f"      validation seed {row['seed']}: RMSE {row.get('rmse') or float('nan'):.4f}, "
                    f"precision@10 {row.get('precision_at_10') or float('nan'):.4f}, "
                    f"NDCG@10 {row.get('ndcg_at_10') or float('nan'):.4f}"
                )
        return "\n".join(lines)
