"""One training job on a Spark session: read the inputs, fit, pass over users and titles, evaluate.

``inputs_load`` reads the ratings, holds some out and prepares the fits' observations (numpy only,
while the session starts); ``run`` does the rest (grid search, both fits, the executor passes while
the driver scores the holdout, ``titles.parquet``) and returns the job's result. The command line
around it is ``train_als``.
"""

from __future__ import annotations

import shutil
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from pyspark.sql import SparkSession

from recommender.spark import scoring
from recommender.spark.content import Content, content_load, neighbours_read
from recommender.spark.evaluation import evaluate, evaluation_users
from recommender.spark.fit import Prepared, als_blocks, item_side_collect, models_fit, prepare_arrays
from recommender.spark.grid import grid_search
from recommender.spark.inputs import Ratings, local_path, ratings_load
from recommender.spark.item_item import ItemNeighbours, item_neighbours_fit
from recommender.spark.passes import (
    code_ship,
    content_value,
    neighbours_task,
    serving_task,
    side_value,
    similar_task,
    tasks_run,
    users_parts,
)
from recommender.spark.progress import Reporter


@dataclass
class Inputs:
    ratings: Ratings
    exclusions: Ratings | None
    train: Ratings
    test: Ratings | None
    served: Ratings
    prepared: Prepared | None  # of ``train`` with the run's parameters (not with a grid search)
    content: Content | None = None  # the catalog's facts (DESIGN.md §11), when the input has them
    item_neighbours: ItemNeighbours | None = None  # the ranking score's item-item lists (DESIGN.md §1)


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
    with reporter.timed("content_load"):
        catalog = content_load(input_dir)
    with reporter.timed("item_item"):
        # Pruned EASE on the training part (the holdout never enters), while the JVM starts.
        item_neighbours = (
            item_neighbours_fit(
                train.user,
                train.item,
                max_titles=params["item_max_titles"],
                lam=params["item_lambda"],
                count=params["item_n"],
            )
            if params["item_weight"]
            else ItemNeighbours.empty()
        )
    prepared = None
    if not params["grid"]:  # a grid search picks the parameters first
        with reporter.timed("prepare_arrays"):
            prepared = prepare_arrays(train, params, work_dir=f"{output_dir}/work")
    return Inputs(ratings, exclusions, train, test, served, prepared, catalog, item_neighbours)


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

    neighbours = None
    catalog_value = None
    if inputs.content is not None and len(inputs.content) and params["content_n"]:
        reporter.progress("content", 0.02, "content neighbours of the catalog")
        with reporter.timed("content"):
            parallelism = spark.sparkContext.defaultParallelism
            parts = max(1, min(len(inputs.content) // 2000 + 1, parallelism * 2))
            target = f"{output_dir}/content.parquet"
            shutil.rmtree(local_path(target), ignore_errors=True)
            catalog_value = spark.sparkContext.broadcast(content_value(inputs.content))
            count = params["content_n"]
            tasks_run(
                spark,
                parts,
                lambda part: neighbours_task(
                    part, parts, target=target, content_value=catalog_value.value, count=count
                ),
            )
            neighbours = neighbours_read(target)

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
        if neighbours is not None:
            side = side.with_content(*neighbours).with_borrowed_vectors(params["content_vector_prior"])
        if inputs.item_neighbours is not None:
            item_lists = inputs.item_neighbours
            side = side.with_item_neighbours(
                item_lists.sources, item_lists.offsets, item_lists.targets, item_lists.weights
            )
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
                    part,
                    parts,
                    target=target,
                    side_value=broadcast.value,
                    count=count,
                    min_support=min_support,
                    content_value=catalog_value.value if catalog_value is not None else None,
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
        offsets = side.content_neighbours.offsets.astype(np.int32)
        if len(offsets) != len(side.ids) + 1:  # no content side: every list empty
            offsets = np.zeros(len(side.ids) + 1, dtype=np.int32)
        star_offsets = side.star_neighbours.offsets.astype(np.int32)
        if len(star_offsets) != len(side.ids) + 1:  # no star neighbours: every list empty
            star_offsets = np.zeros(len(side.ids) + 1, dtype=np.int32)
        item_offsets = side.item_neighbours.offsets.astype(np.int32)
        if len(item_offsets) != len(side.ids) + 1:  # no item-item lists: every list empty
            item_offsets = np.zeros(len(side.ids) + 1, dtype=np.int32)
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
                    "neighbours": pa.ListArray.from_arrays(
                        pa.array(offsets), pa.array(side.ids[side.content_neighbours.rows].astype(np.int32))
                    ),
                    "neighbour_scores": pa.ListArray.from_arrays(
                        pa.array(offsets), pa.array(side.content_neighbours.scores)
                    ),
                    "star_neighbours": pa.ListArray.from_arrays(
                        pa.array(star_offsets), pa.array(side.ids[side.star_neighbours.rows].astype(np.int32))
                    ),
                    "star_neighbour_scores": pa.ListArray.from_arrays(
                        pa.array(star_offsets), pa.array(side.star_neighbours.scores.astype(np.float32))
                    ),
                    "item_neighbours": pa.ListArray.from_arrays(
                        pa.array(item_offsets), pa.array(side.ids[side.item_neighbours.rows].astype(np.int32))
                    ),
                    "item_neighbour_weights": pa.ListArray.from_arrays(
                        pa.array(item_offsets), pa.array(side.item_neighbours.scores.astype(np.float32))
                    ),
                }
            ),
            titles_path / "part-0.parquet",
        )
    broadcast.unpersist()
    if catalog_value is not None:
        catalog_value.unpersist()
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
            "content_titles": len(inputs.content) if inputs.content is not None else 0,
            "rated_titles": int((side.support > 0).sum()),
            "item_item_titles": int((np.diff(side.item_neighbours.offsets) > 0).sum()),
            "item_item_pairs": len(side.item_neighbours.rows),
        },
        "metrics": metrics,
        "candidates": candidates,
        "params": dict(params),
        "model": model_constants,
        "timings": reporter.timings,
        "spark": {"master": spark.sparkContext.master, "version": spark.version, "blocks": blocks},
    }
