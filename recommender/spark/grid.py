"""The grid search: every candidate fitted on part of the training ratings and scored on the rest."""

from __future__ import annotations

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
    """Every candidate fitted on part of ``train`` and scored on the rest; returns the best params."""
    held = scoring.holdout_mask(
        train.user,
        train.item,
        fraction=params["validation_fraction"],
        seed=params["seed"] + 1,
        min_ratings=params["holdout_min_user_ratings"],
    )
    fit_part, validation = train.subset(~held), train.subset(held)
    candidates = grid_candidates(params)
    records = []
    base = None
    best = dict(params)
    best_ranking: dict | None = None
    best_rating: dict | None = None
    for number, candidate in enumerate(candidates):
        kind = candidate["kind"]
        overrides = {key: value for key, value in candidate.items() if key != "kind"}
        low = span[0] + (span[1] - span[0]) * number / len(candidates)
        high = span[0] + (span[1] - span[0]) * (number + 1) / len(candidates)
        reporter.progress("grid", low, f"grid candidate {number + 1}/{len(candidates)}: {kind} {overrides}")
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
        metrics = evaluate(fitted, item_side_collect(fitted), fit_part, validation, candidate_params)
        metrics.pop("confidence_buckets", None)
        record = {
            "kind": kind,
            "params": overrides,
            "metrics": metrics,
            "seconds": round(time.monotonic() - started, 2),
        }
        records.append(record)
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
