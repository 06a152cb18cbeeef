"""Fitting the two ALS models on the driver (DESIGN.md §1 and §2).

``prepare_arrays`` counts, fits the biases and the users' spreads and writes both models'
observations in numpy (while the JVM starts); ``prepare`` / ``observations_read`` give Spark the
DataFrame of that file; ``models_fit`` fits the ranking (implicit) and the star (explicit) model,
or one of them against a base (the grid search); ``item_side_collect`` and ``user_factors_collect``
bring the fitted vectors to the driver. ``bare_fit`` is the benchmark's reference: the two fits alone.
"""

from __future__ import annotations

import shutil
import tempfile
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from pyspark.ml.recommendation import ALS, ALSModel
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from recommender.spark import scoring
from recommender.spark.inputs import Ratings, local_path, parquet_path, ratings_load
from recommender.spark.neighbours import Neighbours, star_neighbours
from recommender.spark.progress import Reporter


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
    # the star model's neighbour lists (DESIGN.md §2), from the biases' residuals
    neighbours: Neighbours = field(default_factory=Neighbours.empty)


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
    "confidence_exponent",
    "content_weight",
    "content_prior",
    "content_vector_prior",
    "content_few_weight",
    "star_neighbour_weight",
    "star_neighbour_reg",
    "star_neighbour_n",
    "star_neighbour_min_support",
    "star_neighbour_max_titles",
    "star_neighbour_shrink",
    "item_weight",
    "item_activity_exponent",
    "item_lambda",
    "item_n",
    "item_max_titles",
)


def prepare(spark: SparkSession, train: Ratings, params: dict, *, work_dir: str, neighbours: bool = True) -> Prepared:
    """``prepare_arrays``, then the DataFrame both fits read."""
    prepared = prepare_arrays(train, params, work_dir=work_dir, neighbours=neighbours)
    prepared.frame = observations_read(spark, prepared.path)
    return prepared


OBSERVATIONS_SCHEMA = "user int, item int, strength float, target float"


def observations_read(spark: SparkSession, path: str) -> DataFrame:
    """The observations file as a DataFrame; the schema is given, so no job reads its footer first."""
    return spark.read.schema(OBSERVATIONS_SCHEMA).parquet(path)


def prepare_arrays(train: Ratings, params: dict, *, work_dir: str, neighbours: bool = True) -> Prepared:
    """Counts, biases, the users' spreads and both models' observations, in numpy; then one Parquet
    file in the exchange location that both fits read (executors elsewhere read it there too);
    with ``neighbours``, the star model's neighbour lists. No Spark: runs while the JVM starts."""
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
    prepared = Prepared(
        constants, user_ids, user_counts, user_bias, user_scale, item_ids, item_support, item_bias, path
    )
    if neighbours:
        prepared.neighbours = star_neighbours(
            user_index, item_index, residual, item_ids=item_ids, users=len(user_ids), params=params
        )
    return prepared


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
        prepared.user_bias, prepared.item_bias, prepared.user_scale, prepared.neighbours = (
            base.prepared.user_bias,
            base.prepared.item_bias,
            base.prepared.user_scale,
            base.prepared.neighbours,
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


def factors_collect(frame: DataFrame, ids: np.ndarray, rank: int) -> np.ndarray:
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


def user_factors_collect(model: ALSModel, users: np.ndarray, model_users: int) -> np.ndarray:
    """``factors_collect`` of the sorted ``users``: up to ``PULL_ALL_USERS`` users in the model, all
    its user vectors come to the driver and are picked there (faster than a join); beyond, a join."""
    frame = model.userFactors
    if model_users > PULL_ALL_USERS:
        wanted = frame.sparkSession.createDataFrame(pd.DataFrame({"id": users.astype(np.int32)}), "id int")
        frame = frame.join(F.broadcast(wanted), "id")
    return factors_collect(frame, users, model.rank)


def item_side_collect(fitted: Fitted) -> scoring.ItemSide:
    """Every title of the run as numpy arrays on the driver (broadcast to the passes)."""
    prepared = fitted.prepared
    neighbours = prepared.neighbours
    return scoring.ItemSide.build(
        ids=prepared.item_ids,
        factors=factors_collect(fitted.ranking.itemFactors, prepared.item_ids, fitted.ranking.rank),
        rating_factors=factors_collect(fitted.rating.itemFactors, prepared.item_ids, fitted.rating.rank),
        bias=prepared.item_bias,
        support=prepared.item_support,
    ).with_star_neighbours(neighbours.owners, neighbours.offsets, neighbours.neighbours, neighbours.scores)


def als_blocks(spark: SparkSession) -> int:
    """ALS blocks: one per core (more blocks on two cores only add shuffle overhead)."""
    partitions = spark.conf.get("spark.sql.shuffle.partitions")
    assert partitions is not None, "Spark has a default for it"
    return max(1, min(int(partitions), spark.sparkContext.defaultParallelism))


def bare_fit(spark: SparkSession, *, input_dir: str, params: dict, reporter: Reporter) -> dict:
    """The benchmark's reference: ``ALS.fit`` of both models alone on the same prepared ratings."""
    blocks = als_blocks(spark)
    work_dir = tempfile.mkdtemp(prefix="bare-fit-", dir=local_path(input_dir))
    with reporter.timed("bare_prepare"):
        prepared = prepare(
            spark, ratings_load(f"{input_dir}/ratings.parquet"), params, work_dir=work_dir, neighbours=False
        )
        assert prepared.frame is not None, "prepare reads the observations"
        prepared.frame.count()
    with reporter.timed("bare_fit_ranking"):
        als_fit(prepared, params, implicit=True, blocks=blocks)
    with reporter.timed("bare_fit_rating"):
        als_fit(prepared, params, implicit=False, blocks=blocks)
    shutil.rmtree(work_dir, ignore_errors=True)
    return {"timings": reporter.timings}
