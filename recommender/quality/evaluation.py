"""Offline evaluation on MovieLens: read a release, split it, train the production pipeline on one
part and score it on the other (recommender/DESIGN.md §8). No pyspark here: the Spark job is the
same process a training run starts (``recommender.training.spark_job.spark_job_run``), and it computes the
metrics with ``recommender.spark.scoring`` exactly as it does for every run's own holdout.

Metrics, per user with held-out ratings, averaged over those users:

* precision@10 — of the 10 best-scored titles the user did not rate in training, the share the
  user rated in the held-out part (any star value: "would the user watch it");
* NDCG@10 — the same list, binary relevance, normalised by the ideal list of min(10, held-out) hits;
* RMSE and MAE of the predicted stars over every held-out rating;
* the same ranking metrics for the most-popular list (titles by number of training ratings).
"""

from __future__ import annotations

import json
import shutil
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from recommender.spark.params import ParamsError, params_resolve

METRIC_KEYS = ("rmse", "mae", "precision_at_10", "ndcg_at_10", "popularity_precision_at_10", "popularity_ndcg_at_10")

# The three layouts of a MovieLens release, in the order they are looked for.
MOVIELENS_FILES = (
    ("ratings.csv", "ml-latest / ml-latest-small / ml-25m: userId,movieId,rating,timestamp with a header"),
    ("ratings.dat", "ml-1m / ml-10m: UserID::MovieID::Rating::Timestamp"),
    ("u.data", "ml-100k: user id, item id, rating, timestamp separated by tabs"),
)


class MovieLensError(ValueError):
    pass


def movielens_read(path: str | Path) -> pd.DataFrame:
    """The ratings of a MovieLens release (a directory holding one of MOVIELENS_FILES, or that file)
    as a DataFrame with columns user, item (int32) and rating (float32)."""
    path = Path(path)
    if path.is_dir():
        for name, _ in MOVIELENS_FILES:
            if (path / name).is_file():
                path = path / name
                break
        else:
            expected = "; ".join(f"{name} ({description})" for name, description in MOVIELENS_FILES)
            raise MovieLensError(f"{path} holds no MovieLens ratings file; expected one of: {expected}")
    if not path.is_file():
        raise MovieLensError(f"{path} does not exist")
    names = ["user", "item", "rating", "timestamp"]
    try:
        if path.name == "u.data" or path.suffix == ".data":
            frame = pd.read_csv(path, sep="\t", names=names, header=None, engine="c")
        elif path.suffix == ".dat":
            frame = pd.read_csv(path, sep="::", names=names, header=None, engine="python")
        else:
            frame = pd.read_csv(path)
            columns = {column.lower(): column for column in frame.columns}
            if not {"userid", "movieid", "rating"} <= set(columns):
                raise MovieLensError(
                    f"{path}: expected the columns userId, movieId, rating; found {list(frame.columns)}"
                )
            frame = frame.rename(
                columns={columns["userid"]: "user", columns["movieid"]: "item", columns["rating"]: "rating"}
            )
    except (pd.errors.ParserError, UnicodeDecodeError) as error:
        raise MovieLensError(f"{path}: not a MovieLens ratings file ({error})") from error
    frame = frame[["user", "item", "rating"]]
    if frame.empty:
        raise MovieLensError(f"{path} holds no ratings")
    try:
        frame = frame.astype({"user": "int32", "item": "int32", "rating": "float32"})
    except (ValueError, TypeError) as error:
        raise MovieLensError(f"{path}: user, movie and rating must be numbers ({error})") from error
    if not np.isfinite(frame["rating"]).all():
        raise MovieLensError(f"{path}: some ratings are not numbers")
    # A release has one rating per user and movie; keep the last if a file repeats one.
    return frame.drop_duplicates(["user", "item"], keep="last").reset_index(drop=True)


def ratings_split(frame: pd.DataFrame, *, test_fraction: float, seed: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Each rating goes to the test part with probability ``test_fraction`` (numpy, seeded)."""
    if not 0 < test_fraction < 1:
        raise MovieLensError("--test-fraction must be between 0 and 1")
    held = np.random.default_rng(seed).random(len(frame)) < test_fraction
    return frame[~held].reset_index(drop=True), frame[held].reset_index(drop=True)


@dataclass
class EvaluationReport:
    metrics: dict
    counts: dict
    params: dict
    timings: dict
    seconds: float
    model: dict = field(default_factory=dict)  # the run's model constants (popularity weight, ...)
    directory: Path | None = None  # the exchanged files, when kept (``keep_files``)

    def summary(self) -> dict:
        return {key: self.metrics.get(key) for key in METRIC_KEYS}

    def table(self) -> str:
        metrics = self.metrics
        rows = [
            ("", "model", "most popular"),
            (
                "precision@10",
                _number(metrics.get("precision_at_10")),
                _number(metrics.get("popularity_precision_at_10")),
            ),
            ("NDCG@10", _number(metrics.get("ndcg_at_10")), _number(metrics.get("popularity_ndcg_at_10"))),
            ("RMSE (stars)", _number(metrics.get("rmse")), "—"),
            ("MAE (stars)", _number(metrics.get("mae")), "—"),
        ]
        width = max(len(row[0]) for row in rows) + 2
        lines = [
            f"MovieLens: {self.counts['ratings']:,} ratings of {self.counts['users']:,} users on "
            f"{self.counts['titles']:,} movies; scale {self.params['scale_min']:g}–{self.params['scale_max']:g}",
            f"split: {self.counts['train']:,} training / {self.counts['test']:,} test ratings "
            f"(test fraction {self.counts['test_fraction']:g}, seed {self.counts['seed']}); "
            f"{metrics.get('eval_users', 0):,} test users",
            "",
        ]
        lines += [f"{label:<{width}}{model:>10}  {popular:>13}" for label, model, popular in rows]
        buckets = metrics.get("confidence_buckets") or []
        if buckets:
            lines += ["", "confidence   recommendations   hit rate   held-out ratings   MAE"]
            for bucket in buckets:
                lines.append(
                    f"{bucket['confidence']:<12} {bucket['recommendations']:>15,}   "
                    f"{_number(bucket['hit_rate']):>8}   {bucket['pairs']:>16,}   {_number(bucket['mae'])}"
                )
        job = self.timings
        lines += [
            "",
            "time: "
            + ", ".join(
                f"{name} {job[name]:.1f} s"
                for name in (
                    "spark_start",
                    "fit_biases",
                    "fit_rating",
                    "fit_ranking",
                    "evaluate",
                    "recommend",
                    "similar",
                    "job_total",
                )
                if name in job
            )
            + f"; {self.seconds:.1f} s in all",
        ]
        return "\n".join(lines)


def _number(value) -> str:
    return "—" if value is None else f"{value:.4f}"


def movielens_evaluate(
    *,
    path: str | Path,
    test_fraction: float = 0.2,
    seed: int = 42,
    params: dict | None = None,
    exchange_dir: str | Path | None = None,
    on_progress: Callable[[str, float, str], None] | None = None,
    keep_files: bool = False,
) -> EvaluationReport:
    """Train the production Spark job on the training part of a MovieLens release, score the test part."""
    from django.conf import settings

    from recommender.training.spark_job import spark_job_run

    started = time.monotonic()
    ratings = movielens_read(path)
    train, test = ratings_split(ratings, test_fraction=test_fraction, seed=seed)
    job_params = {
        "scale_min": float(ratings["rating"].min()),
        "scale_max": float(ratings["rating"].max()),
        **(params or {}),
    }
    if job_params["scale_max"] <= job_params["scale_min"]:
        raise MovieLensError("every rating has the same value: nothing to evaluate")
    try:
        params_resolve(job_params)
    except ParamsError as error:
        raise MovieLensError(f"bad training parameter: {error}") from error
    base = Path(exchange_dir or settings.RECOMMENDER_EXCHANGE_DIR)
    base.mkdir(parents=True, exist_ok=True)
    directory = Path(tempfile.mkdtemp(prefix="evaluate-", dir=base))
    try:
        (directory / "input").mkdir()
        for name, part in (("ratings", train), ("holdout", test)):
            pq.write_table(pa.Table.from_pandas(part, preserve_index=False), directory / "input" / f"{name}.parquet")
        result = spark_job_run(
            input_dir=directory / "input",
            output_dir=directory / "output",
            params=job_params,
            log_path=directory / "spark.log",
            on_progress=on_progress,
        )
    finally:
        if not keep_files:
            shutil.rmtree(directory, ignore_errors=True)
    counts = {
        "ratings": len(ratings),
        "users": int(ratings["user"].nunique()),
        "titles": int(ratings["item"].nunique()),
        "train": len(train),
        "test": len(test),
        "test_fraction": test_fraction,
        "seed": seed,
    }
    return EvaluationReport(
        metrics=result.get("metrics") or {},
        counts=counts,
        params=result.get("params") or job_params,
        timings=result.get("timings") or {},
        seconds=time.monotonic() - started,
        model=result.get("model") or {},
        directory=directory if keep_files else None,
    )


def summary_json(report: EvaluationReport) -> str:
    return json.dumps(report.summary())
