"""The synthetic crowd's jobs as background runs (``SyntheticRun``): queue them, execute them.

Generating users and removing them all run on a Celery worker, one at a time, and are followed
from the staff system page like the import and the training (see ``imdbrec.runs``): queued
(``synthetic_run_generate_start``, ``synthetic_run_remove_start``), executed under the lock
(``synthetic_run_execute``) with progress written as the generator reports it, then finished or
failed with the error. The work itself is ``ratings.synthetic``'s, which the management commands
also call directly.
"""

from __future__ import annotations

import logging

from django.core.exceptions import ValidationError

from imdbrec.queueing import is_database_outage
from imdbrec.runs import RunKind, RunProgress, run_create, run_execute, run_finish, run_queue, run_running
from ratings.models import SyntheticRun
from ratings.synthetic import synthetic_users_generate, synthetic_users_remove

logger = logging.getLogger(__name__)

PROGRESS_EVERY_SECONDS = 0.3

SYNTHETIC_RUNS = RunKind(
    model=SyntheticRun,
    lock="ratings-synthetic-users",
    busy="A {run.action} job (#{run.pk}) is still {status}; wait for it to finish.",
    refused="not started: another synthetic-users job (#{other}) was running; start this one again",
    orphaned="stopped: the process running it ended (killed or crashed); start it again",
    expired="not started: no worker took it in time; start it again",
)


def synthetic_run_generate_start(*, users: int, seed: int, min_votes: int | None = None) -> SyntheticRun:
    """Queue the generation of synthetic users ``seed:0 .. seed:users-1`` (those missing).

    Refused with a ``ValidationError`` while another job is queued or running; raises
    ``imdbrec.queueing.BackgroundUnavailable`` (recording nothing) when the queue does not answer.
    """
    from ratings.tasks import synthetic_users_generate_task

    params = {"users": users, "seed": seed, "min_votes": min_votes}
    return run_queue(
        SYNTHETIC_RUNS,
        create=lambda: run_create(SYNTHETIC_RUNS, action=SyntheticRun.Action.GENERATE, params=params),
        task=synthetic_users_generate_task,
    )


def synthetic_run_remove_start() -> SyntheticRun:
    """Queue the removal of every synthetic user and their ratings (refused as the generation is)."""
    from ratings.tasks import synthetic_users_remove_task

    return run_queue(
        SYNTHETIC_RUNS,
        create=lambda: run_create(SYNTHETIC_RUNS, action=SyntheticRun.Action.REMOVE),
        task=synthetic_users_remove_task,
    )


def synthetic_run_execute(*, run_id: int, task_id: str = "") -> SyntheticRun:
    """Do run ``run_id``'s job; returns the run, succeeded or failed with its error.

    Idempotent: a finished run is returned as it is, and generating again skips the users that
    exist. A database outage is raised (the task retries); anything else fails the run and leaves
    the crowd as the job found it, but for whole users a generation had already committed.
    """
    run = SyntheticRun.objects.get(pk=run_id)
    return run_execute(SYNTHETIC_RUNS, run, work=lambda run: _execute(run, task_id))


def _execute(run: SyntheticRun, task_id: str) -> SyntheticRun:
    run_running(run, task_id=task_id, result={})
    writer = RunProgress(run, every_seconds=PROGRESS_EVERY_SECONDS)

    def progress(done: int, total: int, message: str) -> None:
        writer.write(progress=done / (total or 1), message=message, force=done >= total)

    try:
        if run.action == SyntheticRun.Action.GENERATE:
            params = run.params
            result = synthetic_users_generate(
                users=params["users"], seed=params["seed"], min_votes=params.get("min_votes"), progress=progress
            ).as_dict()
        else:
            writer.write(progress=0.0, message="Removing synthetic users…", force=True)
            result = synthetic_users_remove()
    except Exception as error:
        if is_database_outage(error):
            raise
        timed_out = type(error).__name__ == "SoftTimeLimitExceeded"
        if timed_out:
            message = "stopped: the task ran out of time"
        elif isinstance(error, ValidationError):
            message = " ".join(error.messages)
        else:
            logger.exception("synthetic run %s failed", run.pk)
            message = f"{type(error).__name__}: {error}"
        run_finish(run, status=SyntheticRun.Status.FAILED, error=message)
        if timed_out:
            raise
        return run
    finally:
        writer.close()
    run_finish(run, result=result)
    return run
