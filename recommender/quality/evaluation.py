"""Offline evaluation on MovieLens: read a release, split it, train the production pipeline on one
part and score it on the other (recommender/DESIGN.md §8). No pyspark here: the Spark job is the
same process a training run starts (``recommender.training.spark_job.spark_job_run``), and it computes the
metrics with ``recommender.spark.scoring`` exactly as it does for every run's own holdout.

Metrics, per user with held-out ratings, averaged over those users:

* precision@10 — of the 10 best-scored titles the user did not rate in training, the share the
  user rated in the held-out part (any star value: "would the user watch it");
* NDCG@10 — the same list, binary relevance, normalised by the ideal list of min(10, held-out) hits;
* RMSE and MAE of the predicted stars over every held-out rating;
* the same ranking metrics for the most-popular list (titles by number of training ratings) and
  for EASE (recommender.quality.ease), scored in numpy on the same users (quality/baselines.py);
* beyond accuracy, for all three: catalog coverage, novelty, intra-list diversity and the share of
  already-rated titles in the top 10s (quality/beyond.py).

Splits: ``random`` (each rating held out with probability ``test_fraction``, seeded) or ``time``
(each user's latest ``test_fraction``); ``SeedsReport`` gathers several runs, mean ± sd per split.
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

from recommender.quality.baselines import baselines_score
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
    as a DataFrame with columns user, item (int32), rating (float32) and timestamp (int64 seconds;
    0 where a file has none)."""
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
            if "timestamp" in columns:
                frame = frame.rename(columns={columns["timestamp"]: "timestamp"})
            else:
                frame["timestamp"] = 0
    except (pd.errors.ParserError, UnicodeDecodeError) as error:
        raise MovieLensError(f"{path}: not a MovieLens ratings file ({error})") from error
    frame = frame[["user", "item", "rating", "timestamp"]]
    if frame.empty:
        raise MovieLensError(f"{path} holds no ratings")
    try:
        frame = frame.astype({"user": "int32", "item": "int32", "rating": "float32", "timestamp": "int64"})
    except (ValueError, TypeError) as error:
        raise MovieLensError(f"{path}: user, movie and rating must be numbers ({error})") from error
    if not np.isfinite(frame["rating"]).all():
        raise MovieLensError(f"{path}: some ratings are not numbers")
    # A release has one rating per user and movie; keep the last if a file repeats one.
    return frame.drop_duplicates(["user", "item"], keep="last").reset_index(drop=True)


def movielens_content(path: str | Path) -> pa.Table | None:
    """The content side of a MovieLens release (DESIGN.md §11): each movie's genres and year from
    ``movies.csv`` (the title's "(1995)"), as the job's ``content.parquet``; None without the file.
    MovieLens has no people, runtimes or IMDb votes, so its content side is the thinner one."""
    path = Path(path)
    movies = (path if path.is_dir() else path.parent) / "movies.csv"
    if not movies.is_file():
        return None
    frame = pd.read_csv(movies)
    years = frame["title"].str.extract(r"\((\d{4})\)\s*$")[0].astype("float32")
    genres = [
        [name for name in str(text).split("|") if name and name != "(no genres listed)"] for text in frame["genres"]
    ]
    return pa.table(
        {
            "item": pa.array(frame["movieId"].astype("int32")),
            "kind": pa.array(["movie"] * len(frame)),
            "year": pa.array(years, pa.float32()),
            "genres": pa.array(genres, pa.list_(pa.string())),
        }
    )


SPLITS = ("random", "time")


def ratings_split(
    frame: pd.DataFrame, *, test_fraction: float, seed: int, split: str = "random"
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """``random``: each rating goes to the test part with probability ``test_fraction`` (numpy,
    seeded). ``time``: each user's latest ``test_fraction`` of ratings (floor of the share, ties by
    movie id) are held out, what a live site faces; the seed plays no part."""
    if not 0 < test_fraction < 1:
        raise MovieLensError("--test-fraction must be between 0 and 1")
    if split == "random":
        held = np.random.default_rng(seed).random(len(frame)) < test_fraction
    elif split == "time":
        if "timestamp" not in frame or not frame["timestamp"].any():
            raise MovieLensError("--split time needs the ratings' timestamps, and this release has none")
        order = np.lexsort((frame["item"].to_numpy(), frame["timestamp"].to_numpy(), frame["user"].to_numpy()))
        users = frame["user"].to_numpy()[order]
        _, first, counts = np.unique(users, return_index=True, return_counts=True)
        position = np.arange(len(order)) - np.repeat(first, counts)
        size = np.repeat(counts, counts)
        held = np.zeros(len(frame), dtype=bool)
        held[order] = position >= size - np.floor(size * test_fraction).astype(np.int64)
    else:
        raise MovieLensError(f"--split must be one of {', '.join(SPLITS)}, not {split!r}")
    return frame[~held].reset_index(drop=True), frame[held].reset_index(drop=True)


BEYOND_LABELS = (
    ("catalog_coverage", "catalog coverage"),
    ("novelty_bits", "novelty (bits)"),
    ("intra_list_diversity", "diversity (co-rating)"),
    ("already_rated_share", "already rated"),
)
# The columns of a run's table and of the per-seed rows: (model key, EASE key, most-popular key).
COLUMNS = (
    ("precision@10", "precision_at_10", "ease_precision_at_10", "popularity_precision_at_10"),
    ("NDCG@10", "ndcg_at_10", "ease_ndcg_at_10", "popularity_ndcg_at_10"),
    ("RMSE (stars)", "rmse", None, None),
    ("MAE (stars)", "mae", None, None),
) + tuple((label, key, f"ease_{key}", f"popularity_{key}") for key, label in BEYOND_LABELS)
SUMMARY_KEYS = tuple(dict.fromkeys(key for _, *keys in COLUMNS for key in keys if key)) + (
    "few_ratings_share",
    "few_ratings_titles",
    "few_ratings_users",
)


@dataclass
class EvaluationReport:
    metrics: dict
    counts: dict
    params: dict
    timings: dict
    seconds: float
    model: dict = field(default_factory=dict)  # the run's model constants (popularity weight, ...)
    directory: Path | None = None  # the exchanged files, when kept (``keep_files``)
    baselines: dict = field(default_factory=dict)  # EASE and most popular (quality/baselines.py)

    def value(self, key: str):
        return self.baselines[key] if key in self.baselines else self.metrics.get(key)

    def summary(self) -> dict:
        """METRIC_KEYS (kept as they were), then EASE's and the beyond-accuracy figures."""
        return {key: self.value(key) for key in dict.fromkeys(METRIC_KEYS + SUMMARY_KEYS)}

    def table(self) -> str:
        metrics = self.metrics
        width = max(len(label) for label, *_ in COLUMNS) + 2
        split = self.counts.get("split", "random")
        how = (
            f"random, test fraction {self.counts['test_fraction']:g}, seed {self.counts['seed']}"
            if split == "random"
            else f"time: each user's latest {self.counts['test_fraction']:g} held out"
        )
        lines = [
            f"MovieLens: {self.counts['ratings']:,} ratings of {self.counts['users']:,} users on "
            f"{self.counts['titles']:,} movies; scale {self.params['scale_min']:g}–{self.params['scale_max']:g}",
            f"split: {self.counts['train']:,} training / {self.counts['test']:,} test ratings "
            f"({how}); {metrics.get('eval_users', 0):,} test users",
            "",
            f"{'':<{width}}{'model':>10}  {'EASE':>10}  {'most popular':>13}",
        ]
        for label, model, ease, popular in COLUMNS:
            lines.append(
                f"{label:<{width}}{_number(self.value(model)):>10}  "
                f"{_number(self.value(ease)) if ease else '—':>10}  "
                f"{_number(self.value(popular)) if popular else '—':>13}"
            )
        if "ease_lambda" in self.baselines:
            lines.append(
                f"EASE: λ = {self.baselines['ease_lambda']:g} (best NDCG@10 on a validation part of the training "
                f"ratings), {self.baselines['ease_titles']:,} titles; diversity: mean pairwise cosine distance "
                "of the titles' rating vectors"
            )
        if "few_ratings_share" in metrics:
            lines.append(
                f"titles with fewer than 5 training ratings: {metrics['few_ratings_share']:.2%} of the model's "
                f"top-10 slots, {metrics['few_ratings_titles']:,} distinct titles"
                + (
                    f", in the top 10 of {metrics['few_ratings_users']:.1%} of the test users"
                    if "few_ratings_users" in metrics
                    else ""
                )
                + " (DESIGN.md §11)"
            )
        buckets = metrics.get("confidence_buckets") or []
        if buckets:
            lines += ["", "confidence   recommendations   hit rate   held-out ratings   MAE"]
            for bucket in buckets:
                lines.append(
                    f"{bucket['confidence']:<12} {bucket['recommendations']:>15,}   "
                    f"{_number(bucket['hit_rate']):>8}   {bucket['pairs']:>16,}   {_number(bucket['mae'])}"
                )
            rises = metrics.get("confidence_rises")
            lines.append(
                "hit rate rises low → medium → high (buckets holding recommendations): "
                + ("yes" if rises is True else "NO" if rises is False else "too few buckets to tell")
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
            + (
                f", baselines {self.baselines['baseline_seconds']:.1f} s"
                if "baseline_seconds" in self.baselines
                else ""
            )
            + f"; {self.seconds:.1f} s in all",
        ]
        return "\n".join(lines)


def _number(value) -> str:
    return "—" if value is None else f"{value:.4f}"


def movielens_evaluate(
    *,
    path: str | Path | None = None,
    ratings: pd.DataFrame | None = None,
    test_fraction: float = 0.2,
    seed: int = 42,
    split: str = "random",
    params: dict | None = None,
    exchange_dir: str | Path | None = None,
    on_progress: Callable[[str, float, str], None] | None = None,
    keep_files: bool = False,
    baselines: bool = True,
) -> EvaluationReport:
    """Train the production Spark job on the training part of a MovieLens release (``path``, or
    its ``ratings`` read already), score the test part, and EASE and most popular beside it."""
    from django.conf import settings

    from recommender.training.spark_job import spark_job_run

    started = time.monotonic()
    if ratings is None:
        assert path is not None, "a release path or its ratings"
        ratings = movielens_read(path)
    train, test = ratings_split(ratings, test_fraction=test_fraction, seed=seed, split=split)
    job_params = {
        "scale_min": float(ratings["rating"].min()),
        "scale_max": float(ratings["rating"].max()),
        **(params or {}),
    }
    if job_params["scale_max"] <= job_params["scale_min"]:
        raise MovieLensError("every rating has the same value: nothing to evaluate")
    try:
        resolved = params_resolve(job_params)
    except ParamsError as error:
        raise MovieLensError(f"bad training parameter: {error}") from error
    base = Path(exchange_dir or settings.RECOMMENDER_EXCHANGE_DIR)
    base.mkdir(parents=True, exist_ok=True)
    directory = Path(tempfile.mkdtemp(prefix="evaluate-", dir=base))
    columns = ["user", "item", "rating"]
    try:
        (directory / "input").mkdir()
        for name, part in (("ratings", train), ("holdout", test)):
            pq.write_table(
                pa.Table.from_pandas(part[columns], preserve_index=False), directory / "input" / f"{name}.parquet"
            )
        content = movielens_content(path) if path is not None else None
        if content is not None:
            pq.write_table(content, directory / "input" / "content.parquet")
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
    scored_baselines = (
        baselines_score(train, test, eval_max_users=resolved["eval_max_users"], seed=resolved["seed"])
        if baselines
        else {}
    )
    counts = {
        "ratings": len(ratings),
        "users": int(ratings["user"].nunique()),
        "titles": int(ratings["item"].nunique()),
        "train": len(train),
        "test": len(test),
        "test_fraction": test_fraction,
        "seed": seed,
        "split": split,
    }
    return EvaluationReport(
        metrics=result.get("metrics") or {},
        counts=counts,
        params=result.get("params") or job_params,
        timings=result.get("timings") or {},
        seconds=time.monotonic() - started,
        model=result.get("model") or {},
        directory=directory if keep_files else None,
        baselines=scored_baselines,
    )


@dataclass
class SeedsReport:
    """Several evaluations: one per split and seed (the time split has no seed: it is run once)."""

    reports: list[EvaluationReport]

    def by_split(self) -> dict[str, list[EvaluationReport]]:
        grouped: dict[str, list[EvaluationReport]] = {}
        for report in self.reports:
            grouped.setdefault(report.counts.get("split", "random"), []).append(report)
        return grouped

    @staticmethod
    def spread(reports: list[EvaluationReport]) -> tuple[dict, dict]:
        """Mean and (sample) standard deviation of every summary figure over ``reports``."""
        mean, deviation = {}, {}
        for key in SUMMARY_KEYS:
            values = [report.value(key) for report in reports if report.value(key) is not None]
            mean[key] = float(np.mean(values)) if values else None
            deviation[key] = float(np.std(values, ddof=1)) if len(values) > 1 else (0.0 if values else None)
        return mean, deviation

    def summary(self) -> dict:
        """The random split's means under the single run's keys (old keys kept), ``*_std`` beside
        them, every seed's figures, and each split's means."""
        grouped = self.by_split()
        splits: dict[str, dict] = {}
        for split, reports in grouped.items():
            mean, deviation = self.spread(reports)
            splits[split] = {
                "seeds": [report.counts["seed"] for report in reports],
                "mean": mean,
                "std": deviation,
                "runs": [report.summary() for report in reports],
            }
        first = splits.get("random") or next(iter(splits.values()))
        summary = {key: first["mean"].get(key) for key in dict.fromkeys(METRIC_KEYS + SUMMARY_KEYS)}
        summary.update({f"{key}_std": first["std"].get(key) for key in SUMMARY_KEYS})
        summary["splits"] = splits
        return summary

    def table(self) -> str:
        keys = (
            ("P@10", "precision_at_10"),
            ("NDCG", "ndcg_at_10"),
            ("RMSE", "rmse"),
            ("EASE P@10", "ease_precision_at_10"),
            ("EASE NDCG", "ease_ndcg_at_10"),
            ("pop P@10", "popularity_precision_at_10"),
            ("pop NDCG", "popularity_ndcg_at_10"),
        )
        header = f"{'split':<8}{'seed':>6}" + "".join(f"{label:>12}" for label, _ in keys)
        lines = [header]
        for split, reports in self.by_split().items():
            for report in reports:
                seed = str(report.counts["seed"]) if split == "random" else "—"
                lines.append(f"{split:<8}{seed:>6}" + "".join(f"{_number(report.value(key)):>12}" for _, key in keys))
            if len(reports) > 1:
                mean, deviation = self.spread(reports)
                lines.append(f"{split:<8}{'mean':>6}" + "".join(f"{_number(mean[key]):>12}" for _, key in keys))
                lines.append(f"{'':<8}{'± sd':>6}" + "".join(f"{_number(deviation[key]):>12}" for _, key in keys))
        lines += ["", "beyond accuracy (mean over the runs above; model / EASE / most popular):"]
        for split, reports in self.by_split().items():
            mean, _ = self.spread(reports)
            for key, label in BEYOND_LABELS:
                lines.append(
                    f"  {split:<7}{label:<24}{_number(mean.get(key)):>8} {_number(mean.get('ease_' + key)):>8} "
                    f"{_number(mean.get('popularity_' + key)):>8}"
                )
        lines += ["", "titles with fewer than 5 training ratings in the model's top 10s (mean over the runs above):"]
        for split, reports in self.by_split().items():
            mean, _ = self.spread(reports)
            if mean.get("few_ratings_share") is not None:
                lines.append(
                    f"  {split:<7}{mean['few_ratings_share']:.2%} of the slots, "
                    f"{mean['few_ratings_titles']:.1f} distinct titles"
                    + (
                        f", {mean['few_ratings_users']:.1%} of the test users"
                        if mean.get("few_ratings_users") is not None
                        else ""
                    )
                )
        return "\n".join(lines)


def summary_json(report: EvaluationReport | SeedsReport) -> str:
    return json.dumps(report.summary())
