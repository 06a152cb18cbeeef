"""The synthetic crowd's jobs as background runs (``SyntheticRun``): queue them, execute them.

Generating users and removing them all run on a Celery worker, one at a time, and are followed
from the staff system page like the import and the training (see ``imdbrec.runs``): queued
(``synthetic_run_generate_start``, ``synthetic_run_remove_start``), executed under the lock
(``synthetic_run_execute``) with progress written as the generator reports it, then finished or
failed with the error. The management commands create the same runs
(``synthetic_run_generate_create``, ``synthetic_run_remove_create``) and execute them in their own
process, so they are refused while another job runs and show on the staff page too. The work
itself is ``ratings.synthetic``'s.
"""

from __future__ import annotations

import logging

from django.core.exceptions import ValidationError

from imdbrec.queueing import is_database_outage
from imdbrec.runs import RunKind, RunProgress, run_create, run_execute, run_finish, run_queue, run_running
from ratings.models import SyntheticRun
from ratings.synthetic import (
    GeneratorConfig,
    synthetic_users_generate,
    synthetic_users_remove,
    synthetic_users_validate,
)
from ratings.synthetic.writing import ProgressCallback

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


def synthetic_run_generate_create(
    *,
    users: int,
    seed: int,
    min_votes: int | None = None,
    config: GeneratorConfig | None = None,
    writers: int | None = None,
) -> SyntheticRun:
    """A queued generation for this process to execute (``synthetic_run_execute``), with the
    generator's settings (``config``) and how many connections write (``writers``) when given.

    Bad arguments raise a ``ValidationError`` and nothing is written.
    """
    synthetic_users_validate(users=users, seed=seed, min_votes=min_votes, config=config, writers=writers or 2)
    params: dict = {"users": users, "seed": seed, "min_votes": min_votes}
    if config is not None:
        params["config"] = config.as_dict()
    if writers is not None:
        params["writers"] = writers
    return run_create(SYNTHETIC_RUNS, action=SyntheticRun.Action.GENERATE, params=params)


def synthetic_run_remove_create() -> SyntheticRun:
    """A queued removal of the whole crowd for this process to execute (``synthetic_run_execute``)."""
    return run_create(SYNTHETIC_RUNS, action=SyntheticRun.Action.REMOVE)


def synthetic_run_remove_start() -> SyntheticRun:
    """Queue the removal of every synthetic user and their ratings (refused as the generation is)."""
    from ratings.tasks import synthetic_users_remove_task

    return run_queue(
        SYNTHETIC_RUNS,
        create=lambda: run_create(SYNTHETIC_RUNS, action=SyntheticRun.Action.REMOVE),
        task=synthetic_users_remove_task,
    )


def synthetic_run_execute(
    *, run_id: int, task_id: str = "", on_progress: ProgressCallback | None = None
) -> SyntheticRun:
    """Do run ``run_id``'s job; returns the run, succeeded or failed with its error.

    ``on_progress(done, total, message)`` hears the generator's progress too (the command's bar).

    Idempotent: a finished run is returned as it is, and generating again skips the users that
    exist. A database outage is raised (the task retries); anything else fails the run and leaves
    the crowd as the job found it, but for whole users a generation had already committed.
    """
    run = SyntheticRun.objects.get(pk=run_id)
    return run_execute(SYNTHETIC_RUNS, run, work=lambda run: _execute(run, task_id, on_progress))


def _execute(run: SyntheticRun, task_id: str, on_progress: ProgressCallback | None) -> SyntheticRun:
    run_running(run, task_id=task_id, result={})
    writer = RunProgress(run, every_seconds=PROGRESS_EVERY_SECONDS)

    def progress(done: int, total: int, message: str) -> None:
        writer.write(progress=done / (total or 1), message=message, force=done >= total)
        if on_progress is not None:
            on_progress(done, total, message)

    try:
        if run.action == SyntheticRun.Action.GENERATE:
            params = run.params
            result = synthetic_users_generate(
                users=params["users"],
                seed=params["seed"],
                min_votes=params.get("min_votes"),
                config=GeneratorConfig.from_dict(params["config"]) if params.get("config") else None,
                writers=params.get("writers", 2),
                progress=progress,
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
