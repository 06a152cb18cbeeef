"""Background work of the accounts app."""

from celery import shared_task

from accounts.services import login_records_prune


@shared_task(soft_time_limit=300, time_limit=330)
def login_records_prune_task() -> dict[str, int]:
    """Daily (``CELERY_BEAT_SCHEDULE``): forget login records past their retention period."""
    return login_records_prune()
