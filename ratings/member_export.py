"""Everything out: one ZIP with a member's ratings, lists and profile (``/me/export/``).

Files, each UTF-8 CSV with a header (the ZIP's ``README.txt`` says the same):

- ``ratings.csv``: ``imdbID, Title, Year, Rating10, WatchedDate`` — the columns Letterboxd's
  importer reads (and IMDb-id based importers such as Trakt's and Criticker's): ``Rating10`` is
  the stars × 2, ``WatchedDate`` the day the rating was given;
- ``ratings-stars.csv``: ``tconst, title, year, stars, rated_at`` — the site's own 1–5 stars and
  the rating's timestamp;
- ``watchlist.csv`` and ``not-interested.csv``: ``imdbID, Title, Year, Added``;
- ``profile.json``: the account (user name, e-mail, joined, favourite genres) and the counts.

``/me/import/`` takes this ZIP back (``ratings.letterboxd`` reads the ``imdbID`` files; ``Rating10``
h becomes ``ceil(h / 2)`` stars, so the stars come back unchanged). A cell a spreadsheet would run
as a formula is written with a leading apostrophe (OWASP's advice on CSV injection).
"""

from __future__ import annotations

import csv
import io
import json
import zipfile
from typing import TYPE_CHECKING

from django.utils import timezone

from ratings.models import NotInterested, Rating, WatchlistItem

if TYPE_CHECKING:
    from accounts.models import User

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
README = """Your data from imdbrec, exported {exported_at}.

ratings.csv          imdbID, Title, Year, Rating10 (your stars x 2), WatchedDate (the day you rated).
                     Letterboxd's importer (letterboxd.com/import) and other IMDb-id importers read it.
ratings-stars.csv    tconst, title, year, stars (1-5), rated_at: your ratings as this site keeps them.
watchlist.csv        imdbID, Title, Year, Added.
not-interested.csv   imdbID, Title, Year, Added: titles you asked us not to recommend.
profile.json         your account: user name, e-mail, when you joined, favourite genres, counts.

Upload this ZIP at /me/import/ (here or on another imdbrec site) to get the same ratings and lists back.
"""


def _cell(value):
    return f"'{value}" if isinstance(value, str) and value.startswith(FORMULA_STARTS) else value


def _csv(header: list[str], rows) -> str:
    body = io.StringIO()
    writer = csv.writer(body, lineterminator="\n")
    writer.writerow(header)
    for row in rows:
        writer.writerow([_cell(value) for value in row])
    return body.getvalue()


def _list_rows(items):
    for item in items.select_related("title").order_by("created_at", "title_id").iterator(chunk_size=2000):
        title = item.title
        yield [title.tconst, title.primary_title, title.start_year or "", item.created_at.date().isoformat()]


def member_export_files(*, user: User) -> dict[str, str]:
    """The export's files by name (text), read in a handful of queries."""
    ratings = list(
        Rating.objects.filter(user=user)
        .select_related("title")
        .only("score", "updated_at", "title__tconst", "title__primary_title", "title__start_year")
        .order_by("updated_at", "title_id")
    )
    watchlist = WatchlistItem.objects.filter(user=user)
    not_interested = NotInterested.objects.filter(user=user)
    exported_at = timezone.now()
    profile = {
        "username": user.username,
        "email": user.email,
        "date_joined": user.date_joined.isoformat(),
        "favourite_genres": list(user.favourite_genres or []),
        "exported_at": exported_at.isoformat(),
        "counts": {
            "ratings": len(ratings),
            "watchlist": watchlist.count(),
            "not_interested": not_interested.count(),
        },
    }
    list_header = ["imdbID", "Title", "Year", "Added"]
    return {
        "README.txt": README.format(exported_at=exported_at.strftime("%Y-%m-%d %H:%M UTC")),
        "ratings.csv": _csv(
            ["imdbID", "Title", "Year", "Rating10", "WatchedDate"],
            (
                [r.title.tconst, r.title.primary_title, r.title.start_year or "", r.score * 2, r.updated_at.date()]
                for r in ratings
            ),
        ),
        "ratings-stars.csv": _csv(
            ["tconst", "title", "year", "stars", "rated_at"],
            (
                [r.title.tconst, r.title.primary_title, r.title.start_year or "", r.score, r.updated_at.isoformat()]
                for r in ratings
            ),
        ),
        "watchlist.csv": _csv(list_header, _list_rows(watchlist)),
        "not-interested.csv": _csv(list_header, _list_rows(not_interested)),
        "profile.json": json.dumps(profile, indent=2, ensure_ascii=False) + "\n",
    }


def member_export_zip(*, user: User) -> bytes:
    """The ZIP of ``member_export_files``."""
    body = io.BytesIO()
    with zipfile.ZipFile(body, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, text in member_export_files(user=user).items():
            archive.writestr(name, text.encode("utf-8"))
    return body.getvalue()
