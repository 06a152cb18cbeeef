"""Import a user's IMDb "Your Ratings" CSV export into their ratings.

IMDb exports one row per rated title with the columns ``Const, Your Rating, Date Rated, Title,
URL, Title Type, IMDb Rating, Runtime (mins), Year, Genres, Num Votes, Release Date, Directors``
(newer exports add ``Original Title``; extra columns are ignored).

Scores: IMDb uses 1-10, the site 1-5 stars. The rule is ``stars = ceil(imdb / 2)``:
1-2 → 1, 3-4 → 2, 5-6 → 3, 7-8 → 4, 9-10 → 5. Halving keeps the order, every star gets two IMDb
values, and rounding up means an IMDb 1 is still one star (rounding down would give 0).

All or nothing: the whole file is read and checked first (header, every row's id, score and
date, duplicates, size); any problem raises ``ValidationError`` listing the offending lines and
no rating changes. A valid file is then written in one transaction. Rows whose title is not in
the catalogue are reported as unmatched, not errors: the site holds a subset of IMDb.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import math
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import IO, TYPE_CHECKING

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.template.defaultfilters import filesizeformat

from catalog.models import Title
from imdbrec.parsing import ascii_int
from ratings.dates import plausible_rating_dates
from ratings.models import Rating
from ratings.services import rating_changed_notify, ratings_upsert_dated

if TYPE_CHECKING:
    from accounts.models import User

IMDB_COLUMNS = (
    "Const",
    "Your Rating",
    "Date Rated",
    "Title",
    "URL",
    "Title Type",
    "IMDb Rating",
    "Runtime (mins)",
    "Year",
    "Genres",
    "Num Votes",
    "Release Date",
    "Directors",
)
IMDB_SCORE_RULE = "stars = ceil(IMDb score ÷ 2): 1–2 → ★1, 3–4 → ★2, 5–6 → ★3, 7–8 → ★4, 9–10 → ★5"
MAX_REPORTED_ERRORS = 20
TCONST_PATTERN = re.compile(r"^tt\d{7,10}$")


def imdb_score_to_stars(score: int) -> int:
    """Map an IMDb score 1..10 to 1..5 stars (see the module docstring for why ``ceil(score / 2)``)."""
    if not 1 <= score <= 10:
        raise ValueError(f"IMDb scores are 1 to 10, not {score}")
    return math.ceil(score / 2)


@dataclass
class ImdbRow:
    line: int
    tconst: str
    imdb_score: int
    stars: int
    rated_at: dt.datetime
    title: str


@dataclass
class UnmatchedRow:
    line: int
    tconst: str
    title: str


@dataclass
class ImdbImportReport:
    """What an import did. ``matched`` = ``created`` + ``updated`` + ``unchanged``."""

    rows: int = 0
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    unmatched: list[UnmatchedRow] = field(default_factory=list)

    @property
    def matched(self) -> int:
        return self.created + self.updated + self.unchanged


def _read_text(upload: IO[bytes], limit: int) -> str:
    size = getattr(upload, "size", None)
    if size is not None and size > limit:
        raise ValidationError(
            f"The file is {filesizeformat(size)}; the limit is {filesizeformat(limit)}. Nothing was imported.",
            code="too_large",
        )
    if hasattr(upload, "seek"):
        upload.seek(0)
    raw = upload.read(limit + 1)
    if isinstance(raw, str):
        raw = raw.encode("utf-8")
    if len(raw) > limit:
        raise ValidationError(
            f"The file is larger than the limit of {filesizeformat(limit)}. Nothing was imported.", code="too_large"
        )
    if not raw.strip():
        raise ValidationError("The file is empty. Nothing was imported.", code="empty")
    if b"\x00" in raw:
        raise ValidationError(
            "This is not a CSV text file (it contains binary data). Upload the ratings.csv that IMDb exports. "
            "Nothing was imported.",
            code="not_csv",
        )
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise ValidationError(
            f"The file is not UTF-8 text (byte {error.start + 1}). Upload the ratings.csv that IMDb exports. "
            "Nothing was imported.",
            code="not_csv",
        ) from error


LINE_SLACK = 1000  # blank lines and titles quoted over several lines


def _too_many_rows(max_rows: int) -> ValidationError:
    return ValidationError(
        f"The file has more than {max_rows:,} ratings; the limit is {max_rows:,} per import. "
        "Split it into smaller files. Nothing was imported.",
        code="too_many_rows",
    )


def imdb_csv_parse(upload: IO[bytes], *, limit: int | None = None, max_rows: int | None = None) -> list[ImdbRow]:
    """Read and check the whole export; raise ``ValidationError`` (all problems found) or return its rows.

    Bounded: at most ``limit`` bytes (``MAX_RATINGS_UPLOAD_BYTES``) and ``max_rows`` rows
    (``MAX_RATINGS_IMPORT_ROWS``); a longer file is refused as soon as its row ``max_rows + 1`` is read.
    """
    limit = settings.MAX_RATINGS_UPLOAD_BYTES if limit is None else limit
    max_rows = settings.MAX_RATINGS_IMPORT_ROWS if max_rows is None else max_rows
    earliest_date, latest_date = plausible_rating_dates()
    text = _read_text(upload, limit)
    # IMDb's export has one line per rating: a file with far more lines is refused before the CSV
    # is parsed (counting newlines costs a few milliseconds for 5 MB; parsing, hundreds).
    if text.count("\n") > max_rows + LINE_SLACK:
        raise _too_many_rows(max_rows)
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    try:
        header = next(reader)
    except csv.Error as error:
        raise ValidationError(f"The file is not valid CSV: {error}. Nothing was imported.", code="not_csv") from error
    header = [column.strip() for column in header]
    missing = [column for column in IMDB_COLUMNS if column not in header]
    if missing:
        raise ValidationError(
            "This is not an IMDb ratings export: the first line must name the columns "
            f"{', '.join(IMDB_COLUMNS)}; missing: {', '.join(missing)}. Nothing was imported.",
            code="wrong_header",
        )
    index = {column: header.index(column) for column in IMDB_COLUMNS}
    rows: list[ImdbRow] = []
    problems: list[str] = []
    seen: dict[str, int] = {}
    try:
        for values in reader:
            line = reader.line_num
            if not any(value.strip() for value in values):
                continue
            if len(rows) + len(problems) >= max_rows:
                raise _too_many_rows(max_rows)
            if len(values) < len(header):
                problems.append(f"line {line}: {len(values)} columns, the header has {len(header)}")
                continue
            tconst = values[index["Const"]].strip()
            score_text = values[index["Your Rating"]].strip()
            date_text = values[index["Date Rated"]].strip()
            if not TCONST_PATTERN.match(tconst):
                problems.append(f"line {line}: Const “{tconst}” is not an IMDb title id (tt followed by digits)")
                continue
            if tconst in seen:
                problems.append(f"line {line}: {tconst} is rated again (first on line {seen[tconst]})")
                continue
            seen[tconst] = line
            score = ascii_int(score_text, max_digits=2)
            if score is None or not 1 <= score <= 10:
                problems.append(f"line {line}: Your Rating “{score_text}” is not a whole number from 1 to 10")
                continue
            try:
                rated_on = dt.date.fromisoformat(date_text)
            except ValueError:
                problems.append(f"line {line}: Date Rated “{date_text}” is not a date like 2024-05-31")
                continue
            if not earliest_date <= rated_on <= latest_date:
                problems.append(
                    f"line {line}: Date Rated “{date_text}” is not a plausible date (from "
                    f"{earliest_date.isoformat()} to today)"
                )
                continue
            rows.append(
                ImdbRow(
                    line=line,
                    tconst=tconst,
                    imdb_score=score,
                    stars=imdb_score_to_stars(score),
                    rated_at=dt.datetime.combine(rated_on, dt.time(12), tzinfo=dt.UTC),
                    title=values[index["Title"]].strip(),
                )
            )
    except csv.Error as error:
        problems.append(f"line {reader.line_num}: not valid CSV ({error})")
    if problems:
        shown = problems[:MAX_REPORTED_ERRORS]
        more = len(problems) - len(shown)
        raise ValidationError(
            [f"The file has {len(problems)} bad row{'s' if len(problems) != 1 else ''}; nothing was imported."]
            + shown
            + ([f"… and {more} more."] if more else []),
            code="bad_rows",
        )
    if not rows:
        raise ValidationError("The file has a header but no ratings. Nothing was imported.", code="no_rows")
    return rows


WRITE_CHUNK_ROWS = 2000


@transaction.atomic
def ratings_import_imdb_csv(*, user: User, upload: IO[bytes]) -> ImdbImportReport:
    """Validate the whole export, then create or update ``user``'s ratings in one transaction.

    Imported ratings carry IMDb's "Date Rated" (noon UTC), so the statistics' "ratings over time"
    shows the user's real history.
    """
    return ratings_import_imdb_rows(user=user, rows=imdb_csv_parse(upload))


@transaction.atomic
def ratings_import_imdb_rows(
    *, user: User, rows: list[ImdbRow], progress: Callable[[float], object] | None = None
) -> ImdbImportReport:
    """Create or update ``user``'s ratings from checked ``rows`` in one transaction, in chunks of
    ``WRITE_CHUNK_ROWS``, calling ``progress(fraction)`` after each (a worker shows it)."""
    report = ImdbImportReport(rows=len(rows))
    known = set(Title.objects.filter(tconst__in=[row.tconst for row in rows]).values_list("tconst", flat=True))
    existing = {
        rating.title_id: rating for rating in Rating.objects.select_for_update().filter(user=user, title_id__in=known)
    }
    to_create: list[ImdbRow] = []
    to_update: list[ImdbRow] = []
    for row in rows:
        if row.tconst not in known:
            report.unmatched.append(UnmatchedRow(line=row.line, tconst=row.tconst, title=row.title))
            continue
        rating = existing.get(row.tconst)
        if rating is None:
            to_create.append(row)
        elif rating.score != row.stars:
            to_update.append(row)
        else:
            report.unchanged += 1
    changed = to_create + to_update
    for start in range(0, len(changed), WRITE_CHUNK_ROWS):
        chunk = changed[start : start + WRITE_CHUNK_ROWS]
        # One set-based upsert instead of per-row saves (an export can hold thousands of rows).
        # It writes IMDb's "Date Rated", which auto_now would overwrite.
        ratings_upsert_dated(
            user=user,
            tconsts=[row.tconst for row in chunk],
            scores=[row.stars for row in chunk],
            rated_at=[row.rated_at for row in chunk],
        )
        if progress is not None:
            progress((start + len(chunk)) / len(changed))
    report.created = len(to_create)
    report.updated = len(to_update)
    if to_create or to_update:
        rating_changed_notify(user=user)
    return report
