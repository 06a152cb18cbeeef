"""Ratings background jobs: generating and removing the synthetic crowd (``default`` queue).

Each task executes one ``SyntheticRun`` (see ``ratings.synthetic_runs``), which records its
progress and outcome for the staff system page. Both are idempotent (a finished run is left as it
is; generating with the same seed skips the users that exist), retry through a database outage,
and run one at a time.
"""

from celery import shared_task

from imdbrec.queueing import DATABASE_RETRY
from ratings.member_imports import member_import_execute
from ratings.synthetic_runs import synthetic_run_execute

# 100,000 users take about a minute; leave room for millions on a busy machine.
GENERATE_SOFT_TIME_LIMIT = 2 * 60 * 60
GENERATE_TIME_LIMIT = GENERATE_SOFT_TIME_LIMIT + 10 * 60


@shared_task(bind=True, soft_time_limit=GENERATE_SOFT_TIME_LIMIT, time_limit=GENERATE_TIME_LIMIT, **DATABASE_RETRY)
def synthetic_users_generate_task(self, run_id: int) -> dict:
    """Generate the synthetic users run ``run_id`` asks for (those missing), with their ratings."""
    run = synthetic_run_execute(run_id=run_id, task_id=self.request.id or "")
    return {"run": run.pk, "status": run.status}


@shared_task(bind=True, soft_time_limit=30 * 60, time_limit=35 * 60, **DATABASE_RETRY)
def synthetic_users_remove_task(self, run_id: int) -> dict:
    """Delete every synthetic user and their ratings (run ``run_id``)."""
    run = synthetic_run_execute(run_id=run_id, task_id=self.request.id or "")
    return {"run": run.pk, "status": run.status}


@shared_task(bind=True, soft_time_limit=30 * 60, time_limit=35 * 60, **DATABASE_RETRY)
def member_import_task(self, run_id: int) -> dict:
    """Match and write a member's large import (Letterboxd, imdbID or IMDb export), run ``run_id``."""
    run = member_import_execute(run_id=run_id, task_id=self.request.id or "")
    return {"run": run.pk, "status": run.status}
