"""The grid search: every candidate fitted on part of the training ratings and scored on the rest."""

from __future__ import annotations

import statistics
import time

from pyspark.sql import SparkSession

from recommender.spark import scoring
from recommender.spark.evaluation import evaluate
from recommender.spark.fit import item_side_collect, models_fit
from recommender.spark.inputs import Ratings
from recommender.spark.params import grid_candidates
from recommender.spark.progress import Reporter


def grid_search(
    spark: SparkSession,
    train: Ratings,
    params: dict,
    reporter: Reporter,
    blocks: int,
    span: tuple[float, float],
    work_dir: str,
) -> tuple[dict, list[dict]]:
    """Every candidate fitted on part of ``train`` and scored on the rest, once per validation seed
    (``grid_seeds``, or ``seed + 1`` alone); a candidate's metrics are their means over the seeds
    (each seed's kept in ``per_seed``). Returns the best params (NDCG@10 for the ranking model,
    RMSE for the star model) and every candidate's record."""
    seeds = params["grid_seeds"] or [params["seed"] + 1]
    candidates = grid_candidates(params)
    steps = len(candidates) * len(seeds)
    scores: list[list[dict]] = [[] for _ in candidates]
    seconds = [0.0] * len(candidates)
    for seed_number, seed in enumerate(seeds):
        held = scoring.holdout_mask(
            train.user,
            train.item,
            fraction=params["validation_fraction"],
            seed=seed,
            min_ratings=params["holdout_min_user_ratings"],
        )
        fit_part, validation = train.subset(~held), train.subset(held)
        base = None
        for number, candidate in enumerate(candidates):
            kind = candidate["kind"]
            overrides = {key: value for key, value in candidate.items() if key != "kind"}
            step = seed_number * len(candidates) + number
            low = span[0] + (span[1] - span[0]) * step / steps
            high = span[0] + (span[1] - span[0]) * (step + 1) / steps
            label = f"grid candidate {number + 1}/{len(candidates)}"
            if len(seeds) > 1:
                label += f", validation seed {seed} ({seed_number + 1}/{len(seeds)})"
            reporter.progress("grid", low, f"{label}: {kind} {overrides}")
            started = time.monotonic()
            candidate_params = {**params, **overrides}
            fitted = models_fit(
                spark,
                fit_part,
                candidate_params,
                reporter,
                blocks=blocks,
                work_dir=work_dir,
                base=base,
                label="grid_",
                span=(low, high),
                fit_ranking=kind == "ranking" or base is None,
                fit_rating=kind == "rating" or base is None,
            )
            if base is None:
                base = fitted
            metrics = evaluate(fitted, item_side_collect(fitted), fit_part, validation, candidate_params, beyond=False)
            metrics.pop("confidence_buckets", None)
            metrics.pop("confidence_rises", None)
            scores[number].append({"seed": seed, **metrics})
            seconds[number] += time.monotonic() - started
    records = []
    best = dict(params)
    best_ranking: dict | None = None
    best_rating: dict | None = None
    for number, candidate in enumerate(candidates):
        kind = candidate["kind"]
        record = {
            "kind": kind,
            "params": {key: value for key, value in candidate.items() if key != "kind"},
            "metrics": _mean(scores[number]),
            "seconds": round(seconds[number], 2),
        }
        if len(seeds) > 1:
            record["per_seed"] = scores[number]
        records.append(record)
        metrics = record["metrics"]
        if kind == "ranking" and (
            best_ranking is None or metrics["ndcg_at_10"] > best_ranking["metrics"]["ndcg_at_10"]
        ):
            best_ranking = record
        if (
            kind == "rating"
            and metrics.get("rmse") is not None
            and (best_rating is None or metrics["rmse"] < best_rating["metrics"]["rmse"])
        ):
            best_rating = record
    for chosen in (best_ranking, best_rating):
        if chosen:
            chosen["chosen"] = True
            best.update(chosen["params"])
    return best, records


def _mean(per_seed: list[dict]) -> dict:
    """Each metric's mean over the seeds (those every seed measured), with its standard deviation."""
    keys = [key for key in per_seed[0] if key != "seed" and all(row.get(key) is not None for row in per_seed)]
    mean: dict = {}
    for key in keys:
        values = [float(row[key]) for row in per_seed]
        mean[key] = sum(values) / len(values)
        if len(values) > 1 and key in ("rmse", "precision_at_10", "ndcg_at_10"):
            mean[f"{key}_std"] = statistics.stdev(values)
    return mean
