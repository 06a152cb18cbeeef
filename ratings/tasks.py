"""Ratings background jobs: generating and removing the synthetic crowd (``default`` queue).

Both report progress through Celery's result backend (state ``PROGRESS`` with ``done``, ``total``
and ``message``), which the staff system page polls. Both are idempotent (generating with the same
seed skips the users that exist; removing twice removes nothing the second time), retry through a
database outage, and run one at a time: a job that finds another running returns without work.
"""

from celery import shared_task

from imdbrec.queueing import DATABASE_RETRY, AlreadyRunning, exclusive
from ratings.synthetic import synthetic_users_generate, synthetic_users_remove

EXCLUSIVE_NAME = "ratings-synthetic-users"
# 100,000 users take about a minute; leave room for millions on a busy machine.
GENERATE_SOFT_TIME_LIMIT = 2 * 60 * 60
GENERATE_TIME_LIMIT = GENERATE_SOFT_TIME_LIMIT + 10 * 60


@shared_task(bind=True, soft_time_limit=GENERATE_SOFT_TIME_LIMIT, time_limit=GENERATE_TIME_LIMIT, **DATABASE_RETRY)
def synthetic_users_generate_task(self, users: int, seed: int, min_votes: int | None = None) -> dict:
    """Generate synthetic users ``seed:0 .. seed:users-1`` (those missing) with their ratings."""

    def progress(done: int, total: int, message: str) -> None:
        self.update_state(state="PROGRESS", meta={"done": done, "total": total, "message": message})

    try:
        with exclusive(EXCLUSIVE_NAME):
            return synthetic_users_generate(users=users, seed=seed, min_votes=min_votes, progress=progress).as_dict()
    except AlreadyRunning:
        return {"skipped": "another synthetic-users job is running"}


@shared_task(bind=True, soft_time_limit=30 * 60, time_limit=35 * 60, **DATABASE_RETRY)
def synthetic_users_remove_task(self) -> dict:
    """Delete every synthetic user and their ratings."""
    self.update_state(state="PROGRESS", meta={"done": 0, "total": 1, "message": "Removing synthetic users…"})
    try:
        with exclusive(EXCLUSIVE_NAME):
            return synthetic_users_remove()
    except AlreadyRunning:
        return {"skipped": "another synthetic-users job is running"}
