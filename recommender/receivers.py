"""What the recommender does when the apps below it report a change (connected in ``RecommenderConfig.ready()``).

- ``ratings.signals.rating_changed``: the user's fold-in is marked stale (the row created when the
  user has none yet). Saving bumps its ``updated_at``, which the fold-in compares to detect ratings
  that arrived while it was folding the user in; the recommendations view folds the user in again
  from that flag. After the transaction commits (so a worker it may queue sees the new rating),
  ``recommendation_mark_stale`` counts the rating towards an automatic retraining.
- ``accounts.signals.user_deleting``: the recommender's per-run rows of the user (recommendations,
  factors) are deleted in the deleting transaction. They reference users without a database
  constraint (runs are bulk-loaded), so nothing cascades to them. After the commit, the user's
  rendered pages leave the cache (they hold the user's list and would stay for their timeout).
"""

from django.core.cache import cache
from django.db import transaction

from recommender.models import Recommendation, UserFactor, UserFoldIn
from recommender.serving.page import page_cache_prefix
from recommender.training.retrain import recommendation_mark_stale


def rating_changed_receive(sender, *, user, **kwargs) -> None:
    UserFoldIn.objects.update_or_create(user=user, defaults={"stale": True})
    transaction.on_commit(lambda: recommendation_mark_stale(user=user))


def user_deleting_receive(sender, *, user, **kwargs) -> None:
    Recommendation.objects.filter(user_id=user.pk).delete()
    UserFactor.objects.filter(user_id=user.pk).delete()
    prefix = page_cache_prefix(user_id=user.pk)
    transaction.on_commit(lambda: _cache_delete_prefix(prefix))


def _cache_delete_prefix(prefix: str) -> None:
    delete_prefix = getattr(cache, "delete_prefix", None)  # imdbrec.cache.ResilientRedisCache
    if delete_prefix is not None:
        delete_prefix(prefix)
