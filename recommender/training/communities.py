"""The training's side of the taste communities (``recommender.communities``).

Users are clustered from the job's own output while Spark still finds similar titles
(``users_cluster``), titles placed on the same map (``titles_place``), and the communities stored
in the switch's transaction (``run_communities_create``) from the high ratings of the run's export
(``liked_from_export``). Each step that fails logs and returns None or its error text: the build then
reads what it needs from the database (``run_communities_build``), and a run's recommendations are
still worth serving without communities.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as pds
import pyarrow.parquet as pq
from django.db import transaction

from recommender.models import ModelRun
from recommender.training.export import tconsts_from_items

logger = logging.getLogger(__name__)


def users_cluster(output_dir: Path):
    """``communities_cluster`` on the job's users file (users sorted as their rows are); None if
    that fails, and the build then reads the vectors back from the rows."""
    from threadpoolctl import threadpool_limits

    from recommender.communities.clustering import communities_cluster

    try:
        users = pds.dataset(str(output_dir / "users.parquet"), format="parquet").to_table(columns=["user", "factors"])
        users = users.sort_by("user")
        # One thread: it runs beside Spark's tasks and the write-back, and k-means' OpenMP threads
        # waiting on each other for busy cores took 3.9 s where one thread takes under one.
        with threadpool_limits(limits=1):
            return communities_cluster(users["user"].to_pylist(), _matrix(users["factors"]))
    except Exception:
        logger.exception("clustering the communities from %s failed; reading the rows instead", output_dir)
        return None


def titles_place(clustering, output_dir: Path):
    """The titles of the job's output placed on the communities' map (tconst order, as the rows)."""
    if clustering is None:
        return None
    try:
        titles = pds.dataset(str(output_dir / "titles.parquet"), format="parquet").to_table(columns=["item", "factors"])
        tconsts = tconsts_from_items(titles["item"].combine_chunks())
        order = pc.sort_indices(tconsts)
        clustering.titles_project(tconsts.take(order).to_pylist(), _matrix(titles["factors"].take(order)))
        return clustering
    except Exception:
        logger.exception("placing the titles from %s failed; reading the rows instead", output_dir)
        return None


def _matrix(lists: pa.ChunkedArray) -> np.ndarray:
    """A list<float> column of equal-length lists as a (rows, width) float64 matrix."""
    lists = lists.combine_chunks()
    if not len(lists):
        return np.zeros((0, 0))
    flat = pc.list_flatten(lists).to_numpy(zero_copy_only=False).astype(np.float64)
    return flat.reshape(len(lists), -1)


def liked_from_export(path: Path):
    """The high ratings the run learned from (its export), for the communities' statistics; None
    if that file cannot be read (they are then read from the database)."""
    from recommender.communities.statistics import HIGH_SCORE, Liked

    try:
        table = pq.read_table(str(path), columns=["user", "item", "rating"])
        table = table.filter(pc.greater_equal(table["rating"], HIGH_SCORE))
        return Liked(
            table["user"].to_numpy().astype(np.int64),
            tconsts_from_items(table["item"].combine_chunks()).to_numpy(zero_copy_only=False),
        )
    except Exception:
        logger.exception("reading the high ratings from %s failed; reading the database instead", path)
        return None


def run_communities_create(run: ModelRun, clustering, liked) -> tuple[object | None, str]:
    """``recommender.communities.communities_create`` in a savepoint: (the users' and titles'
    ``Placement`` or None, the error text if it failed; a run's recommendations are still worth
    serving without communities)."""
    from recommender.communities.storing import communities_create

    if clustering is None:
        return None, ""
    try:
        with transaction.atomic():
            return communities_create(run=run, clustering=clustering, liked=liked)[1], ""
    except Exception as error:
        logger.exception("communities of run %s failed", run.pk)
        return None, f"{type(error).__name__}: {error}"


def run_communities_build(run: ModelRun, clustering=None, liked=None) -> str:
    """``recommender.communities.communities_build``; returns the error text if it failed (a run's
    recommendations are still worth serving without communities)."""
    from recommender.communities.storing import communities_build

    try:
        with transaction.atomic():
            communities_build(run=run, clustering=clustering, liked=liked)
    except Exception as error:
        logger.exception("communities of run %s failed", run.pk)
        return f"{type(error).__name__}: {error}"
    return ""
