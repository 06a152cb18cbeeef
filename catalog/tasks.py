"""Catalog background jobs: the IMDb import, queued by the staff system page."""

from celery import shared_task

from catalog.services import import_run_execute
from imdbrec.queueing import DATABASE_RETRY

# A full dump (about 200 million rows over seven files) takes a while on a small machine.
IMPORT_SOFT_TIME_LIMIT = 6 * 60 * 60
IMPORT_TIME_LIMIT = IMPORT_SOFT_TIME_LIMIT + 10 * 60


# A database restart mid-run retries the task (the run resumes; loading a file again changes nothing).
@shared_task(bind=True, soft_time_limit=IMPORT_SOFT_TIME_LIMIT, time_limit=IMPORT_TIME_LIMIT, **DATABASE_RETRY)
def import_run_execute_task(self, run_id: int) -> dict:
    """Execute one ImportRun; a run already finished is left alone, so redelivery is harmless."""
    run = import_run_execute(run_id=run_id, task_id=self.request.id or "")
    return {"run": run.pk, "status": run.status}
