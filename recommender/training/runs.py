"""The life of a ``ModelRun``: create and queue it, notice it died, mark it running, failed or
served, serve an earlier one again, and clean up old runs' rows.

A ``ModelRun`` is a background run of the kind ``MODEL_RUNS`` (``imdbrec.runs``): one training at a
time, under the lock ``TRAIN_EXCLUSIVE`` (a Postgres advisory lock on a connection of its own,
released when the process dies). A run left "running" by a killed worker is recognised because
nobody holds that lock, and is marked failed with its rows deleted.
While a run trains, ``Heartbeat`` keeps its phase, progress and ``heartbeat_at`` fresh from a
thread of its own. The training itself is ``recommender.training.pipeline.model_run_train``.
"""

from __future__ import annotations

import shutil
import threading

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.db.models import F
from django.utils import timezone

from imdbrec.runs import RunKind, RunProgress, run_active, run_create, run_fail, run_queue, run_running
from recommender.models import ModelRun, Recommendation, TitleFactor, UserFoldIn
from recommender.spark.params import ParamsError, params_resolve
from recommender.training.export import exchange_directory
from recommender.training.partitions import PARTITIONED_TABLES, partitioned_runs, run_rows_delete

TRAIN_EXCLUSIVE = "recommender-train"
HEARTBEAT_SECONDS = 2.0

# Where each phase sits on the run's progress bar.
PROGRESS_EXPORT = (0.0, 0.05)
PROGRESS_SPARK = (0.05, 0.85)
PROGRESS_WRITE_BACK = (0.85, 0.97)

# One training at a time (see imdbrec.runs); a failed run's rows are deleted.
MODEL_RUNS = RunKind(
    model=ModelRun,
    lock=TRAIN_EXCLUSIVE,
    busy="training run #{run.pk} is {status}; start another when it has finished.",
    refused="not started: another training (run #{other}) is running; train again when it has finished",
    orphaned="stopped: the process training it ended (killed or crashed); train again",
    expired="not started: no worker of the spark queue took it in time",
    on_fail=lambda run: run_rows_delete([run.pk]),
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


# --- running ---------------------------------------------------------------------------------------


def model_run_mark_running(*, run: ModelRun, task_id: str) -> None:
    """``run`` starts training now (``imdbrec.runs.run_execute`` holds the training lock), from nothing."""
    run_running(run, task_id=task_id, phase="export", timings={}, metrics={}, candidates=[])
    run_rows_delete([run.pk])  # a retried run starts from nothing


class Heartbeat:
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


def model_run_fail(run: ModelRun, error: str) -> None:
    """Mark ``run`` failed (if it is not finished) and delete whatever rows it has."""
    run_fail(MODEL_RUNS, run, error, is_active=False)


def model_run_switch(run: ModelRun) -> None:
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
        UserFoldIn.objects.exclude(run=run).update(stale=True)
    return run


# --- cleaning up ----------------------------------------------------------------------------------


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
            with_rows |= partitioned_runs(cursor, model)
    busy = set(
        ModelRun.objects.filter(status__in=[ModelRun.Status.QUEUED, ModelRun.Status.RUNNING]).values_list(
            "pk", flat=True
        )
    )
    doomed = sorted(with_rows - kept - busy)
    run_rows_delete(doomed)
    # Exchanged files: a failed run keeps its own (spark.log) until a later training succeeds.
    base = exchange_directory(ModelRun(pk=0)).parent
    for directory in base.glob("run-*") if base.is_dir() else []:
        suffix = directory.name.removeprefix("run-")
        if suffix.isdigit() and int(suffix) not in busy:
            shutil.rmtree(directory, ignore_errors=True)
    return doomed
