"""Reading model runs and what they produced. Everything here returns QuerySets (or one row) of the
run being served unless a run is passed; nothing here writes."""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING

from django.db.models import QuerySet
from django.utils import timezone

from recommender.models import ModelRun, Recommendation, SimilarTitle

if TYPE_CHECKING:
    from accounts.models import User
    from catalog.models import Title

# A running run whose heartbeat is older than this is shown as "not responding" (the lock decides
# whether it is really dead: recommender.training.runs.model_run_active).
HEARTBEAT_STALE_SECONDS = 60


def model_run_current() -> ModelRun | None:
    """The run being served (``is_active``), or None before the first successful training."""
    return ModelRun.objects.filter(is_active=True).first()


def model_run_list(*, status: str | None = None) -> QuerySet[ModelRun]:
    """Runs, newest first, optionally of one status."""
    runs = ModelRun.objects.all().order_by("-created_at", "-pk")
    if status:
        runs = runs.filter(status=status)
    return runs


def model_run_in_progress() -> QuerySet[ModelRun]:
    return ModelRun.objects.filter(status__in=[ModelRun.Status.QUEUED, ModelRun.Status.RUNNING]).order_by("pk")


def model_run_is_stale(run: ModelRun, *, now=None) -> bool:
    """A running run that has not reported for ``HEARTBEAT_STALE_SECONDS``."""
    if run.status != ModelRun.Status.RUNNING:
        return False
    last = run.heartbeat_at or run.started_at or run.created_at
    return last is not None and (now or timezone.now()) - last > timedelta(seconds=HEARTBEAT_STALE_SECONDS)


def recommendation_list_for_user(*, user: User, run: ModelRun | None = None) -> QuerySet[Recommendation]:
    """``user``'s precomputed recommendations in ``run`` (default: the run being served), best first,
    with their titles. Empty when there is no run or the user had no ratings at training time."""
    run = run or model_run_current()
    if run is None:
        return Recommendation.objects.none()
    return Recommendation.objects.filter(run=run, user=user).select_related("title").order_by("rank")


def similar_title_list(*, title: Title, run: ModelRun | None = None) -> QuerySet[SimilarTitle]:
    """The run's titles most similar to ``title`` (cosine of the ranking vectors), best first."""
    run = run or model_run_current()
    if run is None:
        return SimilarTitle.objects.none()
    return SimilarTitle.objects.filter(run=run, title=title).select_related("similar").order_by("rank")
