"""What the recommender does when the apps below it report a change (connected in ``RecommenderConfig.ready()``).

- ``ratings.signals.rating_changed``: the user's fold-in is marked stale (the row created when the
  user has none yet). Saving bumps its ``updated_at``, which the fold-in compares to detect ratings
  that arrived while it was folding the user in; the recommendations view folds the user in again
  from that flag. After the transaction commits (so a worker it may queue sees the new rating),
  ``recommendation_mark_stale`` counts the rating towards an automatic retraining.
- ``accounts.signals.user_deleting``: the recommender's per-run rows of the user (recommendations,
  factors) are deleted in the deleting transaction. They reference users without a database
  constraint (runs are bulk-loaded), so nothing cascades to them.
"""

from django.db import transaction

from recommender.models import Recommendation, UserFactor, UserFoldIn
from recommender.services import recommendation_mark_stale


def rating_changed_receive(sender, *, user, **kwargs) -> None:
    UserFoldIn.objects.update_or_create(user=user, defaults={"stale": True})
    transaction.on_commit(lambda: recommendation_mark_stale(user=user))


def user_deleting_receive(sender, *, user, **kwargs) -> None:
    Recommendation.objects.filter(user_id=user.pk).delete()
    UserFactor.objects.filter(user_id=user.pk).delete()
