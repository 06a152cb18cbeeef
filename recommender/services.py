"""Model runs: create, queue and train them, switch the served run atomically, clean up old ones.

This module owns the life of a ``ModelRun`` and every write of a run's rows (``Recommendation``,
``UserFactor``, ``TitleFactor``, ``SimilarTitle``). Fold-ins of single users belong to
``recommender.foldin``; taste communities to ``recommender.communities`` (called here, before the
switch, when it exists).

A training (``model_run_train``), as recommender/DESIGN.md §6 describes it:

1. one training at a time — ``imdbrec.queueing.exclusive`` (a Postgres advisory lock on a
   connection of its own, released when the process dies); a run left "running" by a killed worker
   is recognised because nobody holds the lock, and is marked failed with its rows deleted;
2. export — ratings and exclusions with ``COPY ... TO STDOUT`` into Parquet files under
   ``RECOMMENDER_EXCHANGE_DIR``;
3. the Spark job — one fresh process, ``python -m recommender.spark.train_als``, whose progress
   lines update the run while a heartbeat thread keeps ``heartbeat_at`` fresh;
4. write-back — ``COPY ... FROM STDIN`` of the job's Parquet files into the run's rows. The
   recommendations and similar titles go into tables of their own, loaded and indexed in a
   connection of their own while the communities are built (``run_partitions_load``: committed,
   but no query reads them); one transaction then writes the title and user vectors (with their
   communities), attaches those tables as the run's partitions and switches: the previous active
   run serves until that commit, and a failure (or a killed worker) anywhere before it leaves no
   row of the new run behind (its unattached tables are dropped with its rows).
"""

from __future__ import annotations

import contextlib
import io
import json
import logging
import os
import queue
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pcsv
import pyarrow.dataset as pds
import pyarrow.parquet as pq
from django.conf import settings
from django.core.cache import cache
from django.core.exceptions import ValidationError
from django.db import OperationalError, connection, transaction
from django.db.models import F
from django.utils import timezone

from imdbrec.queueing import BackgroundUnavailable
from imdbrec.runs import RunKind, RunProgress, run_active, run_create, run_execute, run_fail, run_queue, run_running
from recommender.models import ModelRun, Recommendation, SimilarTitle, TitleFactor, UserFactor
from recommender.spark.params import ParamsError, params_resolve

logger = logging.getLogger(__name__)

TRAIN_EXCLUSIVE = "recommender-train"
HEARTBEAT_SECONDS = 2.0
# Rows per COPY batch in the write-back: bounded memory whatever the run's size.
WRITE_BATCH_ROWS = 250_000
RETRAIN_COUNTER_KEY = "recommender:ratings-since-training"

# Where each phase sits on the run's progress bar.
PROGRESS_EXPORT = (0.0, 0.05)
PROGRESS_SPARK = (0.05, 0.85)
PROGRESS_WRITE_BACK = (0.85, 0.97)

RUN_TABLES = (Recommendation, SimilarTitle, UserFactor, TitleFactor)
# One partition per run (migration 0003): the write-back fills a bare table, then attaches it.
PARTITIONED_TABLES = (Recommendation, SimilarTitle)


# One training at a time (see imdbrec.runs); a failed run's rows are deleted.
MODEL_RUNS = RunKind(
    model=ModelRun,
    lock=TRAIN_EXCLUSIVE,
    busy="training run #{run.pk} is {status}; start another when it has finished.",
    refused="not started: another training (run #{other}) is running; train again when it has finished",
    orphaned="stopped: the process training it ended (killed or crashed); train again",
    expired="not started: no worker of the spark queue took it in time",
    on_fail=lambda run: _run_rows_delete([run.pk]),
)


class TrainingError(Exception):
    """A training step failed; ``str()`` is the text stored on the run."""


# --- creating and queueing -------------------------------------------------------------------------


def model_run_create(*, params: dict | None = None, triggered_by: str = "manual") -> ModelRun:
    """A queued run asking for ``params`` (overrides of the defaults in recommender/spark/params.py).

    Bad parameters raise ``ValidationError`` and nothing is written.
    """
    requested = {key: value for key, value in (params or {}).items() if value is not None}
    try:
        resolved = params_resolve(requested)
    except ParamsError as error:
        raise ValidationError(f"Bad training parameter: {error}") from error
    return run_create(MODEL_RUNS, params={**resolved, "requested": requested}, triggered_by=triggered_by[:32])


def model_run_active() -> ModelRun | None:
    """The run queued or running now, if any.

    A run marked running whose process died (worker killed: nobody holds the training lock) is
    marked failed here and its rows deleted; a queued run nobody took in time is given up.
    """
    return run_active(MODEL_RUNS)


def model_run_start(*, params: dict | None = None, triggered_by: str = "manual") -> ModelRun:
    """Create a run and queue its training on the ``spark`` queue once the row is committed.

    Refused with a ``ValidationError`` while another training is queued or running; raises
    ``imdbrec.queueing.BackgroundUnavailable`` (recording nothing) when the queue does not answer.
    """
    from recommender.tasks import model_run_train_task

    return run_queue(
        MODEL_RUNS,
        create=lambda: model_run_create(params=params, triggered_by=triggered_by),
        task=model_run_train_task,
        options={"queue": "spark"},
    )


# --- training --------------------------------------------------------------------------------------


def model_run_train(
    *, run_id: int, task_id: str = "", on_progress: Callable[[ModelRun], None] | None = None
) -> ModelRun:
    """Train run ``run_id`` from start to switch (see the module docstring). Returns the run.

    Idempotent: a finished run is returned unchanged (a redelivered task does nothing). While
    another training holds the lock the run is marked failed with a message saying so.
    ``on_progress(run)`` is called on each progress change (the management command's bar).
    """
    run = ModelRun.objects.get(pk=run_id)
    return run_execute(
        MODEL_RUNS, run, work=lambda run: _train_exclusive(run, task_id=task_id, on_progress=on_progress)
    )


class _Heartbeat:
    """Writes the run's phase, progress and ``heartbeat_at`` every few seconds from a thread with its
    own connection, so the system page moves while the main connection is busy in a transaction."""

    def __init__(self, run: ModelRun, on_progress):
        self.run = run
        self.on_progress = on_progress
        self.phase = run.phase
        self.progress = run.progress
        self.message = ""
        self._stop = threading.Event()
        self._changed = threading.Event()
        self._thread = threading.Thread(target=self._loop, name=f"model-run-{run.pk}-heartbeat", daemon=True)

    def set(self, phase: str, progress: float, message: str = "") -> None:
        self.phase, self.progress, self.message = phase[:32], max(self.progress, min(progress, 1.0)), message
        self.run.phase, self.run.progress = self.phase, self.progress
        self._changed.set()
        if self.on_progress is not None:
            self.on_progress(self.run)

    def span(self, low: float, high: float, fraction: float) -> float:
        return low + (high - low) * min(max(fraction, 0.0), 1.0)

    def _loop(self) -> None:
        # A missed beat is not worth failing a training for: the writer logs it and reconnects.
        writer = RunProgress(self.run, lock_timeout="1s")  # never wait behind the main connection
        try:
            while not self._stop.is_set():
                writer.write(progress=self.progress, message=self.message, phase=self.phase, force=True)
                self._changed.wait(HEARTBEAT_SECONDS)
                self._changed.clear()
        finally:
            writer.close()

    def __enter__(self):
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._changed.set()
        if self._thread.is_alive():
            self._thread.join(timeout=30)

    def __exit__(self, *exc):
        self.stop()


def _train_exclusive(run: ModelRun, *, task_id: str, on_progress) -> ModelRun:
    started = time.monotonic()
    run_running(run, task_id=task_id, phase="export", timings={}, metrics={}, candidates=[])
    _run_rows_delete([run.pk])  # a retried run starts from nothing
    directory = exchange_directory(run)
    heartbeat = _Heartbeat(run, on_progress)
    try:
        with heartbeat:
            params = params_resolve(run.params.get("requested") or {})
            timings: dict = {}
            shutil.rmtree(directory, ignore_errors=True)
            (directory / "input").mkdir(parents=True)
            exported: dict = {}

            def export() -> None:  # while the Spark process starts
                clock = time.monotonic()
                exported.update(ratings_export(directory=directory / "input"))
                timings["export"] = round(time.monotonic() - clock, 3)
                if not exported["ratings"]:
                    raise TrainingError(
                        "there are no ratings to learn from: rate some titles or generate synthetic users"
                    )
                run.artifact_uri = str(directory)
                ModelRun.objects.filter(pk=run.pk).update(artifact_uri=run.artifact_uri)
                heartbeat.set("spark: start", PROGRESS_SPARK[0], "starting Spark")

            clusterer = ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"model-run-{run.pk}-communities")
            clustering = None

            def job_progress(step: str, fraction: float, message: str) -> None:
                nonlocal clustering
                heartbeat.set(f"spark: {step}", heartbeat.span(*PROGRESS_SPARK, fraction), message)
                if step == "similar" and clustering is None:
                    # Every user's vectors are written: cluster them while Spark finds similar titles.
                    clustering = clusterer.submit(_communities_cluster, directory / "output")

            heartbeat.set("export", PROGRESS_EXPORT[0], "exporting ratings (Spark starts meanwhile)")
            clock = time.monotonic()
            result = spark_job_run(
                input_dir=directory / "input",
                output_dir=directory / "output",
                params=params,
                on_progress=job_progress,
                log_path=directory / "spark.log",
                input_prepare=export,
            )
            # from the start of the export, which the Spark process's start overlaps
            timings["spark"] = round(time.monotonic() - clock, 3)
            job = result.get("timings", {})
            timings["spark_start"] = job.get("spark_start")
            fits = (job.get("fit_rating") or 0.0) + (job.get("fit_ranking") or 0.0)
            timings["fit"] = round(fits + (job.get("prepare") or 0.0) + (job.get("collect") or 0.0), 3)
            timings["grid"] = job.get("grid")
            timings["evaluate"] = job.get("evaluate")
            timings["recommend"] = job.get("recommend")
            timings["similar"] = job.get("similar")
            timings["job"] = job

            # The recommendations and similar titles load in a connection of their own (committed
            # but not attached: nothing reads them) while the communities are built; the switch's
            # transaction then writes the vectors with their communities and attaches them.
            heartbeat.set("write-back", PROGRESS_WRITE_BACK[0], "loading the results into Postgres")
            cancel = threading.Event()
            writing_started = time.monotonic()
            loader = ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"model-run-{run.pk}-rows")
            loading = loader.submit(
                _own_connection,
                run_partitions_load,
                run=run,
                output_dir=directory / "output",
                heartbeat=heartbeat,
                cancel=cancel,
            )
            try:
                clock = time.monotonic()
                clustered = clustering.result() if clustering else _communities_cluster(directory / "output")
                clusterer.shutdown()
                timings["communities_clustering_wait"] = round(time.monotonic() - clock, 3)
                heartbeat.set("communities", PROGRESS_WRITE_BACK[0], "building taste communities")
                heartbeat.stop()  # from here on the main connection writes the run's row
                liked = _liked_from_export(directory / "input" / "ratings.parquet")
                with transaction.atomic():
                    clock = time.monotonic()
                    placement, communities_error = _communities_create(
                        run, _communities_titles(clustered, directory / "output"), liked
                    )
                    timings["communities"] = round(time.monotonic() - clock, 3)
                    written = run_rows_write(
                        run=run,
                        output_dir=directory / "output",
                        placement=placement,
                        partitions_loaded=lambda: loading.result()[0],
                    )
                    # From the first COPY to the attaching (the communities were built meanwhile).
                    timings["write_back"] = round(time.monotonic() - writing_started, 3)
                    timings["write_back_partitions"] = round(loading.result()[1], 3)
                    timings["write_back_rows_per_second"] = round(
                        sum(written.values()) / max(timings["write_back"], 1e-9)
                    )
                    if clustered is None:  # clustering the job's files failed: from the rows just written
                        clock = time.monotonic()
                        communities_error = _communities_build(run, None, liked)
                        timings["communities"] += round(time.monotonic() - clock, 3)
                    clock = time.monotonic()
                    # communities_create stored its own metrics (ARI, map) on the run's row: keep them.
                    run.refresh_from_db(fields=["metrics"])
                    metrics = {**(run.metrics or {}), **dict(result.get("metrics") or {})}
                    if communities_error:
                        metrics["communities_error"] = communities_error
                    run.params = {
                        **params,
                        "requested": run.params.get("requested") or {},
                        "model": result.get("model") or {},
                    }
                    run.metrics = metrics
                    run.candidates = result.get("candidates") or []
                    run.num_users = exported["users"]
                    run.num_titles = exported["titles"]
                    run.num_ratings = exported["ratings"]
                    run.metrics["rows"] = written
                    run.metrics["exported"] = exported
                    _switch(run)
                    timings["switch"] = round(time.monotonic() - clock, 3)
                    timings["total"] = round(time.monotonic() - started, 3)
                    run.timings = timings
                    run.save(update_fields=["timings", "metrics"])
            finally:
                if not loading.done():
                    cancel.set()  # stops at its next batch; its transaction rolls back
                loader.shutdown(wait=True)
    except BaseException as error:  # SoftTimeLimitExceeded and KeyboardInterrupt too: never leave it running
        heartbeat.stop()
        message = str(error) if isinstance(error, TrainingError) else f"{type(error).__name__}: {error}"
        if not isinstance(error, TrainingError):
            logger.exception("model run %s failed", run.pk)
        _run_fail(run, message or type(error).__name__)
        run.refresh_from_db()
        if not isinstance(error, Exception):
            raise
        return run
    if on_progress is not None:
        on_progress(run)
    shutil.rmtree(directory, ignore_errors=True)
    with contextlib.suppress(Exception):
        model_run_cleanup()
    with contextlib.suppress(Exception):
        cache.delete(RETRAIN_COUNTER_KEY)
    return run


def _switch(run: ModelRun) -> None:
    """Inside the write-back transaction: the new run becomes the one served, the old one stops."""
    ModelRun.objects.filter(is_active=True).exclude(pk=run.pk).update(is_active=False)
    run.is_active = True
    run.status = ModelRun.Status.SUCCEEDED
    run.phase = "done"
    run.progress = 1.0
    run.finished_at = timezone.now()
    run.heartbeat_at = run.finished_at
    run.save()
    # Fold-ins were solved against the old run's title vectors: solve them again on next view.
    from recommender.models import UserFoldIn

    UserFoldIn.objects.exclude(run=run).update(stale=True)


@transaction.atomic
def model_run_activate(*, run: ModelRun) -> ModelRun:
    """Serve an earlier run again (a rollback): it must have succeeded and still have its rows."""
    run = ModelRun.objects.select_for_update().get(pk=run.pk)
    if run.status != ModelRun.Status.SUCCEEDED:
        raise ValidationError(
            f"Run #{run.pk} is {run.get_status_display().lower()}: only a succeeded run can be served."
        )
    if not TitleFactor.objects.filter(run=run).exists():
        raise ValidationError(f"Run #{run.pk}'s rows were cleaned up (RECOMMENDER_KEEP_RUNS); train again instead.")
    if not run.is_active:
        ModelRun.objects.filter(is_active=True).update(is_active=False)
        run.is_active = True
        run.save(update_fields=["is_active"])
        from recommender.models import UserFoldIn

        UserFoldIn.objects.exclude(run=run).update(stale=True)
    return run


def _communities_cluster(output_dir: Path):
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


def _communities_titles(clustering, output_dir: Path):
    """The titles of the job's output placed on the communities' map (tconst order, as the rows)."""
    if clustering is None:
        return None
    try:
        titles = pds.dataset(str(output_dir / "titles.parquet"), format="parquet").to_table(columns=["item", "factors"])
        tconsts = _tconsts(titles["item"].combine_chunks())
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


def _liked_from_export(path: Path):
    """The high ratings the run learned from (its export), for the communities' statistics; None
    if that file cannot be read (they are then read from the database)."""
    from recommender.communities.statistics import HIGH_SCORE, Liked

    try:
        table = pq.read_table(str(path), columns=["user", "item", "rating"])
        table = table.filter(pc.greater_equal(table["rating"], HIGH_SCORE))
        return Liked(
            table["user"].to_numpy().astype(np.int64),
            _tconsts(table["item"].combine_chunks()).to_numpy(zero_copy_only=False),
        )
    except Exception:
        logger.exception("reading the high ratings from %s failed; reading the database instead", path)
        return None


def _own_connection(function: Callable, /, **kwargs) -> tuple:
    """``function(**kwargs)`` in a thread's own database connection, closed after; returns its
    result and the seconds it took."""
    clock = time.monotonic()
    try:
        return function(**kwargs), time.monotonic() - clock
    finally:
        connection.close()


def _communities_create(run: ModelRun, clustering, liked) -> tuple[object | None, str]:
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


def _communities_build(run: ModelRun, clustering=None, liked=None) -> str:
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


def _run_fail(run: ModelRun, error: str) -> None:
    """Mark ``run`` failed (if it is not finished) and delete whatever rows it has."""
    run_fail(MODEL_RUNS, run, error, is_active=False)


def _partition(model, run_id: int) -> str:
    """The table holding ``model``'s rows of one run (migration 0003: partitioned by run)."""
    return f"{model._meta.db_table}_run{int(run_id)}"


def _partitions_drop(cursor, model, run_ids) -> None:
    """Drop the runs' partitions of ``model``: instant, where deleting a million rows is not. It
    briefly locks the whole table, so it waits at most 5 s for readers; if it cannot, the rows are
    deleted instead (below) and the empty partition goes with a later cleanup."""
    for run_id in run_ids:
        try:
            with transaction.atomic():
                cursor.execute("SELECT set_config('lock_timeout', '5s', true)")
                cursor.execute(f"DROP TABLE IF EXISTS {_partition(model, run_id)}")
        except OperationalError as error:
            logger.warning("partition %s not dropped now: %s", _partition(model, run_id), error)


def _partitioned_runs(cursor, model) -> set[int]:
    """Runs that have a table of ``model``'s rows: a partition (maybe empty), or one loaded but never
    attached (its training died between ``run_partitions_load`` and the switch)."""
    prefix = f"{model._meta.db_table}_run"
    cursor.execute(
        "SELECT relname FROM pg_class WHERE relkind = 'r' AND relnamespace = current_schema()::regnamespace "
        "AND starts_with(relname, %s)",
        [prefix],
    )
    return {int(name.removeprefix(prefix)) for (name,) in cursor.fetchall() if name.removeprefix(prefix).isdigit()}


def _run_rows_delete(run_ids: list[int]) -> None:
    if not run_ids:
        return
    with connection.cursor() as cursor:
        for model in RUN_TABLES:
            if model in PARTITIONED_TABLES:
                _partitions_drop(cursor, model, run_ids)
            # rows of a partitioned table outside the run's partition are in its default partition
            cursor.execute(f"DELETE FROM {model._meta.db_table} WHERE run_id = ANY(%s)", [list(run_ids)])  # noqa: S608
    from recommender.models import TasteCommunity

    TasteCommunity.objects.filter(run_id__in=run_ids).delete()


def model_run_cleanup(*, keep: int | None = None) -> list[int]:
    """Delete the rows of old runs: all but the active run and the ``keep - 1`` latest succeeded runs
    before it keep theirs (``RECOMMENDER_KEEP_RUNS``, default 2). The ``ModelRun`` rows stay, with
    their metrics, as the history. Exchange directories of finished runs are removed too. Returns
    the ids whose rows were deleted."""
    keep = keep if keep is not None else getattr(settings, "RECOMMENDER_KEEP_RUNS", 2)
    succeeded = list(
        ModelRun.objects.filter(status=ModelRun.Status.SUCCEEDED)
        .order_by("-is_active", F("finished_at").desc(nulls_last=True), "-pk")
        .values_list("pk", flat=True)
    )
    kept = set(succeeded[: max(keep, 1)])
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT DISTINCT run_id FROM {TitleFactor._meta.db_table} "  # noqa: S608
            f"UNION SELECT DISTINCT run_id FROM {Recommendation._meta.db_table}_default"
        )
        with_rows = {row[0] for row in cursor.fetchall()}
        for model in PARTITIONED_TABLES:
            with_rows |= _partitioned_runs(cursor, model)
    busy = set(
        ModelRun.objects.filter(status__in=[ModelRun.Status.QUEUED, ModelRun.Status.RUNNING]).values_list(
            "pk", flat=True
        )
    )
    doomed = sorted(with_rows - kept - busy)
    _run_rows_delete(doomed)
    # Exchanged files: a failed run keeps its own (spark.log) until a later training succeeds.
    base = exchange_directory(ModelRun(pk=0)).parent
    for directory in base.glob("run-*") if base.is_dir() else []:
        suffix = directory.name.removeprefix("run-")
        if suffix.isdigit() and int(suffix) not in busy:
            shutil.rmtree(directory, ignore_errors=True)
    return doomed


# --- export ----------------------------------------------------------------------------------------

# Titles whose id maps back exactly: "tt" + at least 7 digits, no extra leading zero.
CANONICAL_TCONST = r"^tt([0-9]{7}|[1-9][0-9]{7,8})$"

EXPORT_RATINGS_SQL = f"""
    COPY (
        SELECT r.user_id, substring(r.title_id from 3)::int, r.score
        FROM ratings_rating r JOIN catalog_title t ON t.tconst = r.title_id
        WHERE t.removed_at IS NULL AND r.title_id ~ '{CANONICAL_TCONST}'
    ) TO STDOUT WITH (FORMAT csv)
"""
EXPORT_EXCLUSIONS_SQL = f"""
    COPY (
        SELECT user_id, substring(title_id from 3)::int FROM ratings_watchlistitem WHERE title_id ~ '{CANONICAL_TCONST}'
        UNION
        SELECT user_id, substring(title_id from 3)::int FROM ratings_notinterested WHERE title_id ~ '{CANONICAL_TCONST}'
    ) TO STDOUT WITH (FORMAT csv)
"""


def ratings_export(*, directory: Path) -> dict:
    """``ratings.parquet`` and ``exclusions.parquet`` in ``directory``; returns the counts."""
    directory.mkdir(parents=True, exist_ok=True)
    ratings = _copy_out_parquet(
        EXPORT_RATINGS_SQL,
        directory / "ratings.parquet",
        [("user", pa.int32()), ("item", pa.int32()), ("rating", pa.float32())],
    )
    exclusions = _copy_out_parquet(
        EXPORT_EXCLUSIONS_SQL, directory / "exclusions.parquet", [("user", pa.int32()), ("item", pa.int32())]
    )
    return {
        "ratings": ratings.num_rows,
        "users": len(pc.unique(ratings["user"])) if ratings.num_rows else 0,
        "titles": len(pc.unique(ratings["item"])) if ratings.num_rows else 0,
        "exclusions": exclusions.num_rows,
    }


def _copy_out_parquet(sql: str, path: Path, columns: list[tuple[str, pa.DataType]]) -> pa.Table:
    csv_path = path.with_suffix(".csv")
    with open(csv_path, "wb") as stream, connection.cursor() as cursor:
        cursor.copy_expert(sql, stream, 1 << 20)
    schema = pa.schema(columns)
    if csv_path.stat().st_size:
        table = pcsv.read_csv(
            csv_path,
            read_options=pcsv.ReadOptions(column_names=[name for name, _ in columns]),
            convert_options=pcsv.ConvertOptions(column_types=dict(columns)),
        )
    else:
        table = schema.empty_table()
    pq.write_table(table, path)
    csv_path.unlink()
    return table


def exchange_directory(run: ModelRun) -> Path:
    """``RECOMMENDER_EXCHANGE_DIR/<database>/run-<id>``: test databases and the dev database never
    share a directory even when their run ids are equal."""
    database = connection.settings_dict.get("NAME") or "db"
    return Path(settings.RECOMMENDER_EXCHANGE_DIR) / database / f"run-{run.pk}"


# --- the Spark job ---------------------------------------------------------------------------------


class SparkJobError(TrainingError):
    pass


INPUT_READY = "ready"


def spark_class_archive_build(*, force: bool = False) -> tuple[bool, str]:
    """Build ``SPARK_CLASS_ARCHIVE`` (the Spark driver JVM's class data sharing archive) in a
    process of its own, unless it exists. Returns (built now, a line for the user)."""
    archive = settings.SPARK_CLASS_ARCHIVE
    if not archive:
        return False, "SPARK_CLASS_ARCHIVE is empty: Spark starts without a class archive"
    path = Path(archive)
    if path.is_file() and not force:
        return False, f"{path} exists ({path.stat().st_size / 2**20:.0f} MB)"
    started = time.monotonic()
    result = subprocess.run(
        [sys.executable, "-m", "recommender.spark.class_archive", str(path)],
        cwd=str(settings.BASE_DIR),
        capture_output=True,
        text=True,
        env={**os.environ, "OPENBLAS_NUM_THREADS": os.environ.get("OPENBLAS_NUM_THREADS", "1")},
    )
    if result.returncode != 0 or not path.is_file():
        lines = [line for line in result.stderr.splitlines() if line.strip() and "[warning][cds]" not in line]
        raise SparkJobError(f"the class archive was not built: {lines[-1] if lines else result.returncode}")
    return True, f"built {path} ({path.stat().st_size / 2**20:.0f} MB) in {time.monotonic() - started:.0f} s"


def spark_job_run(
    *,
    input_dir: Path,
    output_dir: Path,
    params: dict,
    log_path: Path,
    on_progress: Callable[[str, float, str], None] | None = None,
    bare_fit: bool = False,
    input_prepare: Callable[[], None] | None = None,
) -> dict:
    """Run ``python -m recommender.spark.train_als`` as a fresh process; returns its RESULT.

    With ``input_prepare``, the process starts first and that function (the export) runs while
    the JVM and the Spark session start (a few seconds saved); the job waits for the marker
    written when it returns. Spark's own logs go to ``log_path``. A non-zero exit raises
    ``SparkJobError`` with the job's error line. Any exception here (a failed export, a Celery
    time limit, Ctrl-C) kills the job's process group.
    """
    command = [
        sys.executable,
        "-m",
        "recommender.spark.train_als",
        "--input",
        str(input_dir),
        "--params",
        json.dumps(params),
        "--master",
        settings.SPARK_MASTER,
    ]
    command += ["--bare-fit"] if bare_fit else ["--output", str(output_dir)]
    if input_prepare is not None:
        command += ["--wait-for", str(input_dir / INPUT_READY)]
    base_dir = str(settings.BASE_DIR)
    environment = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([base_dir, *filter(None, [os.environ.get("PYTHONPATH")])]),
        "SPARK_MASTER": settings.SPARK_MASTER,
        "SPARK_DRIVER_MEMORY": str(settings.SPARK_DRIVER_MEMORY),
        "SPARK_SHUFFLE_PARTITIONS": str(settings.SPARK_SHUFFLE_PARTITIONS),
        "SPARK_CLASS_ARCHIVE": settings.SPARK_CLASS_ARCHIVE,
        "PYTHONUNBUFFERED": "1",
        # Spark's ALS calls native BLAS (OpenBLAS, when installed) once per rating with small
        # vectors: threads inside each call only fight Spark's own tasks for the cores.
        "OPENBLAS_NUM_THREADS": os.environ.get("OPENBLAS_NUM_THREADS", "1"),
        # The job asks the kernel to stop it when this process dies (a killed worker leaves no orphan).
        "IMDBREC_PARENT_PID": str(os.getpid()),
    }
    result = None
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with open(log_path, "w") as log:
        process = subprocess.Popen(
            command,
            stdout=subprocess.PIPE,
            stderr=log,
            text=True,
            cwd=base_dir,
            env=environment,
            start_new_session=True,
        )
        try:
            if input_prepare is not None:
                input_prepare()
                (input_dir / INPUT_READY).touch()
            assert process.stdout is not None  # stdout=PIPE
            for line in process.stdout:
                if line.startswith("PROGRESS ") and on_progress is not None:
                    with contextlib.suppress(ValueError, KeyError):
                        progress = json.loads(line[9:])
                        on_progress(progress["step"], float(progress["progress"]), progress.get("message", ""))
                elif line.startswith("RESULT "):
                    result = json.loads(line[7:])
                    # Every output file is complete: the write-back need not wait for Spark to
                    # stop (a second or two); the process is reaped in the background.
                    threading.Thread(
                        target=_process_reap, args=(process,), daemon=True, name=f"spark-job-{process.pid}-reaper"
                    ).start()
                    return result
            returncode = process.wait()
        except BaseException:
            _process_group_kill(process)
            raise
    if returncode != 0 or result is None:
        raise SparkJobError(f"the Spark job failed (exit status {returncode}): {_job_error(log_path)}")
    return result


def _process_reap(process: subprocess.Popen, timeout: float = 120) -> None:
    """Let a job that has reported its result stop on its own; stop it if it does not."""
    assert process.stdout is not None  # started with stdout=PIPE
    try:
        for _line in process.stdout:
            pass
        process.wait(timeout=timeout)
    except (subprocess.TimeoutExpired, OSError, ValueError):
        _process_group_kill(process)


def _process_group_kill(process: subprocess.Popen) -> None:
    for sig, wait in ((signal.SIGTERM, 10), (signal.SIGKILL, 10)):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, sig)
        try:
            process.wait(timeout=wait)
            return
        except subprocess.TimeoutExpired:
            continue


def _job_error(log_path: Path) -> str:
    try:
        lines = log_path.read_text(errors="replace").splitlines()
    except OSError:
        return "no log"
    errors = [line[6:] for line in lines if line.startswith("ERROR ")]
    if errors:
        return errors[-1]
    tail = [line for line in lines if line.strip()][-5:]
    return " | ".join(tail)[-2000:] or "no output"


# --- write-back ------------------------------------------------------------------------------------


def _tconsts(items: pa.Array) -> pa.Array:
    """Item ids back to tconsts (the export kept only ids that map back exactly)."""
    digits = pc.utf8_lpad(pc.cast(items, pa.string()), width=7, padding="0")
    return pc.binary_join_element_wise("tt", digits, "")


def _pg_arrays(values: pa.Array) -> pa.Array:
    """list<float> to Postgres array literals ``{0.1,-2.5e-07}`` (pyarrow's shortest float text)."""
    joined = pc.binary_join(pc.cast(values, pa.list_(pa.string())), ",")
    return pc.binary_join_element_wise("{", joined, "}", "")


def _ids_reserve(cursor, table: str, count: int) -> int:
    """Reserve ``count`` ids of ``table`` in one call (instead of a nextval per row); returns the
    first. Only a training writes these tables, one at a time; unused ids are just a gap."""
    cursor.execute(
        "SELECT setval(pg_get_serial_sequence(%s, 'id'), nextval(pg_get_serial_sequence(%s, 'id')) + %s)",
        [table, table, max(count, 1) - 1],
    )
    return cursor.fetchone()[0] - max(count, 1) + 1


def _csv(data: pa.Table, first_id: int) -> bytes:
    data = data.add_column(0, "id", pa.array(np.arange(first_id, first_id + data.num_rows, dtype=np.int64)))
    buffer = io.BytesIO()
    pcsv.write_csv(data, buffer, pcsv.WriteOptions(include_header=False, batch_size=65536))
    return buffer.getvalue()


def _batches(path: Path, columns: list[str], sort_key: Callable[[pa.Table], pa.Array], batch_size: int = 5_000):
    """The file's rows in batches, in the order of ``sort_key`` (the rows' key in their table):
    rows then reach each index of their table in key order (appended at its right edge, not
    inserted all over it), which makes the COPY markedly faster. The job's files hold one part
    per Spark task, so they are read whole (one run's output: tens of MB) and sorted."""
    if not path.exists():
        return
    table = pds.dataset(str(path), format="parquet").to_table(columns=columns)
    yield from table.take(pc.sort_indices(sort_key(table))).to_batches(max_chunksize=batch_size)


def _by_tconst(table: pa.Table) -> pa.Array:
    return _tconsts(table["item"].combine_chunks())


def _by_user(table: pa.Table) -> pa.Array:
    return table["user"]


TABLE_COLUMNS = {
    TitleFactor: ["run_id", "title_id", "factors", "rating_factors", "bias", "support", "x", "y"],
    UserFactor: ["run_id", "user_id", "factors", "rating_factors", "bias", "community_id", "x", "y"],
    Recommendation: ["run_id", "user_id", "title_id", "rank", "score", "predicted_rating", "confidence"],
    SimilarTitle: ["run_id", "title_id", "similar_id", "rank", "score"],
}
TABLE_NAMES = {
    TitleFactor: "title_factors",
    UserFactor: "user_factors",
    Recommendation: "recommendations",
    SimilarTitle: "similar_titles",
}


def _constant(size: int, value) -> pa.Array:
    return pa.array(np.full(size, value, dtype=np.int64))


def _placed(keys: pa.Array, placed_keys: pa.Array, columns: list[np.ndarray]) -> list[pa.Array]:
    """``columns`` (aligned with ``placed_keys``) for the rows ``keys``; null where a key has no place."""
    index = pc.index_in(keys, value_set=placed_keys)
    missing = index.is_null().to_numpy(zero_copy_only=False)
    rows = index.fill_null(0).to_numpy(zero_copy_only=False)
    return [
        pa.array(np.asarray(column)[rows] if len(column) else np.zeros(len(keys), column.dtype), mask=missing)
        for column in columns
    ]


def _factor_pieces(run_id: int, output_dir: Path, placement=None):
    """(model, table) of the run's title and user vectors, with their community and place on the
    map when ``placement`` (``recommender.communities.Placement``) is given."""
    if placement is not None:
        titles, titles_xy = pa.array(placement.title_ids, pa.string()), np.asarray(placement.title_xy).reshape(-1, 2)
        users, users_xy = pa.array(placement.user_ids, pa.int64()), np.asarray(placement.user_xy).reshape(-1, 2)
        communities = np.asarray(placement.community_ids, dtype=np.int64)
    else:
        titles, titles_xy = pa.array([], pa.string()), np.zeros((0, 2))
        users, users_xy, communities = pa.array([], pa.int64()), np.zeros((0, 2)), np.zeros(0, np.int64)
    for batch in _batches(
        output_dir / "titles.parquet", ["item", "factors", "rating_factors", "bias", "support"], _by_tconst
    ):
        tconsts = _tconsts(batch["item"])
        x, y = _placed(tconsts, titles, [titles_xy[:, 0], titles_xy[:, 1]])
        yield (
            TitleFactor,
            pa.table(
                [
                    _constant(batch.num_rows, run_id),
                    tconsts,
                    _pg_arrays(batch["factors"]),
                    _pg_arrays(batch["rating_factors"]),
                    batch["bias"],
                    batch["support"],
                    x,
                    y,
                ],
                names=TABLE_COLUMNS[TitleFactor],
            ),
        )
    for batch in _batches(output_dir / "users.parquet", ["user", "factors", "rating_factors", "bias"], _by_user):
        owners = pc.cast(batch["user"], pa.int64())
        community, x, y = _placed(owners, users, [communities, users_xy[:, 0], users_xy[:, 1]])
        yield (
            UserFactor,
            pa.table(
                [
                    _constant(batch.num_rows, run_id),
                    owners,
                    _pg_arrays(batch["factors"]),
                    _pg_arrays(batch["rating_factors"]),
                    batch["bias"],
                    community,
                    x,
                    y,
                ],
                names=TABLE_COLUMNS[UserFactor],
            ),
        )


def _partition_pieces(run_id: int, output_dir: Path):
    """(model, table, users) of the run's recommendations and similar titles."""
    for batch in _batches(
        output_dir / "users.parquet", ["user", "items", "scores", "predicted", "confidence"], _by_user
    ):
        yield (
            Recommendation,
            _exploded(
                run_id, batch["user"], batch["items"], [batch["scores"], batch["predicted"], batch["confidence"]]
            ),
            batch.num_rows,
        )
    for batch in _batches(output_dir / "similar.parquet", ["item", "similar", "scores"], _by_tconst, batch_size=20_000):
        yield SimilarTitle, _exploded(run_id, _tconsts(batch["item"]), batch["similar"], [batch["scores"]]), 0


def _row_bounds(output_dir: Path, models) -> dict:
    """Rows each of ``models``' tables will get (exact, from the Parquet files' list lengths)."""

    def rows(name: str, column: str | None = None) -> int:
        path = output_dir / name
        if not path.exists():
            return 0
        dataset = pds.dataset(str(path), format="parquet")
        if column is None:
            return dataset.count_rows()
        return sum(
            int(pc.sum(pc.list_value_length(batch[column])).as_py() or 0)
            for batch in dataset.to_batches(columns=[column])
        )

    sources = {
        TitleFactor: ("titles.parquet", None),
        UserFactor: ("users.parquet", None),
        Recommendation: ("users.parquet", "items"),
        SimilarTitle: ("similar.parquet", "similar"),
    }
    return {model: rows(*sources[model]) for model in models}


def _rows_copy(
    cursor,
    pieces,
    *,
    target: dict,
    first_ids: dict,
    on_users: Callable[[int], None] | None = None,
    cancel: threading.Event | None = None,
) -> dict:
    """COPY each (model, table[, users]) of ``pieces`` into ``target[model]``, ids from ``first_ids``.
    A thread turns the Arrow tables into CSV while this thread COPYs the previous one (pyarrow
    releases the GIL). Returns the rows written per table name."""
    counts = {TABLE_NAMES[model]: 0 for model in target}
    pending: queue.Queue = queue.Queue(maxsize=3)
    stop = threading.Event()
    next_id = dict(first_ids)

    def produce():
        try:
            for model, data, *users in pieces:
                body = _csv(data, next_id[model])
                next_id[model] += data.num_rows
                while not stop.is_set():
                    try:
                        pending.put((model, body, data.num_rows, users[0] if users else 0), timeout=0.5)
                        break
                    except queue.Full:
                        continue
                if stop.is_set():
                    return
            pending.put(None)
        except BaseException as error:  # handed to the writer, which raises it
            pending.put(error)

    producer = threading.Thread(target=produce, name=f"{threading.current_thread().name}-csv", daemon=True)
    producer.start()
    try:
        while (item := pending.get()) is not None:
            if isinstance(item, BaseException):
                raise item
            if cancel is not None and cancel.is_set():
                raise TrainingError("the write-back was cancelled")
            model, body, rows, users = item
            columns = ", ".join(["id", *TABLE_COLUMNS[model]])
            cursor.copy_expert(
                f"COPY {target[model]} ({columns}) FROM STDIN WITH (FORMAT csv)", io.BytesIO(body), 1 << 20
            )
            counts[TABLE_NAMES[model]] += rows
            if users and on_users is not None:
                on_users(users)
    finally:
        stop.set()
        producer.join(timeout=30)
    return counts


def _partition_keys_build(cursor, model, table: str) -> None:
    """Give ``table`` (a run's rows, not attached yet) the keys and indexes of ``model``'s partitioned
    table, read from the catalog: ATTACH PARTITION then adopts them instead of building its own."""
    cursor.execute(
        "SELECT pg_get_indexdef(i.indexrelid), c.contype, pg_get_constraintdef(c.oid) FROM pg_index i "
        "LEFT JOIN pg_constraint c ON c.conindid = i.indexrelid AND c.conrelid = i.indrelid "
        "WHERE i.indrelid = %s::regclass ORDER BY i.indexrelid",
        [model._meta.db_table],
    )
    for number, (index, kind, constraint) in enumerate(cursor.fetchall()):
        if kind in ("p", "u"):
            cursor.execute(f"ALTER TABLE {table} ADD CONSTRAINT {table}_key{number} {constraint}")
        else:
            cursor.execute(f"CREATE INDEX {table}_index{number} ON {table} USING {index.split(' USING ', 1)[1]}")


def run_partitions_load(
    *, run: ModelRun, output_dir: Path, heartbeat: _Heartbeat | None = None, cancel: threading.Event | None = None
) -> dict:
    """The run's recommendations and similar titles, COPYed into tables of their own (no index to
    update row by row), then given the partitioned tables' keys: committed, but read by nothing
    until ``run_rows_write`` attaches them in the transaction that switches to the run. The
    training calls this in a thread (a connection of its own) while it builds the communities; a
    failed run has these tables dropped with its rows (``_run_rows_delete``). Returns row counts."""
    bounds = _row_bounds(output_dir, (UserFactor, *PARTITIONED_TABLES))
    total_users, done_users = bounds[UserFactor], 0

    def on_users(users: int) -> None:
        nonlocal done_users
        done_users += users
        if heartbeat is not None and total_users:
            heartbeat.set(
                "write-back",
                heartbeat.span(*PROGRESS_WRITE_BACK, 0.8 * done_users / total_users),
                f"recommendations of {done_users:,} of {total_users:,} users",
            )

    with transaction.atomic(), connection.cursor() as cursor:
        first_ids = {model: _ids_reserve(cursor, model._meta.db_table, bounds[model]) for model in PARTITIONED_TABLES}
        target = {model: _partition(model, run.pk) for model in PARTITIONED_TABLES}
        for model, table in target.items():
            cursor.execute(f"DROP TABLE IF EXISTS {table}")
            cursor.execute(
                f"CREATE TABLE {table} (LIKE {model._meta.db_table} INCLUDING DEFAULTS, CHECK (run_id = {int(run.pk)}))"
            )
        counts = _rows_copy(
            cursor,
            _partition_pieces(run.pk, output_dir),
            target=target,
            first_ids=first_ids,
            on_users=on_users,
            cancel=cancel,
        )
        for model, table in target.items():
            _partition_keys_build(cursor, model, table)
    return counts


def run_rows_write(
    *,
    run: ModelRun,
    output_dir: Path,
    heartbeat: _Heartbeat | None = None,
    placement=None,
    partitions_loaded: Callable[[], dict] | None = None,
) -> dict:
    """COPY the run's title and user vectors (with their ``placement``: community and map) and attach
    its recommendations and similar titles as the run's partitions; call inside the transaction
    that switches to the run. ``partitions_loaded``: when ``run_partitions_load`` runs elsewhere
    (the training: a thread), returns its counts once it has finished; without it the partitions
    are loaded here first. Returns the rows written per table."""
    if partitions_loaded is None:
        loaded = run_partitions_load(run=run, output_dir=output_dir, heartbeat=heartbeat)
        partitions_loaded = lambda: loaded  # noqa: E731
    bounds = _row_bounds(output_dir, (TitleFactor, UserFactor))
    with connection.cursor() as cursor:
        first_ids = {model: _ids_reserve(cursor, model._meta.db_table, count) for model, count in bounds.items()}
        counts = _rows_copy(
            cursor,
            _factor_pieces(run.pk, output_dir, placement),
            target={model: model._meta.db_table for model in bounds},
            first_ids=first_ids,
        )
        partitions = partitions_loaded()
        for model in PARTITIONED_TABLES:  # their keys are built: only linked here
            cursor.execute(
                f"ALTER TABLE {model._meta.db_table} ATTACH PARTITION {_partition(model, run.pk)} "
                f"FOR VALUES IN ({int(run.pk)})"
            )
    return {**counts, **partitions}


def _exploded(run_id: int, owners: pa.Array, lists: pa.Array, parallel: list[pa.Array]) -> pa.Table:
    """One row per list element: run, owner, tconst, rank (1-based), the parallel lists' values."""
    lists = lists.combine_chunks() if isinstance(lists, pa.ChunkedArray) else lists
    parents = pc.list_parent_indices(lists)
    lengths = pc.list_value_length(lists).fill_null(0).to_numpy(zero_copy_only=False)
    starts = np.repeat(np.cumsum(lengths) - lengths, lengths)
    ranks = (np.arange(len(parents)) - starts + 1).astype(np.int16)
    flat_items = pc.list_flatten(lists)
    columns = [
        pa.array(np.full(len(parents), run_id, dtype=np.int64)),
        pc.take(owners, parents),
        _tconsts(flat_items),
        pa.array(ranks),
    ]
    columns += [pc.list_flatten(values) for values in parallel]
    return pa.table(columns, names=[f"c{index}" for index in range(len(columns))])


# --- the real-time hook and automatic retraining ---------------------------------------------------


def recommendation_mark_stale(*, user) -> None:
    """Called by ratings after a user's ratings change (after commit). Their fold-in is already
    marked stale by ratings; here we count ratings towards an automatic retraining when
    ``RECOMMENDER_RETRAIN_AFTER_RATINGS`` is set (0, the default, turns it off)."""
    threshold = getattr(settings, "RECOMMENDER_RETRAIN_AFTER_RATINGS", 0)
    if not threshold:
        return
    try:
        count = cache.incr(RETRAIN_COUNTER_KEY)
    except ValueError:
        cache.set(RETRAIN_COUNTER_KEY, 1, timeout=None)
        count = 1
    if count and count >= threshold:
        cache.set(RETRAIN_COUNTER_KEY, 0, timeout=None)
        with contextlib.suppress(ValidationError, BackgroundUnavailable):
            model_run_start(triggered_by="retrain-after-ratings")
