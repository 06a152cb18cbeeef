"""When to retrain: ratings counted since the last training start one automatically.

``recommendation_mark_stale`` is called after a user's ratings change (``recommender.receivers``,
on ratings' ``rating_changed`` signal); with
``RECOMMENDER_RETRAIN_AFTER_RATINGS`` set it counts them in the cache (``RETRAIN_COUNTER_KEY``)
and starts a training at the threshold. A training that succeeds resets the count.
"""

from __future__ import annotations

import contextlib

from django.conf import settings
from django.core.cache import cache
from django.core.exceptions import ValidationError

from imdbrec.queueing import BackgroundUnavailable
from recommender.training.runs import model_run_start

RETRAIN_COUNTER_KEY = "recommender:ratings-since-training"


def recommendation_mark_stale(*, user) -> None:
    """Called after a user's ratings change (after commit). Their fold-in is already marked stale
    by the receiver; here we count ratings towards an automatic retraining when
    ``RECOMMENDER_RETRAIN_AFTER_RATINGS`` is set (0, the default, turns it off)."""
    threshold = getattr(settings, "RECOMMENDER_RETRAIN_AFTER_RATINGS", 0)
    if not threshold:
        return
    try:
        count = cache.incr(RETRAIN_COUNTER_KEY)
    except ValueError:
        cache.set(RETRAIN_COUNTER_KEY, 1, timeout=None)
        count = 1
    if count and count >= threshold:
        cache.set(RETRAIN_COUNTER_KEY, 0, timeout=None)
        with contextlib.suppress(ValidationError, BackgroundUnavailable):
            model_run_start(triggered_by="retrain-after-ratings")


def retrain_counter_reset() -> None:
    """A training has just succeeded: count again from zero."""
    cache.delete(RETRAIN_COUNTER_KEY)
