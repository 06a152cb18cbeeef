"""Ratings: a user's stars, watchlist and "not interested" marks, and the hook telling the recommender.

Every write validates before it touches a row, runs in one transaction, and finishes by calling
``rating_changed_notify`` when the user's taste changed. The hook only flips a flag (no Spark, no
waiting): the recommender folds the user in again when it next needs their recommendations.

The IMDb "Your Ratings" CSV import lives in ``ratings/imdb_csv.py``.
"""

from __future__ import annotations

import functools
import importlib
import importlib.util
from typing import TYPE_CHECKING

from django.core.exceptions import ValidationError
from django.db import transaction

from ratings.models import NotInterested, Rating, WatchlistItem

if TYPE_CHECKING:
    from accounts.models import User
    from catalog.models import Title

SCORE_MIN = 1
SCORE_MAX = 5


def rating_score_validate(score: object) -> int:
    """Return ``score`` as an int in 1..5, or raise ``ValidationError`` saying what is wrong."""
    # bool is an int subclass; True must not become a 1-star rating.
    if isinstance(score, bool) or not isinstance(score, int):
        raise ValidationError(
            "A score must be a whole number of stars from %(min)d to %(max)d, not %(score)r.",
            code="invalid_score",
            params={"min": SCORE_MIN, "max": SCORE_MAX, "score": score},
        )
    if not SCORE_MIN <= score <= SCORE_MAX:
        raise ValidationError(
            "A score must be from %(min)d to %(max)d stars, not %(score)d.",
            code="score_out_of_range",
            params={"min": SCORE_MIN, "max": SCORE_MAX, "score": score},
        )
    return score


@functools.cache
def _recommender_real_time_hook():
    """``recommender.services.recommendation_mark_stale`` when the recommender defines it, else None.

    Looked up once. A missing module means "no hook"; an error inside an existing module is raised.
    """
    if importlib.util.find_spec("recommender.services") is None:
        return None
    module = importlib.import_module("recommender.services")
    return getattr(module, "recommendation_mark_stale", None)


def rating_changed_notify(*, user: User) -> None:
    """Tell the recommender that ``user``'s ratings changed. Cheap, never waits for Spark.

    It marks the user's fold-in stale (creating the row when the user has none yet); saving bumps
    the row's ``updated_at``, which the recommender compares to detect ratings that arrived while
    it was folding the user in. The recommendations view folds the user in again from that flag.
    When the recommender app provides ``recommendation_mark_stale`` (a real-time path), that is
    called too, after the transaction commits so a worker it may queue sees the new rating.
    """
    from recommender.models import UserFoldIn

    UserFoldIn.objects.update_or_create(user=user, defaults={"stale": True})
    hook = _recommender_real_time_hook()
    if hook is not None:
        transaction.on_commit(lambda: hook(user=user))


@transaction.atomic
def rating_set(*, user: User, title: Title, score: int) -> Rating:
    """Give ``title`` ``score`` stars from ``user``, replacing any earlier score.

    One row per (user, title) is a database constraint; ``update_or_create`` locks the existing
    row (SELECT ... FOR UPDATE), so concurrent clicks serialise and the last one committed wins.
    """
    score = rating_score_validate(score)
    rating, _ = Rating.objects.update_or_create(user=user, title=title, defaults={"score": score})
    rating_changed_notify(user=user)
    return rating


@transaction.atomic
def rating_remove(*, user: User, title: Title) -> bool:
    """Delete ``user``'s rating of ``title``; returns whether there was one."""
    deleted, _ = Rating.objects.filter(user=user, title=title).delete()
    if deleted:
        rating_changed_notify(user=user)
    return bool(deleted)


@transaction.atomic
def watchlist_add(*, user: User, title: Title) -> WatchlistItem:
    """Put ``title`` on ``user``'s watchlist (idempotent). Wanting to watch it undoes "not interested"."""
    item, _ = WatchlistItem.objects.get_or_create(user=user, title=title)
    if NotInterested.objects.filter(user=user, title=title).delete()[0]:
        rating_changed_notify(user=user)
    return item


@transaction.atomic
def watchlist_remove(*, user: User, title: Title) -> bool:
    deleted, _ = WatchlistItem.objects.filter(user=user, title=title).delete()
    return bool(deleted)


@transaction.atomic
def not_interested_add(*, user: User, title: Title) -> NotInterested:
    """Mark ``title`` as not interesting to ``user`` (idempotent); it also leaves their watchlist."""
    mark, created = NotInterested.objects.get_or_create(user=user, title=title)
    WatchlistItem.objects.filter(user=user, title=title).delete()
    if created:
        # Recommendations exclude these titles: the user's list has to be refreshed.
        rating_changed_notify(user=user)
    return mark


@transaction.atomic
def not_interested_remove(*, user: User, title: Title) -> bool:
    deleted, _ = NotInterested.objects.filter(user=user, title=title).delete()
    if deleted:
        rating_changed_notify(user=user)
    return bool(deleted)
