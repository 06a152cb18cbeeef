"""One training run in one Spark process: ratings Parquet in, factors, top-N and similar titles out.

    python -m recommender.spark.train_als --input DIR --output DIR [--params JSON] [--master URL]

Input ``DIR`` (written by ``recommender.services``):
  ratings.parquet     user:int, item:int, rating:float  — every rating the model learns from
  exclusions.parquet  user:int, item:int                — watchlist and "not interested" (optional)
  holdout.parquet     user:int, item:int, rating:float  — an explicit test set (optional; used by
                      ``evaluate_recommender``); without it ``holdout_fraction`` of the ratings is held out
Output ``DIR``:
  users.parquet       user, factors, rating_factors, bias, num_ratings, items, scores, predicted, confidence
  titles.parquet      item, factors, rating_factors, bias, support
  similar.parquet     item, similar (array), scores (array)
  result.json         counts, timings, metrics, candidates and the model constants (DESIGN.md)

stdout carries only ``PROGRESS {json}`` lines and a final ``RESULT {json}`` line; Spark logs go to
stderr. Exit status 0 on success, 1 on any failure (the error is the last stderr line), 2 on bad
arguments. With ``--bare-fit`` the job only times ``ALS.fit`` of both models on the input (the
benchmark's reference) and reports those timings.

The formulation (two models, fold-in, confidence) is in recommender/DESIGN.md.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import sys
import tempfile
import time
import traceback
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from pyspark.ml.recommendation import ALS, ALSModel
from pyspark.sql import DataFrame, SparkSession, Window
from pyspark.sql import functions as F

from recommender.spark import scoring
from recommender.spark.params import ParamsError, grid_candidates, params_resolve
from recommender.spark.session import spark_session_create


class Reporter:
    """Progress lines for the service that started this process (it updates the run's row)."""

    def __init__(self, stream=None):
        self.stream = stream or sys.stdout
        self.timings: dict[str, float] = {}
        self.started = time.monotonic()

    def progress(self, step: str, fraction: float, message: str = "") -> None:
        line = {"step": step, "progress": round(min(max(fraction, 0.0), 1.0), 4), "message": message or step}
        print("PROGRESS " + json.dumps(line), file=self.stream, flush=True)

    def timed(self, name: str):
        reporter = self

        class _Timer:
            def __enter__(self):
                self.start = time.monotonic()
                return self

            def __exit__(self, *exc):
                reporter.timings[name] = round(reporter.timings.get(name, 0.0) + time.monotonic() - self.start, 3)

        return _Timer()


# --- reading and splitting ------------------------------------------------------------------------


def ratings_read(spark: SparkSession, path: str) -> DataFrame:
    return spark.read.parquet(path).select(
        F.col("user").cast("int").alias("user"), F.col("item").cast("int").alias("item"),
        F.col("rating").cast("float").alias("rating"),
    )


def path_exists(spark: SparkSession, path: str) -> bool:
    if "://" not in path or path.startswith("file://"):
        return Path(path.removeprefix("file://")).exists()
    jvm = spark.sparkContext._jvm
    hadoop_path = jvm.org.apache.hadoop.fs.Path(path)
    return hadoop_path.getFileSystem(spark.sparkContext._jsc.hadoopConfiguration()).exists(hadoop_path)


def ratings_split(frame: DataFrame, *, fraction: float, seed: int, min_ratings: int) -> tuple[DataFrame, DataFrame]:
    """Deterministic random split (a hash of user, item and seed, so recomputation cannot move a
    rating between the sides). Only users with ``min_ratings`` give ratings to the test side; each
    of them, and every title, keeps at least one rating in training."""
    draw = (F.pmod(F.xxhash64("user", "item", F.lit(seed)), F.lit(1_000_003)) / F.lit(1_000_003.0)).alias("_draw")
    per_user = Window.partitionBy("user")
    per_item = Window.partitionBy("item")
    marked = (
        frame.select("*", draw)
        .withColumn("_count", F.count(F.lit(1)).over(per_user))
        .withColumn("_order", F.row_number().over(per_user.orderBy("_draw", "item")))
        # Every title keeps its last-drawn rating in training too, so the model knows every title.
        .withColumn("_item_order", F.row_number().over(per_item.orderBy(F.desc("_draw"), "user")))
        .withColumn(
            "_held",
            (F.col("_draw") < fraction) & (F.col("_count") >= min_ratings) & (F.col("_order") < F.col("_count"))
            & (F.col("_item_order") > 1),
        )
        .localCheckpoint()
    )
    columns = ["user", "item", "rating"]
    return marked.where(~F.col("_held")).select(columns), marked.where(F.col("_held")).select(columns)


# --- fitting --------------------------------------------------------------------------------------


@dataclass
class Fitted:
    """Both models of a run, plus the constants DESIGN.md names."""

    constants: dict
    user_counts: DataFrame  # user, n
    item_counts: DataFrame  # item, support
    user_bias: DataFrame  # user, user_bias
    item_bias: DataFrame  # item, item_bias
    user_scale: DataFrame  # user, scale
    ranking: ALSModel | None
    rating: ALSModel | None


def als_create(*, implicit: bool, rank: int, iterations: int, reg: float, alpha: float, params: dict, blocks: int,
               rating_column: str) -> ALS:
    return ALS(
        rank=rank, maxIter=iterations, regParam=reg, implicitPrefs=implicit, alpha=alpha, seed=params["seed"],
        userCol="user", itemCol="item", ratingCol=rating_column, nonnegative=False,
        numUserBlocks=blocks, numItemBlocks=blocks, checkpointInterval=params["checkpoint_interval"],
        intermediateStorageLevel="MEMORY_AND_DISK", finalStorageLevel="MEMORY_AND_DISK",
    )


def biases_fit(train: DataFrame, mean: float, params: dict) -> tuple[DataFrame, DataFrame]:
    """b_i and b_u by regularised alternating least squares (DESIGN.md §2)."""
    user_bias = train.select("user").distinct().withColumn("user_bias", F.lit(0.0))
    item_bias = train.select("item").distinct().withColumn("item_bias", F.lit(0.0))
    for _ in range(params["bias_sweeps"]):
        item_bias = (
            train.join(F.broadcast(user_bias), "user")
            .groupBy("item")
            .agg(F.sum(F.col("rating") - mean - F.col("user_bias")).alias("_sum"), F.count(F.lit(1)).alias("_n"))
            .select("item", (F.col("_sum") / (F.col("_n") + params["bias_reg_title"])).alias("item_bias"))
            .localCheckpoint()
        )
        user_bias = (
            train.join(F.broadcast(item_bias), "item")
            .groupBy("user")
            .agg(F.sum(F.col("rating") - mean - F.col("item_bias")).alias("_sum"), F.count(F.lit(1)).alias("_n"))
            .select("user", (F.col("_sum") / (F.col("_n") + params["bias_reg_user"])).alias("user_bias"))
            .localCheckpoint()
        )
    return user_bias, item_bias


def models_fit(train: DataFrame, params: dict, reporter: Reporter, *, blocks: int, fit_ranking: bool = True,
               fit_rating: bool = True, base: Fitted | None = None, label: str = "",
               span: tuple[float, float] = (0.0, 1.0)) -> Fitted:
    """Fit the star model and/or the ranking model on ``train`` (reusing ``base``'s when not refitted).

    Progress is reported inside ``span`` of the whole job."""

    def at(fraction: float) -> float:
        return span[0] + (span[1] - span[0]) * fraction

    train = train.persist()
    spark = train.sparkSession
    with reporter.timed(f"{label}counts"):
        # Per-user and per-title counts are small: two aggregations, then numpy on the driver.
        users = train.groupBy("user").agg(F.count(F.lit(1)).alias("n"), F.sum("rating").alias("total")).toPandas()
        items = train.groupBy("item").agg(F.count(F.lit(1)).alias("support")).toPandas()
        num_ratings = int(users["n"].sum())
        mean = float(users["total"].sum() / max(num_ratings, 1))
        reference = float(np.median(users["n"])) if len(users) else 1.0
        user_counts = spark.createDataFrame(users[["user", "n"]].astype({"user": "int32", "n": "int64"}),
                                            "user int, n long")
        item_counts = spark.createDataFrame(items.astype({"item": "int32", "support": "int64"}), "item int, support long")
    constants = {
        "global_mean": mean, "activity_reference": reference, "num_ratings": num_ratings,
        **{key: params[key] for key in (
            "scale_min", "scale_max", "rank", "reg", "alpha", "star_weight", "activity_exponent", "popularity_weight",
            "rating_rank", "rating_reg", "bias_reg_user", "bias_reg_title", "rating_scale_prior",
            "confidence_user_prior", "confidence_title_prior")},
    }
    fitted = Fitted(constants, user_counts, item_counts, None, None, None, None, None)

    if fit_rating or base is None:
        reporter.progress(f"{label}star model", at(0.0), "fitting user and title biases")
        with reporter.timed(f"{label}fit_biases"):
            user_bias, item_bias = biases_fit(train, mean, params)
            residual = (
                train.join(F.broadcast(user_bias), "user").join(F.broadcast(item_bias), "item")
                .select("user", "item", (F.col("rating") - mean - F.col("user_bias") - F.col("item_bias")).alias("e"))
                .persist()
            )
            spread = float(residual.agg(F.avg(F.col("e") * F.col("e"))).first()[0] or 0.0)
            prior = params["rating_scale_prior"]
            # Users who use a wide range of stars get their residuals scaled down while the titles'
            # vectors are learned, so a few erratic raters do not dominate them (DESIGN.md §2).
            user_scale = (
                residual.groupBy("user")
                .agg(F.sum(F.col("e") * F.col("e")).alias("_sq"), F.count(F.lit(1)).alias("_n"))
                .select("user", F.sqrt((F.col("_sq") + prior * spread) / (F.col("_n") + prior + 1e-12)).alias("scale"))
                .select("user", F.when(F.col("scale") > 1e-6, F.col("scale")).otherwise(F.lit(1.0)).alias("scale"))
                .localCheckpoint()
            )
            target = residual.join(F.broadcast(user_scale), "user").select(
                "user", "item", (F.col("e") / F.col("scale")).cast("float").alias("target"))
        reporter.progress(f"{label}star model", at(0.15), "fitting the star model (explicit ALS)")
        with reporter.timed(f"{label}fit_rating"):
            rating = als_create(implicit=False, rank=params["rating_rank"], iterations=params["rating_iterations"],
                                reg=params["rating_reg"], alpha=1.0, params=params, blocks=blocks,
                                rating_column="target").fit(target)
            rating.userFactors.count()
        residual.unpersist()
        fitted.user_bias, fitted.item_bias, fitted.user_scale, fitted.rating = user_bias, item_bias, user_scale, rating
    else:
        fitted.user_bias, fitted.item_bias, fitted.user_scale, fitted.rating = (
            base.user_bias, base.item_bias, base.user_scale, base.rating)
        for key in ("global_mean", "rating_rank", "rating_reg", "bias_reg_user", "bias_reg_title", "rating_scale_prior"):
            constants[key] = base.constants[key]

    if fit_ranking or base is None:
        reporter.progress(f"{label}ranking model", at(0.55), "fitting the ranking model (implicit ALS)")
        span = params["scale_max"] - params["scale_min"]
        strength = (
            (1.0 + params["star_weight"] * (F.col("rating") - params["scale_min"]) / span)
            * F.pow(F.lit(reference) / F.col("n"), F.lit(params["activity_exponent"]))
        ).cast("float")
        observations = train.join(F.broadcast(user_counts), "user").select("user", "item", strength.alias("strength"))
        with reporter.timed(f"{label}fit_ranking"):
            ranking = als_create(implicit=True, rank=params["rank"], iterations=params["iterations"], reg=params["reg"],
                                 alpha=params["alpha"], params=params, blocks=blocks,
                                 rating_column="strength").fit(observations)
            ranking.userFactors.count()
        fitted.ranking = ranking
    else:
        fitted.ranking = base.ranking
        for key in ("rank", "reg", "alpha", "star_weight", "activity_exponent", "popularity_weight"):
            constants[key] = base.constants[key]
    train.unpersist()
    return fitted


def item_side_collect(fitted: Fitted) -> tuple[scoring.ItemSide, pd.DataFrame]:
    """Every title of the run as numpy arrays on the driver (broadcast to the passes)."""
    titles = (
        fitted.item_counts
        .join(fitted.ranking.itemFactors.select(F.col("id").alias("item"), F.col("features").alias("factors")), "item")
        .join(fitted.rating.itemFactors.select(F.col("id").alias("item"), F.col("features").alias("rating_factors")),
              "item", "left")
        .join(fitted.item_bias.select("item", F.col("item_bias").alias("bias")), "item", "left")
        .toPandas()
    )
    rating_rank = fitted.rating.rank
    titles["rating_factors"] = [
        np.asarray(v, dtype=np.float32) if v is not None else np.zeros(rating_rank, dtype=np.float32)
        for v in titles["rating_factors"]
    ]
    titles["bias"] = titles["bias"].fillna(0.0).astype(np.float32)
    rank = fitted.ranking.rank
    side = scoring.ItemSide.build(
        ids=titles["item"].to_numpy(),
        factors=np.stack(titles["factors"].to_numpy()) if len(titles) else np.zeros((0, rank), np.float32),
        rating_factors=np.stack(titles["rating_factors"].to_numpy()) if len(titles) else np.zeros((0, rating_rank), np.float32),
        bias=titles["bias"].to_numpy(),
        support=titles["support"].to_numpy(),
    )
    return side, titles


# --- the passes over users (numpy on the executors) -----------------------------------------------

EVAL_SCHEMA = (
    "user int, precision double, ndcg double, pop_precision double, pop_ndcg double, sq_error double, "
    "abs_error double, pairs int, pair_confidence array<float>, pair_abs_error array<float>, "
    "top_confidence array<float>, top_hit array<float>"
)


def evaluation_pass(batches, *, side_value, model: dict, k: int = 10):
    side = scoring.ItemSide(**side_value)
    popular = np.argsort(-side.support, kind="stable")
    for frame in batches:
        out = []
        for start in range(0, len(frame), scoring.USER_CHUNK):
            chunk = frame.iloc[start:start + scoring.USER_CHUNK]
            rank = side.factors.shape[1]
            vectors = np.stack([np.asarray(v, np.float32) if v is not None else np.zeros(rank, np.float32)
                                for v in chunk["factors"]])
            train_rows = [side.positions(items) for items in chunk["train_items"]]
            tops = scoring.top_rows(scoring.scores_for(vectors, side, model), train_rows, k)
            for index, row in enumerate(chunk.itertuples(index=False)):
                test_items = np.asarray(row.test_items, dtype=np.int64)
                relevant = set(test_items.tolist())
                top = tops[index]
                precision, ndcg = scoring.ranking_metrics(side.ids[top], relevant, k)
                seen = set(train_rows[index].tolist())
                pop_top = [p for p in popular[: k + len(seen)] if p not in seen][:k]
                pop_precision, pop_ndcg = scoring.ranking_metrics(side.ids[np.asarray(pop_top, dtype=np.int64)], relevant, k)
                count = float(row.train_count or 0)
                rating_vector = (np.asarray(row.rating_factors, np.float32) if row.rating_factors is not None
                                 else np.zeros(side.rating_factors.shape[1], np.float32))
                user_bias = float(row.user_bias or 0.0)
                test_rows = side.positions(test_items)
                predicted = scoring.stars_predict(rating_vector, user_bias, test_rows, side, model)
                errors = predicted - np.asarray(row.test_ratings, dtype=np.float64)
                known = test_rows >= 0
                safe = np.where(known, test_rows, 0)
                pair_preference = np.where(known, side.factors[safe] @ vectors[index], 0.0)
                pair_confidence = scoring.confidence(pair_preference, count, np.where(known, side.support[safe], 0), model)
                top_preference = side.factors[top] @ vectors[index]
                top_confidence = scoring.confidence(top_preference, count, side.support[top], model)
                out.append((
                    row.user, precision, ndcg, pop_precision, pop_ndcg, float((errors ** 2).sum()),
                    float(np.abs(errors).sum()), len(errors), pair_confidence.astype(np.float32),
                    np.abs(errors).astype(np.float32), top_confidence.astype(np.float32),
                    np.array([1.0 if item in relevant else 0.0 for item in side.ids[top]], dtype=np.float32),
                ))
        yield pd.DataFrame(out, columns=[c.split()[0] for c in EVAL_SCHEMA.split(", ")])


SERVE_SCHEMA = (
    "user int, factors array<float>, rating_factors array<float>, bias double, num_ratings int, "
    "items array<int>, scores array<float>, predicted array<float>, confidence array<float>"
)


def serving_pass(batches, *, side_value, model: dict, top_n: int):
    """Fold every user in with all their ratings, then score, exclude and keep the top N."""
    side = scoring.ItemSide(**side_value)
    for frame in batches:
        out = []
        for start in range(0, len(frame), scoring.USER_CHUNK):
            chunk = frame.iloc[start:start + scoring.USER_CHUNK]
            vectors, rating_vectors, biases, counts, excluded = [], [], [], [], []
            for row in chunk.itertuples(index=False):
                rated_rows = side.positions(row.items)
                known = rated_rows >= 0
                ratings = np.asarray(row.ratings, dtype=np.float64)[known]
                vectors.append(scoring.ranking_fold_in(rated_rows[known], ratings, side, model))
                rating_vector, user_bias = scoring.rating_fold_in(rated_rows[known], ratings, side, model)
                rating_vectors.append(rating_vector)
                biases.append(user_bias)
                counts.append(int(known.sum()))
                extra = side.positions(row.excluded) if row.excluded is not None else np.empty(0, np.int64)
                excluded.append(np.concatenate([rated_rows, extra]))
            vectors = np.stack(vectors)
            tops = scoring.top_rows(scoring.scores_for(vectors, side, model), excluded, top_n)
            for index, row in enumerate(chunk.itertuples(index=False)):
                top = tops[index]
                preference = side.factors[top] @ vectors[index]
                score = preference + np.float32(model["popularity_weight"]) * side.popularity[top]
                out.append((
                    row.user, vectors[index], rating_vectors[index], float(biases[index]), counts[index],
                    side.ids[top].astype(np.int32), score.astype(np.float32),
                    scoring.stars_predict(rating_vectors[index], biases[index], top, side, model).astype(np.float32),
                    scoring.confidence(preference, counts[index], side.support[top], model).astype(np.float32),
                ))
        yield pd.DataFrame(out, columns=[c.split()[0] for c in SERVE_SCHEMA.split(", ")])


SIMILAR_SCHEMA = "item int, similar array<int>, scores array<float>"


def similar_pass(batches, *, side_value, count: int, min_support: int):
    side = scoring.ItemSide(**side_value)
    norms = np.linalg.norm(side.factors, axis=1, keepdims=True)
    unit = side.factors / np.maximum(norms, 1e-12)
    candidates = np.flatnonzero(side.support >= min_support)
    candidate_unit = unit[candidates]
    for frame in batches:
        out = []
        rows = side.positions(frame["item"].to_numpy())
        for start in range(0, len(rows), 512):
            block = rows[start:start + 512]
            similarity = unit[block] @ candidate_unit.T
            self_hits = [np.flatnonzero(candidates == row) for row in block]
            tops = scoring.top_rows(similarity, self_hits, count)
            for index, row in enumerate(block):
                top = tops[index]
                out.append((int(side.ids[row]), side.ids[candidates[top]].astype(np.int32),
                            similarity[index, top].astype(np.float32)))
        yield pd.DataFrame(out, columns=["item", "similar", "scores"])


def side_value(side: scoring.ItemSide) -> dict:
    return {field: getattr(side, field) for field in scoring.ItemSide.__dataclass_fields__}


# --- evaluation -----------------------------------------------------------------------------------


def evaluate(spark: SparkSession, fitted: Fitted, side: scoring.ItemSide, train: DataFrame, test: DataFrame,
             params: dict) -> dict:
    """Holdout metrics of DESIGN.md §8 with the models fitted on ``train``."""
    test_users = test.groupBy("user").agg(
        F.sort_array(F.collect_list(F.struct("item", "rating"))).alias("_pairs"))
    if params["eval_max_users"]:
        test_users = test_users.orderBy(F.xxhash64("user", F.lit(params["seed"]))).limit(params["eval_max_users"])
    train_items = train.groupBy("user").agg(F.collect_list("item").alias("train_items"),
                                            F.count(F.lit(1)).alias("train_count"))
    users = (
        test_users.select("user", F.col("_pairs.item").alias("test_items"), F.col("_pairs.rating").alias("test_ratings"))
        .join(train_items, "user", "left")
        .join(fitted.ranking.userFactors.select(F.col("id").alias("user"), F.col("features").alias("factors")),
              "user", "left")
        .join(fitted.rating.userFactors.select(F.col("id").alias("user"), F.col("features").alias("_rf")),
              "user", "left")
        .join(fitted.user_scale, "user", "left")
        .join(fitted.user_bias, "user", "left")
        .select("user", "test_items", "test_ratings",
                F.coalesce(F.col("train_items"), F.array().cast("array<int>")).alias("train_items"),
                "train_count", "factors", "user_bias",
                F.when(F.col("_rf").isNotNull(), F.transform("_rf", lambda x: x * F.col("scale")))
                .alias("rating_factors"))
    )
    broadcast = spark.sparkContext.broadcast(side_value(side))
    model = fitted.constants

    def run(batches):
        return evaluation_pass(batches, side_value=broadcast.value, model=model)

    rows = users.mapInPandas(run, EVAL_SCHEMA).toPandas()
    if rows.empty:
        return {"eval_users": 0}
    pairs = int(rows["pairs"].sum())
    metrics = {
        "rmse": math.sqrt(rows["sq_error"].sum() / pairs) if pairs else None,
        "mae": rows["abs_error"].sum() / pairs if pairs else None,
        "precision_at_10": float(rows["precision"].mean()),
        "ndcg_at_10": float(rows["ndcg"].mean()),
        "popularity_precision_at_10": float(rows["pop_precision"].mean()),
        "popularity_ndcg_at_10": float(rows["pop_ndcg"].mean()),
        "eval_users": len(rows),
        "eval_pairs": pairs,
    }
    metrics["confidence_buckets"] = confidence_buckets(rows)
    return metrics


def confidence_buckets(rows: pd.DataFrame) -> list[dict]:
    """Does confidence mean something? Hit rate of the top 10 and star error, per confidence tercile."""
    top_confidence = np.concatenate([np.asarray(v) for v in rows["top_confidence"]]) if len(rows) else np.empty(0)
    top_hit = np.concatenate([np.asarray(v) for v in rows["top_hit"]]) if len(rows) else np.empty(0)
    pair_confidence = np.concatenate([np.asarray(v) for v in rows["pair_confidence"]])
    pair_error = np.concatenate([np.asarray(v) for v in rows["pair_abs_error"]])
    buckets = []
    edges = [0.0, 1 / 3, 2 / 3, 1.0000001]
    for low, high, name in zip(edges, edges[1:], ("low", "medium", "high"), strict=False):
        top_mask = (top_confidence >= low) & (top_confidence < high)
        pair_mask = (pair_confidence >= low) & (pair_confidence < high)
        buckets.append({
            "confidence": name, "range": [round(low, 3), round(min(high, 1.0), 3)],
            "recommendations": int(top_mask.sum()),
            "hit_rate": float(top_hit[top_mask].mean()) if top_mask.any() else None,
            "pairs": int(pair_mask.sum()),
            "mae": float(pair_error[pair_mask].mean()) if pair_mask.any() else None,
        })
    return buckets


# --- the run --------------------------------------------------------------------------------------


def grid_search(train: DataFrame, params: dict, reporter: Reporter, blocks: int,
                span: tuple[float, float]) -> tuple[dict, list[dict]]:
    """Every candidate fitted on part of ``train`` and scored on the rest; returns the best params."""
    spark = train.sparkSession
    fit_part, validation = ratings_split(train, fraction=params["validation_fraction"], seed=params["seed"] + 1,
                                         min_ratings=params["holdout_min_user_ratings"])
    fit_part, validation = fit_part.persist(), validation.persist()
    candidates = grid_candidates(params)
    records = []
    base = None
    best = dict(params)
    best_ranking = best_rating = None
    for number, candidate in enumerate(candidates):
        kind = candidate["kind"]
        overrides = {key: value for key, value in candidate.items() if key != "kind"}
        low, high = span[0] + (span[1] - span[0]) * number / len(candidates), span[0] + (span[1] - span[0]) * (number + 1) / len(candidates)
        reporter.progress("grid", low, f"grid candidate {number + 1}/{len(candidates)}: {kind} {overrides}")
        started = time.monotonic()
        candidate_params = {**params, **overrides}
        fitted = models_fit(fit_part, candidate_params, reporter, blocks=blocks, base=base,
                            fit_ranking=kind == "ranking" or base is None,
                            fit_rating=kind == "rating" or base is None, label="grid_", span=(low, high))
        if base is None:
            base = fitted
        side, _ = item_side_collect(fitted)
        metrics = evaluate(spark, fitted, side, fit_part, validation, candidate_params)
        metrics.pop("confidence_buckets", None)
        record = {"kind": kind, "params": overrides, "metrics": metrics,
                  "seconds": round(time.monotonic() - started, 2)}
        records.append(record)
        if kind == "ranking" and (best_ranking is None or metrics["ndcg_at_10"] > best_ranking["metrics"]["ndcg_at_10"]):
            best_ranking = record
        if kind == "rating" and metrics.get("rmse") is not None and (
                best_rating is None or metrics["rmse"] < best_rating["metrics"]["rmse"]):
            best_rating = record
    for record in (best_ranking, best_rating):
        if record:
            record["chosen"] = True
            best.update(record["params"])
    fit_part.unpersist()
    validation.unpersist()
    return best, records


def code_ship(spark: SparkSession) -> None:
    """Executors on other machines need this package: ship it as a zip (local masters share it)."""
    if spark.sparkContext.master.startswith("local"):
        return
    package = Path(__file__).resolve().parent
    archive = Path(tempfile.gettempdir()) / f"imdbrec-spark-{os.getpid()}.zip"
    with zipfile.ZipFile(archive, "w") as bundle:
        bundle.writestr("recommender/__init__.py", "")
        for source in package.glob("*.py"):
            bundle.write(source, f"recommender/spark/{source.name}")
    spark.sparkContext.addPyFile(str(archive))


def als_blocks(spark: SparkSession) -> int:
    """ALS blocks: one per core (more blocks on two cores only add shuffle overhead)."""
    return max(1, min(int(spark.conf.get("spark.sql.shuffle.partitions")), spark.sparkContext.defaultParallelism))


def run(spark: SparkSession, *, input_dir: str, output_dir: str, params: dict, reporter: Reporter) -> dict:
    blocks = als_blocks(spark)
    code_ship(spark)
    reporter.progress("load", 0.0, "reading ratings")
    with reporter.timed("load"):
        ratings = ratings_read(spark, f"{input_dir}/ratings.parquet").persist()
        total = ratings.count()
    if not total:
        raise ValueError("there are no ratings to learn from")
    exclusions_path = f"{input_dir}/exclusions.parquet"
    exclusions = (spark.read.parquet(exclusions_path).select(F.col("user").cast("int"), F.col("item").cast("int"))
                  if path_exists(spark, exclusions_path) else None)
    holdout_path = f"{input_dir}/holdout.parquet"
    if path_exists(spark, holdout_path):
        train, test = ratings, ratings_read(spark, holdout_path)
        everything = ratings
    elif params["holdout_fraction"] > 0:
        train, test = ratings_split(ratings, fraction=params["holdout_fraction"], seed=params["seed"],
                                    min_ratings=params["holdout_min_user_ratings"])
        everything = ratings
    else:
        train, test, everything = ratings, None, ratings
    train = train.persist()

    candidates: list[dict] = []
    if params["grid"]:
        with reporter.timed("grid"):
            params, candidates = grid_search(train, params, reporter, blocks, span=(0.02, 0.5))

    fitted = models_fit(train, params, reporter, blocks=blocks, span=(0.5 if params["grid"] else 0.02, 0.75))
    side, titles = item_side_collect(fitted)

    metrics: dict = {}
    if test is not None:
        reporter.progress("evaluation", 0.76, "scoring the holdout")
        with reporter.timed("evaluate"):
            metrics = evaluate(spark, fitted, side, train, test.persist(), params)

    reporter.progress("top-n", 0.82, "recommending for every user")
    with reporter.timed("recommend"):
        users = everything.groupBy("user").agg(F.sort_array(F.collect_list(F.struct("item", "rating"))).alias("_pairs"))
        users = users.select("user", F.col("_pairs.item").alias("items"), F.col("_pairs.rating").alias("ratings"))
        if exclusions is not None:
            users = users.join(exclusions.groupBy("user").agg(F.collect_set("item").alias("excluded")), "user", "left")
        else:
            users = users.withColumn("excluded", F.lit(None).cast("array<int>"))
        broadcast = spark.sparkContext.broadcast(side_value(side))
        model = fitted.constants
        top_n = params["top_n"]

        def serve(batches):
            return serving_pass(batches, side_value=broadcast.value, model=model, top_n=top_n)

        users.mapInPandas(serve, SERVE_SCHEMA).write.mode("overwrite").parquet(f"{output_dir}/users.parquet")

    reporter.progress("similar", 0.93, "similar titles")
    with reporter.timed("similar"):
        count, min_support = params["similar_n"], params["similar_min_support"]

        def similar(batches):
            return similar_pass(batches, side_value=broadcast.value, count=count, min_support=min_support)

        item_frame = spark.createDataFrame(pd.DataFrame({"item": side.ids.astype(np.int32)}), "item int")
        item_frame.repartition(blocks).mapInPandas(similar, SIMILAR_SCHEMA).write.mode("overwrite").parquet(
            f"{output_dir}/similar.parquet")
        spark.createDataFrame(
            pd.DataFrame({
                "item": side.ids.astype(np.int32), "factors": list(side.factors),
                "rating_factors": list(side.rating_factors), "bias": side.bias.astype(np.float64),
                "support": side.support.astype(np.int32),
            }),
            "item int, factors array<float>, rating_factors array<float>, bias double, support int",
        ).write.mode("overwrite").parquet(f"{output_dir}/titles.parquet")

    model_constants = dict(fitted.constants)
    model_constants["max_support"] = int(side.support.max()) if len(side.support) else 0
    return {
        "counts": {"ratings": int(total), "train_ratings": model_constants["num_ratings"],
                   "model_titles": len(side.ids)},
        "metrics": metrics,
        "candidates": candidates,
        "params": {key: value for key, value in params.items()},
        "model": model_constants,
        "timings": reporter.timings,
        "spark": {"master": spark.sparkContext.master, "version": spark.version, "blocks": blocks},
    }


def bare_fit(spark: SparkSession, *, input_dir: str, params: dict, reporter: Reporter) -> dict:
    """The reference of the benchmark: ``ALS.fit`` of both models alone, on already-prepared input."""
    blocks = als_blocks(spark)
    ratings = ratings_read(spark, f"{input_dir}/ratings.parquet").persist()
    ratings.count()
    for name, implicit, rank, iterations, reg in (
        ("bare_fit_ranking", True, params["rank"], params["iterations"], params["reg"]),
        ("bare_fit_rating", False, params["rating_rank"], params["rating_iterations"], params["rating_reg"]),
    ):
        with reporter.timed(name):
            model = als_create(implicit=implicit, rank=rank, iterations=iterations, reg=reg, alpha=params["alpha"],
                               params=params, blocks=blocks, rating_column="rating").fit(ratings)
            model.userFactors.count()
    return {"timings": reporter.timings}


def error_summary(error: Exception) -> str:
    """One line for the run's error text: a Python worker's own exception rather than Spark's wrapping."""
    java = getattr(error, "java_exception", None)
    if java is not None:  # Py4JJavaError: the JVM's own exception says what went wrong
        try:
            return f"{type(error).__name__}: {java.toString()}"[:2000]
        except Exception:  # noqa: S110 - the JVM is gone; fall back to the Python text
            pass
    text = str(error)
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    python_errors = [line for line in lines if line.split(":")[0].endswith(("Error", "Exception", "Interrupt"))]
    summary = python_errors[-1] if python_errors and "Traceback" in text else (lines[0] if lines else "")
    return f"{type(error).__name__}: {summary}"[:2000]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m recommender.spark.train_als", description=__doc__.split("\n")[0])
    parser.add_argument("--input", required=True)
    parser.add_argument("--output", default="")
    parser.add_argument("--params", default="{}", help="JSON object of parameters (see params.py)")
    parser.add_argument("--master", default=None, help="Spark master (default: $SPARK_MASTER or local[*])")
    parser.add_argument("--bare-fit", action="store_true")
    args = parser.parse_args(argv)
    try:
        params = params_resolve(json.loads(args.params))
    except (ValueError, ParamsError) as error:
        print(f"bad --params: {error}", file=sys.stderr)
        return 2
    if not args.bare_fit and not args.output:
        print("--output is required", file=sys.stderr)
        return 2
    reporter = Reporter()
    started = time.monotonic()
    spark = None
    checkpoint_dir = None
    try:
        with reporter.timed("spark_start"):
            if args.output:
                checkpoint_dir = f"{args.output.rstrip('/')}/checkpoints"
            spark = spark_session_create(master=args.master, app_name="imdbrec-train-als", checkpoint_dir=checkpoint_dir)
        if args.bare_fit:
            result = bare_fit(spark, input_dir=args.input.rstrip("/"), params=params, reporter=reporter)
        else:
            result = run(spark, input_dir=args.input.rstrip("/"), output_dir=args.output.rstrip("/"), params=params,
                         reporter=reporter)
        result["timings"]["job_total"] = round(time.monotonic() - started, 3)
        if args.output and "://" not in args.output:
            Path(args.output, "result.json").write_text(json.dumps(result, indent=1, default=float))
        print("RESULT " + json.dumps(result, default=float), flush=True)
        return 0
    except Exception as error:  # the service shows this text on the run
        traceback.print_exc(file=sys.stderr)
        print(f"ERROR {error_summary(error)}", file=sys.stderr, flush=True)
        return 1
    finally:
        if spark is not None:
            spark.stop()
        if checkpoint_dir and "://" not in checkpoint_dir:
            shutil.rmtree(checkpoint_dir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
