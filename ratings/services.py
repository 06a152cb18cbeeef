"""Ratings: a user's stars, watchlist and "not interested" marks.

Every write validates before it touches a row, runs in one transaction, and finishes by calling
``rating_changed_notify`` when the user's taste changed. That sends ``ratings.signals.rating_changed``,
which the recommender connects (ratings does not import the recommender): it only flips a flag (no
Spark, no waiting), and the recommender folds the user in again when it next needs their
recommendations.

The IMDb "Your Ratings" CSV import lives in ``ratings/imdb_csv.py``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.core.exceptions import ValidationError
from django.db import connection, transaction

from ratings.models import NotInterested, Rating, WatchlistItem
from ratings.signals import rating_changed

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


def ratings_upsert_dated(*, user, tconsts: list[str], scores: list, rated_at: list) -> None:
    """Set ``user``'s score of each title, dated ``rated_at`` (created_at of an existing row kept),
    in one set-based statement: the bulk path of the imports. An import's rows win over a star
    clicked since it read them. The caller holds the transaction and notifies the change."""
    if not tconsts:
        return
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            INSERT INTO {Rating._meta.db_table} (user_id, title_id, score, created_at, updated_at)
            SELECT %s, title_id, score, rated_at, rated_at
            FROM unnest(%s::text[], %s::smallint[], %s::timestamptz[]) AS file(title_id, score, rated_at)
            ON CONFLICT (user_id, title_id) DO UPDATE
            SET score = EXCLUDED.score, updated_at = EXCLUDED.updated_at
            """,
            [user.pk, tconsts, scores, rated_at],
        )


def rating_changed_notify(*, user: User) -> None:
    """Tell the apps above that ``user``'s ratings changed: sends ``rating_changed`` with the user.

    Called inside the writing transaction; the receivers are cheap and never wait for Spark.
    """
    rating_changed.send(sender=rating_changed_notify, user=user)


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


def title_mark_lock(*, user: User, title: Title) -> None:
    """Hold, until the transaction ends, the lock on ``user``'s marks of ``title``.

    A title is on the watchlist or on "not interested", never both: a database trigger refuses
    the second (ratings migration 0003) and takes this same lock, so moving a title from one list
    to the other under it cannot interleave with a concurrent move the other way.
    """
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))", [f"ratings.title_mark:{user.pk}:{title.pk}"]
        )


@transaction.atomic
def watchlist_add(*, user: User, title: Title) -> WatchlistItem:
    """Put ``title`` on ``user``'s watchlist (idempotent). Wanting to watch it undoes "not interested"."""
    title_mark_lock(user=user, title=title)
    dismissed = NotInterested.objects.filter(user=user, title=title).delete()[0]
    item, _ = WatchlistItem.objects.get_or_create(user=user, title=title)
    if dismissed:
        rating_changed_notify(user=user)
    return item


@transaction.atomic
def watchlist_remove(*, user: User, title: Title) -> bool:
    deleted, _ = WatchlistItem.objects.filter(user=user, title=title).delete()
    return bool(deleted)


@transaction.atomic
def not_interested_add(*, user: User, title: Title) -> NotInterested:
    """Mark ``title`` as not interesting to ``user`` (idempotent); it also leaves their watchlist."""
    title_mark_lock(user=user, title=title)
    WatchlistItem.objects.filter(user=user, title=title).delete()
    mark, created = NotInterested.objects.get_or_create(user=user, title=title)
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
