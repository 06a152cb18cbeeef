"""One training from start to switch: ``model_run_train`` runs its phases in order.

As recommender/DESIGN.md §6 describes it:

1. one training at a time — ``imdbrec.queueing.exclusive(TRAIN_EXCLUSIVE)``; the run is marked
   running (``recommender.training.runs``) and a heartbeat thread keeps it fresh;
2. export (``_export``) — ratings and exclusions with ``COPY ... TO STDOUT`` into Parquet files under
   ``RECOMMENDER_EXCHANGE_DIR``, while the Spark process starts;
3. the Spark job (``_spark_job``) — one fresh process, ``python -m recommender.spark.train_als``,
   whose progress lines update the run; the users are clustered into communities as soon as their
   vectors are written;
4. write-back (``_write_back``) — ``COPY ... FROM STDIN`` of the job's Parquet files into the run's
   rows. The recommendations and similar titles go into tables of their own, loaded and indexed in
   a connection of their own while the communities are built (``run_partitions_load``: committed,
   but no query reads them); one transaction then writes the title and user vectors (with their
   communities, ``_rows_write``), attaches those tables as the run's partitions and switches
   (``_switch``): the previous active run serves until that commit, and a failure (or a killed
   worker) anywhere before it leaves no row of the new run behind (its unattached tables are
   dropped with its rows).
"""

from __future__ import annotations

import contextlib
import functools
import logging
import shutil
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from django.db import connection, transaction

from imdbrec.runs import run_execute
from recommender.models import ModelRun
from recommender.spark.params import params_resolve
from recommender.training.communities import (
    liked_from_export,
    run_communities_build,
    run_communities_create,
    titles_place,
    users_cluster,
)
from recommender.training.export import content_export, exchange_directory, ratings_export
from recommender.training.retrain import retrain_counter_reset
from recommender.training.runs import (
    MODEL_RUNS,
    PROGRESS_EXPORT,
    PROGRESS_SPARK,
    PROGRESS_WRITE_BACK,
    Heartbeat,
    TrainingError,
    model_run_cleanup,
    model_run_fail,
    model_run_mark_running,
    model_run_switch,
)
from recommender.training.spark_job import spark_job_run
from recommender.training.write_back import run_partitions_load, run_rows_write

logger = logging.getLogger(__name__)


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


@dataclass
class _Training:
    """What the phases of one training share."""

    run: ModelRun
    heartbeat: Heartbeat
    directory: Path  # the run's exchange directory: input/, output/, spark.log
    started: float
    params: dict = field(default_factory=dict)
    timings: dict = field(default_factory=dict)
    exported: dict = field(default_factory=dict)
    clusterer: ThreadPoolExecutor = field(init=False)
    clustering: Future | None = None  # the users' communities, clustered while Spark finishes

    def __post_init__(self) -> None:
        # No thread until the job reports the users' vectors written.
        self.clusterer = ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"model-run-{self.run.pk}-communities")

    @property
    def input(self) -> Path:
        return self.directory / "input"

    @property
    def output(self) -> Path:
        return self.directory / "output"


def _train_exclusive(run: ModelRun, *, task_id: str, on_progress) -> ModelRun:
    started = time.monotonic()
    model_run_mark_running(run=run, task_id=task_id)
    training = _Training(run, Heartbeat(run, on_progress), exchange_directory(run), started)
    try:
        with training.heartbeat:
            _prepare(training)
            result = _spark_job(training)  # the export runs while the Spark process starts
            _write_back(training, result)  # and the switch, in the same transaction
    except BaseException as error:  # SoftTimeLimitExceeded and KeyboardInterrupt too: never leave it running
        _fail(training, error)
        if not isinstance(error, Exception):
            raise
        return run
    _finish(training, on_progress)
    return run


def _prepare(training: _Training) -> None:
    training.params = params_resolve(training.run.params.get("requested") or {})
    shutil.rmtree(training.directory, ignore_errors=True)
    training.input.mkdir(parents=True)


def _export(training: _Training) -> None:
    """The ratings export; ``spark_job_run`` calls it once the Spark process has started."""
    run, clock = training.run, time.monotonic()
    training.exported.update(ratings_export(directory=training.input))
    if training.params["content_weight"] or training.params["content_n"]:
        training.exported.update(
            content_export(
                directory=training.input,
                min_votes=training.params["content_min_votes"],
                max_titles=training.params["content_max_titles"],
            )
        )
    training.timings["export"] = round(time.monotonic() - clock, 3)
    if not training.exported["ratings"]:
        raise TrainingError("there are no ratings to learn from: rate some titles or generate synthetic users")
    run.artifact_uri = str(training.directory)
    ModelRun.objects.filter(pk=run.pk).update(artifact_uri=run.artifact_uri)
    training.heartbeat.set("spark: start", PROGRESS_SPARK[0], "starting Spark")


def _spark_job(training: _Training) -> dict:
    """The Spark job (and, meanwhile, the export and the users' clustering); returns its result."""
    heartbeat = training.heartbeat

    def job_progress(step: str, fraction: float, message: str) -> None:
        heartbeat.set(f"spark: {step}", heartbeat.span(*PROGRESS_SPARK, fraction), message)
        if step == "similar" and training.clustering is None:
            # Every user's vectors are written: cluster them while Spark finds similar titles.
            training.clustering = training.clusterer.submit(users_cluster, training.output)

    heartbeat.set("export", PROGRESS_EXPORT[0], "exporting ratings (Spark starts meanwhile)")
    clock = time.monotonic()
    result = spark_job_run(
        input_dir=training.input,
        output_dir=training.output,
        params=training.params,
        on_progress=job_progress,
        log_path=training.directory / "spark.log",
        input_prepare=functools.partial(_export, training),
    )
    timings = training.timings
    # from the start of the export, which the Spark process's start overlaps
    timings["spark"] = round(time.monotonic() - clock, 3)
    job = result.get("timings", {})
    timings["spark_start"] = job.get("spark_start")
    fits = (job.get("fit_rating") or 0.0) + (job.get("fit_ranking") or 0.0)
    timings["fit"] = round(fits + (job.get("prepare") or 0.0) + (job.get("collect") or 0.0), 3)
    for step in ("grid", "evaluate", "recommend", "similar"):
        timings[step] = job.get(step)
    timings["job"] = job
    return result


def _write_back(training: _Training, result: dict) -> None:
    """The run's rows and communities, then the switch to the run, in one transaction.

    The recommendations and similar titles load in a connection of their own (committed but not
    attached: nothing reads them) while the communities are built; the switch's transaction then
    writes the vectors with their communities and attaches them."""
    run = training.run
    training.heartbeat.set("write-back", PROGRESS_WRITE_BACK[0], "loading the results into Postgres")
    cancel = threading.Event()
    writing_started = time.monotonic()
    loader = ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"model-run-{run.pk}-rows")
    loading = loader.submit(
        _own_connection,
        run_partitions_load,
        run=run,
        output_dir=training.output,
        heartbeat=training.heartbeat,
        cancel=cancel,
    )
    try:
        clustered = _clustering_wait(training)
        training.heartbeat.set("communities", PROGRESS_WRITE_BACK[0], "building taste communities")
        training.heartbeat.stop()  # from here on the main connection writes the run's row
        liked = liked_from_export(training.input / "ratings.parquet")
        with transaction.atomic():
            written, communities_error = _rows_write(training, clustered, liked, loading, writing_started)
            _switch(training, result, written, communities_error)
    finally:
        if not loading.done():
            cancel.set()  # stops at its next batch; its transaction rolls back
        loader.shutdown(wait=True)


def _clustering_wait(training: _Training):
    """The users' communities clustered during the job (None if that failed)."""
    clock = time.monotonic()
    clustered = training.clustering.result() if training.clustering else users_cluster(training.output)
    training.clusterer.shutdown()
    training.timings["communities_clustering_wait"] = round(time.monotonic() - clock, 3)
    return clustered


def _rows_write(training: _Training, clustered, liked, loading: Future, writing_started: float) -> tuple[dict, str]:
    """The communities and the run's rows (``run_rows_write``); returns the rows written per table
    and the communities' error text (empty if they were built)."""
    run, timings = training.run, training.timings
    clock = time.monotonic()
    placement, communities_error = run_communities_create(run, titles_place(clustered, training.output), liked)
    timings["communities"] = round(time.monotonic() - clock, 3)
    written = run_rows_write(
        run=run,
        output_dir=training.output,
        placement=placement,
        partitions_loaded=lambda: loading.result()[0],
    )
    # From the first COPY to the attaching (the communities were built meanwhile).
    timings["write_back"] = round(time.monotonic() - writing_started, 3)
    timings["write_back_partitions"] = round(loading.result()[1], 3)
    timings["write_back_rows_per_second"] = round(sum(written.values()) / max(timings["write_back"], 1e-9))
    if clustered is None:  # clustering the job's files failed: from the rows just written
        clock = time.monotonic()
        communities_error = run_communities_build(run, None, liked)
        timings["communities"] += round(time.monotonic() - clock, 3)
    return written, communities_error


def _switch(training: _Training, result: dict, written: dict, communities_error: str) -> None:
    """Inside the write-back's transaction: the run's results on its row, and the run served."""
    run, timings, exported = training.run, training.timings, training.exported
    clock = time.monotonic()
    # communities_create stored its own metrics (ARI, map) on the run's row: keep them.
    run.refresh_from_db(fields=["metrics"])
    metrics = {**(run.metrics or {}), **dict(result.get("metrics") or {})}
    if communities_error:
        metrics["communities_error"] = communities_error
    run.params = {
        **training.params,
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
    model_run_switch(run)
    timings["switch"] = round(time.monotonic() - clock, 3)
    timings["total"] = round(time.monotonic() - training.started, 3)
    run.timings = timings
    run.save(update_fields=["timings", "metrics"])


def _fail(training: _Training, error: BaseException) -> None:
    run = training.run
    training.heartbeat.stop()
    message = str(error) if isinstance(error, TrainingError) else f"{type(error).__name__}: {error}"
    if not isinstance(error, TrainingError):
        logger.exception("model run %s failed", run.pk)
    model_run_fail(run, message or type(error).__name__)
    run.refresh_from_db()


def _finish(training: _Training, on_progress) -> None:
    if on_progress is not None:
        on_progress(training.run)
    shutil.rmtree(training.directory, ignore_errors=True)
    with contextlib.suppress(Exception):
        model_run_cleanup()
    with contextlib.suppress(Exception):
        retrain_counter_reset()


def _own_connection(function: Callable, /, **kwargs) -> tuple:
    """``function(**kwargs)`` in a thread's own database connection, closed after; returns its
    result and the seconds it took."""
    clock = time.monotonic()
    try:
        return function(**kwargs), time.monotonic() - clock
    finally:
        connection.close()
