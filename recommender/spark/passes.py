"""The passes over every user and every title, run as Spark tasks on the executors.

The driver writes the users with their ratings and exclusions as part files in the exchange
location (``users_parts``) and broadcasts the titles (``side_value``); each task (``serving_task``,
``similar_task``) reads its part with pyarrow, runs it through ``serving_pass`` / ``similar_pass``
(numpy, ``scoring``) and writes its own part file (``part_write``). ``tasks_run`` starts the tasks;
``code_ship`` sends this package to executors on other machines.

Executors import this module: it needs numpy, pyarrow and ``scoring`` only (no pandas, no
``pyspark.ml``, no state of the driver).
"""

from __future__ import annotations

import os
import tempfile
import zipfile
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from recommender.spark import content, scoring, similar
from recommender.spark.inputs import Ratings, local_path, parquet_path

if TYPE_CHECKING:
    from pyspark.sql import SparkSession


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
        # The collaborative fold-in reads the titles the ALS fit knows (a title no one had rated
        # has a zero vector); the content term reads every rated title of the catalog.
        fitted = known & (side.support[np.maximum(rows, 0)] > 0)
        folded = scoring.side_fold_in(segment[fitted], rows[fitted], ratings[fitted], users, side, model)
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
            rated=(segment[known], rows[known], ratings[known]),
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


def similar_pass(
    batches,
    *,
    side_value,
    count: int,
    min_support: int,
    content_value: dict | None = None,
    pool: int = similar.SIMILAR_POOL,
):
    """The ``count`` most similar titles of each title (DESIGN.md §11: content similarity lifted by
    the cosine of the ranking vectors among titles with at least ``min_support`` training ratings),
    each title scored against its candidates only (``similar``: its neighbour lists, the titles
    sharing a person with it and the ``pool`` most-rated titles), so the pass is linear in the
    titles; Arrow record batches in and out."""
    side = scoring.ItemSide(**side_value)
    catalog = content.Content(**content_value) if content_value is not None else None
    found = similar.Candidates(side, catalog, pool=pool)
    for batch in batches:
        rows = side.positions(batch.column("item").to_numpy(zero_copy_only=False))
        lengths, best, values = similar.similar_rows(rows, side, found, count, min_support=min_support)
        offsets = np.concatenate([[0], np.cumsum(lengths)])
        yield pa.RecordBatch.from_arrays(
            [
                pa.array(side.ids[rows].astype(np.int32)),
                _list_array(offsets, side.ids[best].astype(np.int32), pa.int32()),
                _list_array(offsets, values.astype(np.float32), pa.float32()),
            ],
            schema=SIMILAR_SCHEMA,
        )


def similar_pass_quadratic(batches, *, side_value, count: int, min_support: int, content_value: dict | None = None):
    """``similar_pass`` as it was, every title against every title (``scoring.similar_titles``):
    O(titles²), kept as the reference the linear pass is measured against (bench/bench_similar.py,
    tests/recommender/test_similar_linear.py)."""
    side = scoring.ItemSide(**side_value)
    catalog = content.Content(**content_value) if content_value is not None else None
    norms = np.linalg.norm(side.factors, axis=1, keepdims=True)
    unit = side.factors / np.maximum(norms, 1e-12)
    candidates = np.flatnonzero(side.support >= min_support)
    if catalog is not None:
        candidates = np.arange(len(side.ids))  # titles no one rated are alike through their content
    for batch in batches:
        rows = side.positions(batch.column("item").to_numpy(zero_copy_only=False))
        lengths, similar_ids, values = [], [], []
        step = 512 if catalog is None else max(1, min(512, content.BLOCK_CELLS // max(len(side.ids), 1)))
        for start in range(0, len(rows), step):
            best, scores, valid = scoring.similar_titles(
                rows[start : start + step], side, unit, candidates, count, min_support=min_support, catalog=catalog
            )
            lengths.append(valid.sum(axis=1))
            similar_ids.append(side.ids[candidates[best[valid]]])
            values.append(scores[valid])
        offsets = np.concatenate([[0], np.cumsum(np.concatenate(lengths))]) if lengths else np.zeros(1, np.int64)
        yield pa.RecordBatch.from_arrays(
            [
                pa.array(side.ids[rows].astype(np.int32)),
                _list_array(
                    offsets,
                    np.concatenate(similar_ids).astype(np.int32) if similar_ids else np.zeros(0, np.int32),
                    pa.int32(),
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


def similar_task(
    part: int, parts: int, *, target: str, side_value, count: int, min_support: int, content_value: dict | None = None
) -> int:
    """One executor task: the ``part``-th of ``parts`` slices of the run's titles through ``similar_pass``."""
    ids = np.array_split(np.asarray(side_value["ids"]), parts)[part].astype(np.int32)
    batch = pa.RecordBatch.from_arrays([pa.array(ids)], names=["item"])
    return part_write(
        target,
        part,
        similar_pass([batch], side_value=side_value, count=count, min_support=min_support, content_value=content_value),
        SIMILAR_SCHEMA,
    )


def neighbours_task(part: int, parts: int, *, target: str, content_value: dict, count: int) -> int:
    """One executor task: the ``part``-th of ``parts`` slices of the catalog with their content
    neighbours (``content.neighbours_pass``), into ``target``'s part ``part``."""
    catalog = content.Content(**content_value)
    return part_write(target, part, [content.neighbours_pass(catalog, part, parts, count)], content.NEIGHBOURS_SCHEMA)


def content_value(catalog: content.Content) -> dict:
    return {name: getattr(catalog, name) for name in content.Content.__dataclass_fields__}


def side_value(side: scoring.ItemSide) -> dict:
    return {field: getattr(side, field) for field in scoring.ItemSide.__dataclass_fields__}


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
