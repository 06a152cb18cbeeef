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
import itertools
import json
import math
import os
import shutil
import signal
import sys
import tempfile
import time
import traceback
import zipfile
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from pyspark.ml.recommendation import ALS, ALSModel
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from recommender.spark import scoring
from recommender.spark.params import ParamsError, grid_candidates, params_resolve
from recommender.spark.session import session_stop, spark_session_create


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


# --- the ratings on the driver ----------------------------------------------------------------------


@dataclass
class Ratings:
    """Ratings as numpy arrays on the driver (12 bytes a rating: 100 million fit in 1.2 GB)."""

    user: np.ndarray  # int32
    item: np.ndarray  # int32
    rating: np.ndarray  # float32

    def __len__(self) -> int:
        return len(self.user)

    def subset(self, mask: np.ndarray) -> Ratings:
        return Ratings(self.user[mask], self.item[mask], self.rating[mask])

    def concat(self, other: Ratings) -> Ratings:
        return Ratings(
            *(
                np.concatenate([a, b])
                for a, b in ((self.user, other.user), (self.item, other.item), (self.rating, other.rating))
            )
        )


def local_path(path: str) -> str:
    if "://" in path and not path.startswith("file://"):
        raise ValueError(
            f"{path}: the exchange location must be a path mounted on the driver and the executors "
            "(see recommender/DESIGN.md §7)"
        )
    return path.removeprefix("file://")


def ratings_load(path: str, *, with_rating: bool = True) -> Ratings:
    table = pq.read_table(local_path(path))
    user = table.column("user").to_numpy().astype(np.int32)
    item = table.column("item").to_numpy().astype(np.int32)
    rating = (
        table.column("rating").to_numpy().astype(np.float32) if with_rating else np.zeros(len(user), dtype=np.float32)
    )
    return Ratings(user, item, rating)


# --- fitting --------------------------------------------------------------------------------------


@dataclass
class Prepared:
    """The training ratings indexed and weighted for both ALS fits (DESIGN.md §1 and §2)."""

    constants: dict
    user_ids: np.ndarray  # sorted distinct users
    user_counts: np.ndarray  # n_u
    user_bias: np.ndarray  # b_u
    user_scale: np.ndarray  # s_u
    item_ids: np.ndarray  # sorted distinct titles
    item_support: np.ndarray  # n_i
    item_bias: np.ndarray  # b_i
    path: str  # the Parquet file of the observations below
    frame: DataFrame | None = None  # user, item, strength (ranking model), target (star model)


@dataclass
class Fitted:
    prepared: Prepared
    ranking: ALSModel
    rating: ALSModel

    @property
    def constants(self) -> dict:
        return self.prepared.constants


MODEL_KEYS = (
    "scale_min",
    "scale_max",
    "rank",
    "reg",
    "alpha",
    "star_weight",
    "activity_exponent",
    "popularity_weight",
    "rating_rank",
    "rating_reg",
    "bias_reg_user",
    "bias_reg_title",
    "bias_sweeps",
    "rating_scale_prior",
    "confidence_user_prior",
    "confidence_title_prior",
)


def prepare(spark: SparkSession, train: Ratings, params: dict, *, work_dir: str) -> Prepared:
    """``prepare_arrays``, then the DataFrame both fits read."""
    prepared = prepare_arrays(train, params, work_dir=work_dir)
    prepared.frame = observations_read(spark, prepared.path)
    return prepared


OBSERVATIONS_SCHEMA = "user int, item int, strength float, target float"


def observations_read(spark: SparkSession, path: str) -> DataFrame:
    """The observations file as a DataFrame; the schema is given, so no job reads its footer first."""
    return spark.read.schema(OBSERVATIONS_SCHEMA).parquet(path)


def prepare_arrays(train: Ratings, params: dict, *, work_dir: str) -> Prepared:
    """Counts, biases, the users' spreads and both models' observations, in numpy; then one Parquet
    file in the exchange location that both fits read (executors elsewhere read it there too).
    No Spark: runs while the JVM starts."""
    user_ids, user_index = np.unique(train.user, return_inverse=True)
    item_ids, item_index = np.unique(train.item, return_inverse=True)
    ratings = train.rating.astype(np.float64)
    user_counts = np.bincount(user_index, minlength=len(user_ids))
    item_support = np.bincount(item_index, minlength=len(item_ids))
    mean = float(ratings.mean())
    reference = float(np.median(user_counts))
    user_bias, item_bias = scoring.biases_solve(
        user_index,
        item_index,
        ratings,
        mean=mean,
        users=len(user_ids),
        items=len(item_ids),
        reg_user=params["bias_reg_user"],
        reg_item=params["bias_reg_title"],
        sweeps=params["bias_sweeps"],
    )
    residual = ratings - mean - user_bias[user_index] - item_bias[item_index]
    prior = params["rating_scale_prior"]
    spread = float(np.mean(residual**2))
    # Users who use a wide range of stars get their residuals scaled down while the titles'
    # vectors are learned, so a few erratic raters do not dominate them (DESIGN.md §2).
    user_scale = np.sqrt(
        (np.bincount(user_index, residual**2, len(user_ids)) + prior * spread) / (user_counts + prior + 1e-12)
    )
    user_scale = np.where(user_scale > 1e-6, user_scale, 1.0)
    constants = {
        "global_mean": mean,
        "activity_reference": reference,
        "num_ratings": len(train),
        **{key: params[key] for key in MODEL_KEYS},
    }
    strength = scoring.strength(ratings, user_counts[user_index], constants)
    path = parquet_path(work_dir, "observations")
    pq.write_table(
        pa.table(
            {
                "user": train.user,
                "item": train.item,
                "strength": strength.astype(np.float32),
                "target": (residual / user_scale[user_index]).astype(np.float32),
            }
        ),
        path,
        row_group_size=1 << 18,
    )
    return Prepared(constants, user_ids, user_counts, user_bias, user_scale, item_ids, item_support, item_bias, path)


_files = itertools.count()


def parquet_path(work_dir: str, name: str) -> str:
    """A new file name under ``work_dir`` (a file Spark read lazily is never overwritten)."""
    directory = Path(local_path(work_dir))
    directory.mkdir(parents=True, exist_ok=True)
    return str(directory / f"{name}-{next(_files)}.parquet")


def als_create(*, implicit: bool, params: dict, blocks: int) -> ALS:
    prefix = "" if implicit else "rating_"
    return ALS(
        rank=params[f"{prefix}rank"],
        maxIter=params[f"{prefix}iterations"],
        regParam=params[f"{prefix}reg"],
        implicitPrefs=implicit,
        alpha=params["alpha"],
        seed=params["seed"],
        userCol="user",
        itemCol="item",
        ratingCol="strength" if implicit else "target",
        nonnegative=False,
        numUserBlocks=blocks,
        numItemBlocks=blocks,
        checkpointInterval=params["checkpoint_interval"],
        intermediateStorageLevel="MEMORY_AND_DISK",
        finalStorageLevel="MEMORY_AND_DISK",
    )


def als_fit(prepared: Prepared, params: dict, *, implicit: bool, blocks: int) -> ALSModel:
    assert prepared.frame is not None, "the observations are read before a fit"
    model = als_create(implicit=implicit, params=params, blocks=blocks).fit(prepared.frame)
    model.userFactors.count()  # fitted now, not when first read
    return model


def models_fit(
    spark: SparkSession,
    train: Ratings,
    params: dict,
    reporter: Reporter,
    *,
    blocks: int,
    work_dir: str,
    label: str = "",
    span: tuple[float, float] = (0.0, 1.0),
    base: Fitted | None = None,
    fit_ranking: bool = True,
    fit_rating: bool = True,
    prepared: Prepared | None = None,
) -> Fitted:
    """Both models on ``train`` (or only one, the other taken from ``base``). Progress inside ``span``.
    ``prepared``: ``prepare_arrays`` of ``train`` done already (while Spark started)."""

    def at(fraction: float) -> float:
        return span[0] + (span[1] - span[0]) * fraction

    reporter.progress(f"{label}prepare", at(0.0), "counts, biases and weights")
    with reporter.timed(f"{label}prepare"):
        if prepared is None:
            prepared = prepare(spark, train, params, work_dir=work_dir)
        else:
            prepared.frame = observations_read(spark, prepared.path)
    rating = ranking = None
    if base is None or (fit_rating and fit_ranking):
        # One after the other: run at once on two cores, the fits measured slower in all
        # (37.6 s against 35.4 s for the two on 1M ratings) than in turn, each using every core.
        reporter.progress(f"{label}ranking model", at(0.05), "fitting the ranking model (implicit ALS)")
        with reporter.timed(f"{label}fit_ranking"):
            ranking = als_fit(prepared, params, implicit=True, blocks=blocks)
        reporter.progress(f"{label}star model", at(0.45), "fitting the star model (explicit ALS)")
        with reporter.timed(f"{label}fit_rating"):
            rating = als_fit(prepared, params, implicit=False, blocks=blocks)
    elif fit_rating:
        reporter.progress(f"{label}star model", at(0.05), "fitting the star model (explicit ALS)")
        with reporter.timed(f"{label}fit_rating"):
            rating = als_fit(prepared, params, implicit=False, blocks=blocks)
    elif fit_ranking:
        reporter.progress(f"{label}ranking model", at(0.05), "fitting the ranking model (implicit ALS)")
        with reporter.timed(f"{label}fit_ranking"):
            ranking = als_fit(prepared, params, implicit=True, blocks=blocks)
    if rating is None:
        assert base is not None, "without a base both models are fitted above"
        rating = base.rating
        for key in ("rating_rank", "rating_reg", "bias_reg_user", "bias_reg_title", "rating_scale_prior"):
            prepared.constants[key] = base.constants[key]
        prepared.user_bias, prepared.item_bias, prepared.user_scale = (
            base.prepared.user_bias,
            base.prepared.item_bias,
            base.prepared.user_scale,
        )
    if ranking is None:
        assert base is not None, "without a base both models are fitted above"
        ranking = base.ranking
        for key in ("rank", "reg", "alpha", "star_weight", "activity_exponent", "popularity_weight"):
            prepared.constants[key] = base.constants[key]
    return Fitted(prepared, ranking, rating)


# Up to this many users, a model's user vectors are brought to the driver whole (about 10 MB at
# rank 48 per 50,000) and picked out there: faster than a join with the wanted ids.
PULL_ALL_USERS = 250_000


def _factors(frame: DataFrame, ids: np.ndarray, rank: int) -> np.ndarray:
    """The vectors of ``frame`` (a model's ``itemFactors`` or ``userFactors``) aligned with the
    sorted ``ids``, zeros for ids it has none for; Arrow all the way (no pandas objects)."""
    table = frame.toArrow()
    out = np.zeros((len(ids), rank), dtype=np.float32)
    if table.num_rows and len(ids):
        found = table["id"].to_numpy().astype(np.int64)
        positions = np.minimum(np.searchsorted(ids, found), len(ids) - 1)
        keep = ids[positions] == found
        values = pc.list_flatten(table["features"].combine_chunks()).to_numpy(zero_copy_only=False)
        out[positions[keep]] = values.reshape(len(found), rank)[keep]
    return out


def _user_factors(model: ALSModel, users: np.ndarray, model_users: int) -> np.ndarray:
    """``_factors`` of the sorted ``users``: up to ``PULL_ALL_USERS`` users in the model, all its user
    vectors come to the driver and are picked there (faster than a join); beyond, a join."""
    frame = model.userFactors
    if model_users > PULL_ALL_USERS:
        wanted = frame.sparkSession.createDataFrame(pd.DataFrame({"id": users.astype(np.int32)}), "id int")
        frame = frame.join(F.broadcast(wanted), "id")
    return _factors(frame, users, model.rank)


def item_side_collect(fitted: Fitted) -> scoring.ItemSide:
    """Every title of the run as numpy arrays on the driver (broadcast to the passes)."""
    prepared = fitted.prepared
    return scoring.ItemSide.build(
        ids=prepared.item_ids,
        factors=_factors(fitted.ranking.itemFactors, prepared.item_ids, fitted.ranking.rank),
        rating_factors=_factors(fitted.rating.itemFactors, prepared.item_ids, fitted.rating.rank),
        bias=prepared.item_bias,
        support=prepared.item_support,
    )


# --- the passes over users (numpy on the executors) -----------------------------------------------

SERVE_SCHEMA = pa.schema(
    [
        ("user", pa.int32()),
        ("factors", pa.list_(pa.float32())),
        ("rating_factors", pa.list_(pa.float32())),
        ("bias", pa.float64()),
        ("num_ratings", pa.int32()),
        ("items", pa.list_(pa.int32())),
        ("scores", pa.list_(pa.float32())),
        ("predicted", pa.list_(pa.float32())),
        ("confidence", pa.list_(pa.float32())),
    ]
)
SIMILAR_SCHEMA = pa.schema(
    [("item", pa.int32()), ("similar", pa.list_(pa.int32())), ("scores", pa.list_(pa.float32()))]
)


def _flat(lists: pa.Array) -> tuple[np.ndarray, np.ndarray]:
    """A list column as (owner row of each value, the values)."""
    return (
        pc.list_parent_indices(lists).to_numpy(zero_copy_only=False).astype(np.int64),
        pc.list_flatten(lists).to_numpy(zero_copy_only=False),
    )


def _list_array(offsets: np.ndarray, values: np.ndarray, value_type: pa.DataType) -> pa.ListArray:
    return pa.ListArray.from_arrays(pa.array(offsets.astype(np.int32)), pa.array(values, type=value_type))


def _vector_lists(matrix: np.ndarray) -> pa.ListArray:
    """A (rows, width) float32 matrix as list<float>, one list per row."""
    rows, width = matrix.shape
    return _list_array(
        np.arange(rows + 1) * width, np.ascontiguousarray(matrix, dtype=np.float32).ravel(), pa.float32()
    )


def serving_pass(batches, *, side_value, model: dict, top_n: int):
    """Fold every user in with all their ratings, then score, exclude and keep the top N: Arrow
    record batches in and out, the users of a batch handled together (``scoring.side_fold_in``
    and ``scoring.recommend``), so no Python runs per user."""
    side = scoring.ItemSide(**side_value)
    for batch in batches:
        users = len(batch)
        segment, items = _flat(batch.column("items"))
        ratings = pc.list_flatten(batch.column("ratings")).to_numpy(zero_copy_only=False)
        rows = side.positions(items)
        known = rows >= 0
        folded = scoring.side_fold_in(segment[known], rows[known], ratings[known], users, side, model)
        excluded_segment, excluded_items = _flat(batch.column("excluded"))
        excluded_rows = side.positions(excluded_items)
        keep = excluded_rows >= 0
        top = scoring.recommend(
            folded,
            np.concatenate([segment[known], excluded_segment[keep]]),
            np.concatenate([rows[known], excluded_rows[keep]]),
            side,
            model,
            top_n,
        )
        assert folded.rating_factors is not None, "an ItemSide always has a star model"
        yield pa.RecordBatch.from_arrays(
            [
                batch.column("user").cast(pa.int32()),
                _vector_lists(folded.factors),
                _vector_lists(folded.rating_factors),
                pa.array(folded.bias.astype(np.float64)),
                pa.array(folded.counts.astype(np.int32)),
                _list_array(top.offsets, side.ids[top.rows].astype(np.int32), pa.int32()),
                _list_array(top.offsets, top.scores, pa.float32()),
                _list_array(top.offsets, top.predicted, pa.float32()),
                _list_array(top.offsets, top.confidence, pa.float32()),
            ],
            schema=SERVE_SCHEMA,
        )


def similar_pass(batches, *, side_value, count: int, min_support: int):
    """The ``count`` most similar titles of each title (cosine of the ranking vectors) among those
    with at least ``min_support`` training ratings; Arrow record batches in and out."""
    side = scoring.ItemSide(**side_value)
    norms = np.linalg.norm(side.factors, axis=1, keepdims=True)
    unit = side.factors / np.maximum(norms, 1e-12)
    candidates = np.flatnonzero(side.support >= min_support)
    for batch in batches:
        rows = side.positions(batch.column("item").to_numpy(zero_copy_only=False))
        lengths, similar, values = [], [], []
        for start in range(0, len(rows), 512):
            best, scores, valid = scoring.similar_titles(rows[start : start + 512], side, unit, candidates, count)
            lengths.append(valid.sum(axis=1))
            similar.append(side.ids[candidates[best[valid]]])
            values.append(scores[valid])
        offsets = np.concatenate([[0], np.cumsum(np.concatenate(lengths))]) if lengths else np.zeros(1, np.int64)
        yield pa.RecordBatch.from_arrays(
            [
                pa.array(side.ids[rows].astype(np.int32)),
                _list_array(
                    offsets, np.concatenate(similar).astype(np.int32) if similar else np.zeros(0, np.int32), pa.int32()
                ),
                _list_array(
                    offsets,
                    np.concatenate(values).astype(np.float32) if values else np.zeros(0, np.float32),
                    pa.float32(),
                ),
            ],
            schema=SIMILAR_SCHEMA,
        )


def part_name(part: int) -> str:
    return f"part-{part:05d}.parquet"


def part_write(directory: str, part: int, batches, schema: pa.Schema) -> int:
    """Write one task's output batches as ``directory/part-N.parquet`` (a retried task replaces its
    own file whole: written under a hidden name, then renamed). Returns the rows written."""
    target = Path(local_path(directory))
    target.mkdir(parents=True, exist_ok=True)
    temporary = target / f".{part_name(part)}.{os.getpid()}.tmp"
    rows = 0
    with pq.ParquetWriter(str(temporary), schema) as writer:
        for batch in batches:
            writer.write_batch(batch)
            rows += len(batch)
    os.replace(temporary, target / part_name(part))
    return rows


def serving_task(part: int, *, source: str, target: str, side_value, model: dict, top_n: int) -> int:
    """One executor task: the users of ``source``'s part ``part`` through ``serving_pass``, into
    ``target``'s part ``part``."""
    # ParquetFile, not read_table: that would import pyarrow.dataset and pandas (0.4 s) in the worker.
    table = pq.ParquetFile(str(Path(local_path(source)) / part_name(part))).read()
    return part_write(
        target,
        part,
        serving_pass(table.to_batches(max_chunksize=4096), side_value=side_value, model=model, top_n=top_n),
        SERVE_SCHEMA,
    )


def similar_task(part: int, parts: int, *, target: str, side_value, count: int, min_support: int) -> int:
    """One executor task: the ``part``-th of ``parts`` slices of the run's titles through ``similar_pass``."""
    ids = np.array_split(np.asarray(side_value["ids"]), parts)[part].astype(np.int32)
    batch = pa.RecordBatch.from_arrays([pa.array(ids)], names=["item"])
    return part_write(
        target, part, similar_pass([batch], side_value=side_value, count=count, min_support=min_support), SIMILAR_SCHEMA
    )


def side_value(side: scoring.ItemSide) -> dict:
    return {field: getattr(side, field) for field in scoring.ItemSide.__dataclass_fields__}


# --- evaluation (on the driver: at most eval_max_users users) --------------------------------------


def evaluation_users(fitted: Fitted, test: Ratings, params: dict) -> tuple[np.ndarray, scoring.FoldIn]:
    """The test users scored (at most ``eval_max_users``, drawn by a seeded hash) and their fitted
    vectors (the rating vector times the user's spread; zero for users the models do not know),
    collected from the models: a Spark job, so done before the executor passes take the cores."""
    test_users = np.unique(test.user)
    if params["eval_max_users"] and len(test_users) > params["eval_max_users"]:
        keep = np.sort(
            np.argsort(scoring.pair_draw(test_users, test_users, params["seed"]))[: params["eval_max_users"]]
        )
        test_users = test_users[keep]
    prepared = fitted.prepared
    if not len(test_users):
        return test_users, scoring.FoldIn(np.zeros((0, 0)), None, np.zeros(0), np.zeros(0, np.int64))
    known = np.isin(test_users, prepared.user_ids)
    positions = np.searchsorted(prepared.user_ids, test_users)
    positions = np.where(known, np.minimum(positions, len(prepared.user_ids) - 1), 0)
    rating = _user_factors(fitted.rating, test_users, len(prepared.user_ids))
    rating *= np.where(known, prepared.user_scale[positions], 1.0)[:, None].astype(np.float32)
    return test_users, scoring.FoldIn(
        factors=_user_factors(fitted.ranking, test_users, len(prepared.user_ids)),
        rating_factors=rating,
        bias=np.where(known, prepared.user_bias[positions], 0.0),
        counts=np.where(known, prepared.user_counts[positions], 0),
    )


def evaluate(
    fitted: Fitted,
    side: scoring.ItemSide,
    train: Ratings,
    test: Ratings,
    params: dict,
    users: tuple[np.ndarray, scoring.FoldIn] | None = None,
) -> dict:
    """Holdout metrics of DESIGN.md §8 with the models fitted on ``train`` (``scoring.holdout_score``
    of ``evaluation_users``, collected now unless given)."""
    test_users, vectors = users if users is not None else evaluation_users(fitted, test, params)
    if not len(test_users):
        return {"eval_users": 0}
    in_test = np.isin(test.user, test_users)
    in_train = np.isin(train.user, test_users)
    test_segment = np.searchsorted(test_users, test.user[in_test])
    scored = scoring.holdout_score(
        vectors,
        np.searchsorted(test_users, train.user[in_train]),
        side.positions(train.item[in_train]),
        test_segment,
        test.item[in_test],
        side,
        fitted.constants,
    )
    errors = scored.pair_predicted - test.rating[in_test].astype(np.float64)
    pairs = len(errors)
    metrics: dict[str, object] = {
        "rmse": math.sqrt(float((errors**2).sum()) / pairs) if pairs else None,
        "mae": float(np.abs(errors).sum()) / pairs if pairs else None,
        "precision_at_10": float(scored.precision.mean()),
        "ndcg_at_10": float(scored.ndcg.mean()),
        "popularity_precision_at_10": float(scored.pop_precision.mean()),
        "popularity_ndcg_at_10": float(scored.pop_ndcg.mean()),
        "eval_users": len(test_users),
        "eval_pairs": pairs,
    }
    metrics["confidence_buckets"] = confidence_buckets(
        scored.top_confidence, scored.top_hit, scored.pair_confidence, np.abs(errors)
    )
    return metrics


def confidence_buckets(
    top_confidence: np.ndarray, top_hit: np.ndarray, pair_confidence: np.ndarray, pair_error: np.ndarray
) -> list[dict]:
    """Does confidence mean something? Hit rate of the top 10 and star error, per confidence tercile."""
    buckets = []
    edges = [0.0, 1 / 3, 2 / 3, 1.0000001]
    for low, high, name in zip(edges, edges[1:], ("low", "medium", "high"), strict=False):
        top_mask = (top_confidence >= low) & (top_confidence < high)
        pair_mask = (pair_confidence >= low) & (pair_confidence < high)
        buckets.append(
            {
                "confidence": name,
                "range": [round(low, 3), round(min(high, 1.0), 3)],
                "recommendations": int(top_mask.sum()),
                "hit_rate": float(top_hit[top_mask].mean()) if top_mask.any() else None,
                "pairs": int(pair_mask.sum()),
                "mae": float(pair_error[pair_mask].mean()) if pair_mask.any() else None,
            }
        )
    return buckets


# --- the run --------------------------------------------------------------------------------------


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


def code_ship(spark: SparkSession) -> None:
    """Executors on other machines need this package: ship it as a zip (local masters share it)."""
    if spark.sparkContext.master.startswith("local"):  # type: ignore[union-attr]  # a running context has a master
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
    partitions = spark.conf.get("spark.sql.shuffle.partitions")
    assert partitions is not None, "Spark has a default for it"
    return max(1, min(int(partitions), spark.sparkContext.defaultParallelism))


def _lists(keys: np.ndarray, owners: np.ndarray, values: np.ndarray) -> pa.ListArray:
    """For each of the sorted distinct ``owners``, the ``values`` whose key is that owner (maybe none)."""
    keep = np.isin(keys, owners)
    keys, values = keys[keep], values[keep]
    order = np.argsort(keys, kind="stable")
    keys, values = keys[order], values[order]
    offsets = np.append(np.searchsorted(keys, owners, side="left"), len(keys)).astype(np.int32)
    return pa.ListArray.from_arrays(pa.array(offsets), pa.array(values))


def users_parts(served: Ratings, exclusions: Ratings | None, *, work_dir: str, parts: int) -> str:
    """Every user with their rated titles and stars and the titles they asked not to see, as
    ``parts`` Parquet files (list columns built from offsets, no Python loop) in a new directory of
    the exchange location, which it returns: one file per executor task. Users are dealt out in
    order of their number of ratings, so the parts weigh the same."""
    users, counts = np.unique(served.user, return_counts=True)
    excluded_users = exclusions.user if exclusions is not None else np.empty(0, np.int32)
    excluded_items = exclusions.item if exclusions is not None else np.empty(0, np.int32)
    table = pa.table(
        {
            "user": pa.array(users.astype(np.int32)),
            "items": _lists(served.user, users, served.item.astype(np.int32)),
            "ratings": _lists(served.user, users, served.rating.astype(np.float32)),
            "excluded": _lists(excluded_users, users, excluded_items.astype(np.int32)),
        }
    )
    part_of = np.empty(len(users), dtype=np.int64)
    part_of[np.argsort(-counts, kind="stable")] = np.arange(len(users)) % parts
    directory = Path(parquet_path(work_dir, "users"))
    directory.mkdir()
    for part in range(parts):
        pq.write_table(table.filter(pa.array(part_of == part)), directory / part_name(part))
    return str(directory)


def tasks_run(spark: SparkSession, parts: int, task) -> list:
    """``task(part)`` for every part, as Spark tasks on the executors (a task's data comes and goes
    through the exchange location, so nothing but its part number and result crosses the JVM)."""
    return spark.sparkContext.parallelize(range(parts), parts).map(task).collect()


@dataclass
class Inputs:
    ratings: Ratings
    exclusions: Ratings | None
    train: Ratings
    test: Ratings | None
    served: Ratings
    prepared: Prepared | None  # of ``train`` with the run's parameters (not with a grid search)


def inputs_load(*, input_dir: str, output_dir: str, params: dict, reporter: Reporter) -> Inputs:
    """Read the ratings, hold some out and prepare both fits' observations: numpy only, so it
    runs while the Spark session starts."""
    reporter.progress("load", 0.0, "reading ratings")
    with reporter.timed("load"):
        ratings = ratings_load(f"{input_dir}/ratings.parquet")
        if not len(ratings):
            raise ValueError("there are no ratings to learn from")
        exclusions_path = Path(local_path(f"{input_dir}/exclusions.parquet"))
        exclusions = ratings_load(str(exclusions_path), with_rating=False) if exclusions_path.exists() else None
        holdout_path = Path(local_path(f"{input_dir}/holdout.parquet"))
        if holdout_path.exists():
            # evaluate_recommender: the test part is given; the users' own lists are the training part.
            train, test, served = ratings, ratings_load(str(holdout_path)), ratings
        elif params["holdout_fraction"] > 0:
            held = scoring.holdout_mask(
                ratings.user,
                ratings.item,
                fraction=params["holdout_fraction"],
                seed=params["seed"],
                min_ratings=params["holdout_min_user_ratings"],
            )
            train, test, served = ratings.subset(~held), ratings.subset(held), ratings
        else:
            train, test, served = ratings, None, ratings
    prepared = None
    if not params["grid"]:  # a grid search picks the parameters first
        with reporter.timed("prepare_arrays"):
            prepared = prepare_arrays(train, params, work_dir=f"{output_dir}/work")
    return Inputs(ratings, exclusions, train, test, served, prepared)


def run(
    spark: SparkSession,
    *,
    input_dir: str,
    output_dir: str,
    params: dict,
    reporter: Reporter,
    inputs: Inputs | None = None,
) -> dict:
    blocks = als_blocks(spark)
    work_dir = f"{output_dir}/work"
    code_ship(spark)
    if inputs is None:
        inputs = inputs_load(input_dir=input_dir, output_dir=output_dir, params=params, reporter=reporter)
    ratings, exclusions, train, test, served = (
        inputs.ratings,
        inputs.exclusions,
        inputs.train,
        inputs.test,
        inputs.served,
    )

    candidates: list[dict] = []
    if params["grid"]:
        with reporter.timed("grid"):
            params, candidates = grid_search(
                spark, train, params, reporter, blocks, span=(0.02, 0.5), work_dir=work_dir
            )

    fitted = models_fit(
        spark,
        train,
        params,
        reporter,
        blocks=blocks,
        work_dir=work_dir,
        span=(0.5 if params["grid"] else 0.02, 0.75),
        prepared=inputs.prepared,
    )
    with reporter.timed("collect"):
        side = item_side_collect(fitted)
        holdout_users = evaluation_users(fitted, test, params) if test is not None and len(test) else None

    broadcast = spark.sparkContext.broadcast(side_value(side))
    model = fitted.constants
    top_n = params["top_n"]
    count, min_support = params["similar_n"], params["similar_min_support"]

    parallelism = spark.sparkContext.defaultParallelism

    def executor_passes() -> None:
        with reporter.timed("recommend"):
            parts = max(1, min(len(served) // 100_000 + 1, parallelism * 2))
            with reporter.timed("users_file"):
                source = users_parts(served, exclusions, work_dir=work_dir, parts=parts)
            target = f"{output_dir}/users.parquet"
            shutil.rmtree(local_path(target), ignore_errors=True)
            tasks_run(
                spark,
                parts,
                lambda part: serving_task(
                    part, source=source, target=target, side_value=broadcast.value, model=model, top_n=top_n
                ),
            )
        reporter.progress("similar", 0.93, "similar titles")
        with reporter.timed("similar"):
            parts = max(1, min(len(side.ids) // 2000 + 1, parallelism * 2))
            target = f"{output_dir}/similar.parquet"
            shutil.rmtree(local_path(target), ignore_errors=True)
            tasks_run(
                spark,
                parts,
                lambda part, parts=parts: similar_task(
                    part, parts, target=target, side_value=broadcast.value, count=count, min_support=min_support
                ),
            )

    # The executors recommend while the driver scores the holdout.
    reporter.progress("top-n", 0.8, "recommending for every user")
    metrics: dict = {}
    with ThreadPoolExecutor(max_workers=1) as pool:
        passes = pool.submit(executor_passes)
        if test is not None and len(test):
            with reporter.timed("evaluate"):
                metrics = evaluate(fitted, side, train, test, params, holdout_users)
        passes.result()

    with reporter.timed("titles"):
        titles_path = Path(local_path(f"{output_dir}/titles.parquet"))
        titles_path.mkdir(parents=True, exist_ok=True)
        pq.write_table(
            pa.table(
                {
                    "item": pa.array(side.ids.astype(np.int32)),
                    "factors": pa.FixedSizeListArray.from_arrays(
                        pa.array(side.factors.ravel()), side.factors.shape[1]
                    ).cast(pa.list_(pa.float32())),
                    "rating_factors": pa.FixedSizeListArray.from_arrays(
                        pa.array(side.rating_factors.ravel()), side.rating_factors.shape[1]
                    ).cast(pa.list_(pa.float32())),
                    "bias": pa.array(side.bias.astype(np.float64)),
                    "support": pa.array(side.support.astype(np.int32)),
                }
            ),
            titles_path / "part-0.parquet",
        )
    broadcast.unpersist()
    shutil.rmtree(local_path(work_dir), ignore_errors=True)

    model_constants = dict(fitted.constants)
    model_constants["max_support"] = int(side.support.max()) if len(side.support) else 0
    return {
        "counts": {
            "ratings": len(ratings),
            "train_ratings": len(train),
            "holdout_ratings": len(test) if test else 0,
            "model_users": len(fitted.prepared.user_ids),
            "model_titles": len(side.ids),
        },
        "metrics": metrics,
        "candidates": candidates,
        "params": dict(params),
        "model": model_constants,
        "timings": reporter.timings,
        "spark": {"master": spark.sparkContext.master, "version": spark.version, "blocks": blocks},
    }


def bare_fit(spark: SparkSession, *, input_dir: str, params: dict, reporter: Reporter) -> dict:
    """The benchmark's reference: ``ALS.fit`` of both models alone on the same prepared ratings."""
    blocks = als_blocks(spark)
    work_dir = tempfile.mkdtemp(prefix="bare-fit-", dir=local_path(input_dir))
    with reporter.timed("bare_prepare"):
        prepared = prepare(spark, ratings_load(f"{input_dir}/ratings.parquet"), params, work_dir=work_dir)
        assert prepared.frame is not None, "prepare reads the observations"
        prepared.frame.count()
    with reporter.timed("bare_fit_ranking"):
        als_fit(prepared, params, implicit=True, blocks=blocks)
    with reporter.timed("bare_fit_rating"):
        als_fit(prepared, params, implicit=False, blocks=blocks)
    shutil.rmtree(work_dir, ignore_errors=True)
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


def parent_death_follow() -> None:
    """Linux: die with the process that started this job (a Celery worker killed with SIGKILL),
    instead of training on as an orphan. The JVM and Python workers follow the driver."""
    parent = os.environ.get("IMDBREC_PARENT_PID")
    if not parent or not sys.platform.startswith("linux"):
        return
    try:
        import ctypes

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except OSError:
        return
    if os.getppid() != int(parent):  # the parent died before the request took effect
        sys.exit(1)


def input_wait(marker: str, *, poll: float = 0.05) -> None:
    """Block until the service has written ``marker`` (its export is complete)."""
    path = Path(local_path(marker))
    failed = path.with_name(path.name + ".failed")
    while not path.exists():
        if failed.exists():
            raise RuntimeError("the export of the ratings failed; nothing to train on")
        time.sleep(poll)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m recommender.spark.train_als", description=__doc__.split("\n")[0])
    parser.add_argument("--input", required=True)
    parser.add_argument("--output", default="")
    parser.add_argument("--params", default="{}", help="JSON object of parameters (see params.py)")
    parser.add_argument("--master", default=None, help="Spark master (default: $SPARK_MASTER or local[*])")
    parser.add_argument("--bare-fit", action="store_true")
    parser.add_argument(
        "--wait-for",
        default="",
        help="start Spark, then wait for this file before reading --input (the service exports "
        "the ratings meanwhile); FILE.failed instead means the export failed",
    )
    args = parser.parse_args(argv)
    parent_death_follow()
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
    input_dir, output_dir = args.input.rstrip("/"), args.output.rstrip("/")

    def inputs_ready() -> Inputs | None:
        if args.wait_for:
            with reporter.timed("input_wait"):
                input_wait(args.wait_for)
        if args.bare_fit:
            return None
        return inputs_load(input_dir=input_dir, output_dir=output_dir, params=params, reporter=reporter)

    try:
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="inputs") as early:
            # The JVM and the session take seconds to start: read and prepare the ratings meanwhile.
            inputs = early.submit(inputs_ready)
            with reporter.timed("spark_start"):
                if args.output:
                    checkpoint_dir = f"{output_dir}/checkpoints"
                spark = spark_session_create(
                    master=args.master, app_name="imdbrec-train-als", checkpoint_dir=checkpoint_dir
                )
            with reporter.timed("inputs_wait"):
                loaded = inputs.result()
        if args.bare_fit:
            result = bare_fit(spark, input_dir=input_dir, params=params, reporter=reporter)
        else:
            result = run(
                spark, input_dir=input_dir, output_dir=output_dir, params=params, reporter=reporter, inputs=loaded
            )
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
            session_stop(spark)
        if checkpoint_dir and "://" not in checkpoint_dir:
            shutil.rmtree(checkpoint_dir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
