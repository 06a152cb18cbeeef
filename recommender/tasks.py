"""Recommender background jobs: a training run on the ``spark`` queue (system page button, the
nightly beat schedule, ``RECOMMENDER_RETRAIN_AFTER_RATINGS``)."""

from celery import shared_task
from django.conf import settings
from django.core.exceptions import ValidationError

from imdbrec.queueing import DATABASE_RETRY
from recommender.training.pipeline import model_run_train
from recommender.training.runs import model_run_active, model_run_create

# A training on a few million ratings takes minutes on a small machine; the soft limit kills the
# Spark job and marks the run failed, the hard limit follows if that cleanup hangs.
TRAIN_SOFT_TIME_LIMIT = getattr(settings, "RECOMMENDER_TRAIN_SOFT_TIME_LIMIT", 2 * 60 * 60)
TRAIN_TIME_LIMIT = TRAIN_SOFT_TIME_LIMIT + 5 * 60


@shared_task(bind=True, soft_time_limit=TRAIN_SOFT_TIME_LIMIT, time_limit=TRAIN_TIME_LIMIT, **DATABASE_RETRY)
def model_run_train_task(self, run_id: int | None = None) -> dict:
    """Train run ``run_id``; without an id (the beat schedule) create a run first, unless a
    training is already queued or running. A finished run is left alone, so redelivery is harmless."""
    if run_id is None:
        if model_run_active() is not None:
            return {"run": None, "status": "skipped: a training is already queued or running"}
        try:
            run_id = model_run_create(triggered_by="schedule").pk
        except ValidationError as error:
            return {"run": None, "status": f"not started: {error}"}
    run = model_run_train(run_id=run_id, task_id=self.request.id or "")
    return {"run": run.pk, "status": run.status, "error": run.error}
