"""The demo member's history: the ratings and watchlist `make demo`'s ``demo`` login starts with.

A newcomer who logs in as ``demo`` should see the product at once — personal recommendations,
statistics, a rating history — not "rate 5 more titles". So the demo member has a clear taste
in the bundled sample (catalog/sample): Hitchcock and film noir loved, bright musicals and
Technicolor spectacles not. Ratings are dated over the past months, a few weeks apart, so the
history and the statistics have a timeline.

``demo_history_seed`` only adds what is missing: a title the member rated keeps its own score
(also when they changed it), a title they rated or marked "not interested" is not put back on
the watchlist, so running it twice (``make demo`` twice) changes nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from catalog.models import Title
from ratings.models import NotInterested, Rating, WatchlistItem
from ratings.services import rating_changed_notify, rating_score_validate

if TYPE_CHECKING:
    from accounts.models import User

# (tconst, stars), oldest first; every title is in catalog/sample.
DEMO_RATINGS: tuple[tuple[str, int], ...] = (
    ("tt0047396", 5),  # Rear Window
    ("tt0036775", 5),  # Double Indemnity
    ("tt0045152", 2),  # Singin' in the Rain
    ("tt0033870", 5),  # The Maltese Falcon
    ("tt0038787", 5),  # Notorious
    ("tt0032138", 2),  # The Wizard of Oz
    ("tt0043014", 5),  # Sunset Boulevard
    ("tt0041959", 4),  # The Third Man
    ("tt0036342", 5),  # Shadow of a Doubt
    ("tt0045810", 1),  # Gentlemen Prefer Blondes
    ("tt0044079", 5),  # Strangers on a Train
    ("tt0040746", 4),  # Rope
    ("tt0032976", 4),  # Rebecca
    ("tt0038355", 4),  # The Big Sleep
    ("tt0047673", 1),  # White Christmas
    ("tt0037008", 4),  # Laura
    ("tt0039689", 4),  # Out of the Past
    ("tt0048424", 5),  # The Night of the Hunter
    ("tt0049406", 4),  # The Killing
    ("tt0038109", 3),  # Spellbound
    ("tt0031381", 2),  # Gone with the Wind
)
# Noir the member has not seen yet.
DEMO_WATCHLIST: tuple[str, ...] = (
    "tt0046912",  # Dial M for Murder
    "tt0042593",  # In a Lonely Place
    "tt0043338",  # Ace in the Hole
    "tt0038559",  # Gilda
    "tt0042208",  # The Asphalt Jungle
)
# The ratings are dated this far apart, the last one this many days ago.
DEMO_RATING_SPACING = timedelta(days=11)
DEMO_LAST_RATING_AGO = timedelta(days=3)


@dataclass
class DemoHistorySeeded:
    ratings_added: int = 0
    ratings_kept: int = 0
    watchlist_added: int = 0
    watchlist_kept: int = 0


@transaction.atomic
def demo_history_seed(*, user: User) -> DemoHistorySeeded:
    """Give ``user`` the demo taste: the ratings and watchlist entries above that they lack.

    Raises ``ValidationError`` (and writes nothing) when a title is not in the catalogue: the
    sample has to be imported first.
    """
    wanted = [tconst for tconst, _ in DEMO_RATINGS] + list(DEMO_WATCHLIST)
    titles = Title.objects.in_bulk(wanted)
    missing = [tconst for tconst in wanted if tconst not in titles]
    if missing:
        raise ValidationError(
            "%(count)d demo titles are not in the catalogue (%(first)s, ...): import the sample first "
            "(manage.py import_imdb --dir catalog/sample).",
            code="demo_titles_missing",
            params={"count": len(missing), "first": missing[0]},
        )
    for _, score in DEMO_RATINGS:
        rating_score_validate(score)
    seeded = DemoHistorySeeded()
    rated = set(Rating.objects.filter(user=user, title_id__in=wanted).values_list("title_id", flat=True))
    now = timezone.now()
    first_at = now - DEMO_LAST_RATING_AGO - DEMO_RATING_SPACING * (len(DEMO_RATINGS) - 1)
    new_ratings, dates = [], []
    for position, (tconst, score) in enumerate(DEMO_RATINGS):
        if tconst in rated:
            seeded.ratings_kept += 1
            continue
        new_ratings.append(Rating(user=user, title=titles[tconst], score=score))
        dates.append(first_at + DEMO_RATING_SPACING * position)
    Rating.objects.bulk_create(new_ratings)
    # auto_now_add stamps them all "now" on insert: a history needs its dates.
    for rating, at in zip(new_ratings, dates, strict=True):
        rating.created_at = rating.updated_at = at
    Rating.objects.bulk_update(new_ratings, ["created_at", "updated_at"])
    seeded.ratings_added = len(new_ratings)
    listed = set(
        WatchlistItem.objects.filter(user=user, title_id__in=DEMO_WATCHLIST).values_list("title_id", flat=True)
    )
    skipped = set(
        NotInterested.objects.filter(user=user, title_id__in=DEMO_WATCHLIST).values_list("title_id", flat=True)
    )
    for tconst in DEMO_WATCHLIST:
        if tconst in listed or tconst in rated or tconst in skipped:
            seeded.watchlist_kept += 1
            continue
        WatchlistItem.objects.create(user=user, title=titles[tconst])
        seeded.watchlist_added += 1
    if new_ratings:
        rating_changed_notify(user=user)
    return seeded
