"""Removing the synthetic crowd (``synthetic_users_remove``, set-based) and counting it."""

from __future__ import annotations

from django.db import connection, transaction

from accounts.models import User
from ratings.models import NotInterested, Rating, WatchlistItem


def _raters(kind: str):
    return User.objects.filter(kind=kind)


def synthetic_users_count() -> dict:
    users = _raters(User.Kind.SYNTHETIC)
    return {"users": users.count(), "ratings": Rating.objects.filter(user__kind=User.Kind.SYNTHETIC).count()}


@transaction.atomic
def synthetic_users_remove(*, dry_run: bool = False) -> dict:
    """Delete every synthetic user and everything of theirs; with ``dry_run`` only count.

    Their ratings, watchlist and "not interested" rows go set-based (millions of rows); Django's
    collector then deletes the users and anything else that cascades from them.
    """
    counts = synthetic_users_count()
    if dry_run:
        return counts
    with connection.cursor() as cursor:
        # Deleting the users runs one small foreign-key check per user and referencing table at
        # commit; compiling each with JIT would cost far more than running it.
        cursor.execute("SET LOCAL jit = off")
        for model in (Rating, WatchlistItem, NotInterested):
            table = model._meta.db_table
            cursor.execute(
                f"DELETE FROM {table} WHERE user_id IN (SELECT id FROM accounts_user WHERE kind = %s)",
                [User.Kind.SYNTHETIC],
            )
    _raters(User.Kind.SYNTHETIC).delete()
    return counts
