"""Background runs: one model and one lifecycle for the import, the training and the synthetic crowd.

A run of background work is a row of a model built on ``BackgroundRun`` (``catalog.ImportRun``,
``recommender.ModelRun``, ``ratings.SyntheticRun``), and every kind goes through the same steps,
described once by a ``RunKind`` (its model, its lock and the words its messages use):

1. ``run_queue`` — refuse while a run of the kind is queued or running (``run_active``), create the
   run and send its task once the row is committed (``imdbrec.queueing.enqueue_on_commit``);
2. ``run_execute`` — in the worker: one run of a kind at a time (``imdbrec.queueing.exclusive``, a
   Postgres advisory lock released when the process dies); a finished run is left as it is (a
   redelivered task does nothing); ``run_running`` marks it running;
3. ``RunProgress`` — progress (a fraction and a message) and the heartbeat, written through a
   connection of its own so the staff page sees them while the work holds a transaction open;
4. ``run_finish`` or ``run_fail``.

Orphans (``run_active``): a run marked running whose process died (a worker killed) is recognised
because nobody holds the kind's lock — more reliable than an old heartbeat, which a long
transaction also produces — and a queued run no worker took in time is given up. Both are marked
failed when somebody next asks for the active run (starting another, the worker's own start).

This module imports no app: each app's services describe their kind and call these helpers.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Generic, TypeVar

from django.core.exceptions import ValidationError
from django.db import DEFAULT_DB_ALIAS, connection, connections, models, transaction
from django.db.backends.base.base import BaseDatabaseWrapper
from django.utils import timezone

from imdbrec.queueing import AlreadyRunning, broker_ping, enqueue_on_commit, exclusive, exclusive_is_held

logger = logging.getLogger(__name__)

QUEUED_RUN_EXPIRES_SECONDS = 6 * 60 * 60
ERROR_MAX_LENGTH = 10_000


class BackgroundRun(models.Model):
    """What every background run records: status, task, timestamps, error and progress."""

    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Running"
        SUCCEEDED = "succeeded", "Succeeded"
        PARTIAL = "partial", "Finished with failed files"  # the import: some files failed, others loaded
        FAILED = "failed", "Failed"

    status = models.CharField(max_length=12, choices=Status.choices, default=Status.QUEUED, db_index=True)
    progress = models.FloatField(default=0.0)
    progress_message = models.CharField(max_length=200, blank=True)
    error = models.TextField(blank=True)
    task_id = models.CharField(max_length=64, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        abstract = True
        ordering = ["-created_at"]

    @property
    def is_unfinished(self) -> bool:
        return self.status in UNFINISHED


UNFINISHED = (BackgroundRun.Status.QUEUED, BackgroundRun.Status.RUNNING)
FINISHED = (BackgroundRun.Status.SUCCEEDED, BackgroundRun.Status.PARTIAL, BackgroundRun.Status.FAILED)

Run = TypeVar("Run", bound=BackgroundRun)


@dataclass(frozen=True)
class RunKind(Generic[Run]):
    """One kind of background run: its model, its lock, and what its messages say.

    The messages are ``str.format`` templates: ``busy`` gets ``run`` (the run queued or running)
    and ``status`` (its status in words); ``refused`` gets ``other`` (the id of the run executing,
    or "?").
    """

    model: type[Run]
    lock: str  # the imdbrec.queueing.exclusive name held while a run executes
    busy: str  # why a new run is refused while ``run`` is queued or running
    refused: str  # the error of a run whose worker found another one executing
    orphaned: str  # the error of a run whose process died
    expired: str  # the error of a queued run no worker took in time
    # Called after a run is marked failed (the training deletes the run's rows).
    on_fail: Callable[[Run], None] | None = None
    queued_expires_seconds: int = QUEUED_RUN_EXPIRES_SECONDS


def run_create(kind: RunKind[Run], **fields) -> Run:
    """A queued run of ``kind`` with ``fields``; ``ValidationError`` (nothing written) if they are invalid."""
    run = kind.model(**fields)
    run.full_clean()
    run.save()
    return run


def run_fail(kind: RunKind[Run], run: Run, error: str, **fields) -> bool:
    """Mark ``run`` failed with ``error`` unless it has finished; False if it had."""
    failed = kind.model._default_manager.filter(pk=run.pk, status__in=UNFINISHED).update(
        status=BackgroundRun.Status.FAILED, error=error[:ERROR_MAX_LENGTH], finished_at=timezone.now(), **fields
    )
    if kind.on_fail is not None:
        kind.on_fail(run)
    return bool(failed)


def run_active(kind: RunKind[Run]) -> Run | None:
    """The run of ``kind`` queued or running now, if any; orphans found on the way are marked failed."""
    for run in kind.model._default_manager.filter(status__in=UNFINISHED).order_by("pk"):
        if run.status == BackgroundRun.Status.RUNNING and not exclusive_is_held(kind.lock):
            run_fail(kind, run, kind.orphaned)
            continue
        age = (timezone.now() - run.created_at).total_seconds()
        if run.status == BackgroundRun.Status.QUEUED and age > kind.queued_expires_seconds:
            run_fail(kind, run, kind.expired)
            continue
        return run
    return None


def run_queue(kind: RunKind[Run], *, create: Callable[[], Run], task, options: dict | None = None) -> Run:
    """Create a run with ``create()`` and send ``task(run.pk)`` once the row is committed.

    Refused with a ``ValidationError`` while another run of the kind is queued or running. Raises
    ``imdbrec.queueing.BackgroundUnavailable`` (and records nothing) when the task queue does not
    answer; a send that fails after the commit marks the run failed.
    """
    broker_ping()  # first: "the background system is down" matters more than "a run waits"
    with transaction.atomic():
        # Two requests at the same moment: the second waits here, then sees the first's run.
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", [f"imdbrec:{kind.lock}-start"])
        active = run_active(kind)
        if active is not None:
            raise ValidationError(kind.busy.format(run=active, status=active.get_status_display().lower()))
        run = create()
        enqueue_on_commit(
            task, run.pk, options=options, on_failure=lambda error: run_fail(kind, run, f"not started: {error}")
        )
    return run


def run_execute(kind: RunKind[Run], run: Run, *, work: Callable[[Run], Run]) -> Run:
    """``work(run)`` while holding the kind's lock; returns the run.

    A finished run is returned unchanged. Another run still marked running belongs to a process
    that died (we hold the lock): it is marked failed. If another process holds the lock, ``run``
    is left alone when it is the one executing there (a redelivered message), else marked failed
    with ``kind.refused``.
    """
    if run.status in FINISHED:
        return run
    try:
        with exclusive(kind.lock):
            for orphan in kind.model._default_manager.filter(status=BackgroundRun.Status.RUNNING).exclude(pk=run.pk):
                run_fail(kind, orphan, kind.orphaned)
            return work(run)
    except AlreadyRunning:
        if run.status == BackgroundRun.Status.RUNNING:
            return run
        other = kind.model._default_manager.filter(status=BackgroundRun.Status.RUNNING).exclude(pk=run.pk).first()
        run_fail(kind, run, kind.refused.format(other=other.pk if other else "?"))
        run.refresh_from_db()
        return run


def run_running(run: BackgroundRun, *, task_id: str = "", **fields) -> None:
    """Mark ``run`` running from now (its progress and error reset), with ``fields`` set too."""
    run.status = BackgroundRun.Status.RUNNING
    run.started_at = run.heartbeat_at = timezone.now()
    run.finished_at = None
    run.task_id = task_id or run.task_id
    run.error, run.progress, run.progress_message = "", 0.0, ""
    for name, value in fields.items():
        setattr(run, name, value)
    run.save()


def run_finish(run: BackgroundRun, *, status: str = BackgroundRun.Status.SUCCEEDED, **fields) -> None:
    """Mark ``run`` finished with ``status`` (succeeded unless told), with ``fields`` set too."""
    run.status = status
    run.finished_at = run.heartbeat_at = timezone.now()
    if status == BackgroundRun.Status.SUCCEEDED:
        run.progress = 1.0
    for name, value in fields.items():
        setattr(run, name, value)
    run.save()


class RunProgress:
    """Writes a running run's progress, message and heartbeat through a connection of its own.

    The work usually holds a transaction open on the main connection, and the staff page must see
    progress meanwhile; a write never waits long behind that transaction (``lock_timeout``), and
    one that fails is logged, never raised: progress is best effort, the work goes on.
    Work that reports from several threads (the import's index builds) shares the one writer: its
    connection is marked for thread sharing and the writes are serialised by a lock.
    """

    def __init__(self, run: BackgroundRun, *, every_seconds: float = 0.0, lock_timeout: str = "2s"):
        self.run = run
        self.every_seconds = every_seconds
        self.lock_timeout = lock_timeout
        self.connection: BaseDatabaseWrapper | None = None
        self.last_write = 0.0
        self.lock = threading.Lock()

    def write(
        self, *, progress: float | None = None, message: str | None = None, force: bool = False, **fields
    ) -> bool:
        """Save ``progress`` (0..1), ``message`` and other columns of the run; skipped (False) when
        the last write is less than ``every_seconds`` old, unless ``force``."""
        columns = dict(fields)
        # Kept on the instance too (written or not), so the run's final save keeps the latest.
        if progress is not None:
            columns["progress"] = self.run.progress = min(max(progress, 0.0), 1.0)
        if message is not None:
            columns["progress_message"] = self.run.progress_message = message[:200]
        with self.lock:
            now = time.monotonic()
            if not force and now - self.last_write < self.every_seconds:
                return False
            self.last_write = now
            return self._update(columns)

    def _update(self, columns: dict) -> bool:
        assignments = "".join(f", {name} = %s" for name in columns)
        table = self.run._meta.db_table
        try:
            if self.connection is None:
                self.connection = connections.create_connection(DEFAULT_DB_ALIAS)
                self.connection.inc_thread_sharing()  # writes come from any thread, one at a time
            with self.connection.cursor() as cursor:
                cursor.execute("BEGIN")
                cursor.execute("SELECT set_config('lock_timeout', %s, true)", [self.lock_timeout])
                cursor.execute(
                    f"UPDATE {table} SET heartbeat_at = now(){assignments} WHERE id = %s AND status = %s",  # noqa: S608
                    [*columns.values(), self.run.pk, BackgroundRun.Status.RUNNING],
                )
                cursor.execute("COMMIT")
        except Exception as error:  # a lost connection, a lock not granted in time, a database restart
            logger.warning("%s %s: progress not saved: %s", type(self.run).__name__, self.run.pk, error)
            self.close()
            return False
        return True

    def close(self) -> None:
        if self.connection is not None:
            with contextlib.suppress(Exception):
                self.connection.close()
            self.connection = None
