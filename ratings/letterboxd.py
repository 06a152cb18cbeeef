"""Read a member's export from Letterboxd (or a ratings file keyed by IMDb id) into plain rows.

What Letterboxd gives (Settings → Import & Export → Export your data): a ZIP of CSV files, each
starting with a header line. The ones read here:

- ``ratings.csv``: ``Date, Name, Year, Letterboxd URI, Rating`` — the member's current rating of
  each film, ``Rating`` in half stars from 0.5 to 5, ``Date`` the day it was given;
- ``diary.csv``: ``Date, Name, Year, Letterboxd URI, Rating, Rewatch, Tags, Watched Date`` — one
  line per viewing (a film can appear many times; ``Rating`` may be empty);
- ``watched.csv``: ``Date, Name, Year, Letterboxd URI`` — films marked watched (no rating);
- ``watchlist.csv``: ``Date, Name, Year, Letterboxd URI`` — films to watch.

``reviews.csv``, ``profile.csv``, ``comments.csv``, ``likes/``, ``lists/``, ``deleted/`` and
``orphaned/`` hold nothing the site keeps and are skipped. Letterboxd has no IMDb ids: its films
are matched to titles by name and year (``ratings.title_matching``).

The other kind read here is a ratings file keyed by IMDb id, the format Letterboxd's own importer
accepts and the site's export writes (``ratings.member_export``): ``imdbID, Title, Year, Rating10,
WatchedDate`` (a ``Rating`` column of half stars is accepted instead of ``Rating10``), and its
``watchlist.csv`` / ``not-interested.csv`` (``imdbID, Title, Year, Added``).

Scores: a half-star rating is ``h`` halves (``Rating10``, 1..10) and becomes ``ceil(h / 2)`` stars:
0.5→1, 1→1, 1.5→2, 2→2, 2.5→3, … 4.5→5, 5→5. That is the MovieLens import's rounding half up
(``floor(stars + 0.5)``, ``ratings.movielens.movielens_stars``) and the IMDb import's
``ceil(score / 2)``, so every import of the site turns the same half-star score into the same stars.

Which rating wins: ``ratings.csv`` is the member's current rating; a film rated only in the diary
takes its latest diary rating (by watched date, then line). Decoding: UTF-8 with or without a
byte-order mark, or UTF-16 with one (a file re-saved by a spreadsheet); Windows line ends and
quoted names with commas and quotes are plain CSV. Any malformed line refuses the whole upload
with the file, line and reason: the parser runs before anything is written.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
import zipfile
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from pathlib import PurePosixPath

from django.core.exceptions import ValidationError
from django.template.defaultfilters import filesizeformat

from ratings.dates import plausible_rating_dates

MAX_REPORTED_PROBLEMS = 20
# A ZIP's files are read into memory: refuse archives that would unpack to more than this.
MAX_UNPACKED_BYTES = 50 * 1024 * 1024
TCONST_PATTERN = re.compile(r"^tt\d{7,10}$")

LETTERBOXD_BASE = ("Date", "Name", "Year", "Letterboxd URI")
LETTERBOXD_FILES = ("ratings.csv", "diary.csv", "watched.csv", "watchlist.csv")
IMDB_ID_FILES = ("ratings.csv", "watchlist.csv", "not-interested.csv")


def stars_from_halves(halves: int) -> int:
    """Half stars (1..10 halves, i.e. 0.5..5 stars) to 1..5 stars: ``ceil(halves / 2)``, half up."""
    if not 1 <= halves <= 10:
        raise ValueError(f"half stars are 1 to 10 halves, not {halves}")
    return (halves + 1) // 2


@dataclass
class FilmRow:
    """One line naming a film: a rating (``stars`` set) or a list entry (``stars`` None)."""

    file: str
    line: int
    name: str
    year: int | None
    tconst: str = ""  # files keyed by IMDb id
    uri: str = ""  # Letterboxd's film address
    halves: int | None = None
    stars: int | None = None
    date: dt.date | None = None  # when rated (ratings) or added (lists)

    @property
    def where(self) -> str:
        return f"{self.file}:{self.line}"


@dataclass
class MemberExport:
    """What an upload holds, checked: ratings and watchlist rows, and what was skipped."""

    kind: str  # "letterboxd" or "imdb_ids"
    files: list[str] = field(default_factory=list)
    ratings: list[FilmRow] = field(default_factory=list)
    watchlist: list[FilmRow] = field(default_factory=list)
    not_interested: list[FilmRow] = field(default_factory=list)
    watched_unrated: int = 0  # watched.csv films with no rating anywhere: nothing to keep
    diary_lines: int = 0

    @property
    def row_count(self) -> int:
        return len(self.ratings) + len(self.watchlist) + len(self.not_interested)


class _Problems:
    def __init__(self) -> None:
        self.items: list[str] = []

    def add(self, where: str, reason: str) -> None:
        self.items.append(f"{where}: {reason}")

    def raise_if_any(self) -> None:
        if not self.items:
            return
        shown = self.items[:MAX_REPORTED_PROBLEMS]
        more = len(self.items) - len(shown)
        count = len(self.items)
        raise ValidationError(
            [f"The upload has {count} bad line{'s' if count != 1 else ''}; nothing was imported."]
            + shown
            + ([f"… and {more} more."] if more else []),
            code="bad_rows",
        )


# --- reading the upload ----------------------------------------------------------------------


def _decode(name: str, raw: bytes) -> str:
    if raw.startswith((b"\xff\xfe", b"\xfe\xff")):
        try:
            return raw.decode("utf-16")
        except UnicodeDecodeError as error:
            raise ValidationError(f"{name}: not valid UTF-16 text. Nothing was imported.", code="not_text") from error
    if b"\x00" in raw:
        raise ValidationError(
            f"{name}: this is not a CSV text file (it contains binary data). Nothing was imported.", code="not_text"
        )
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        line = raw[: error.start].count(b"\n") + 1
        raise ValidationError(
            f"{name}:{line}: not UTF-8 text (byte {error.start + 1}); Letterboxd exports UTF-8. Nothing was imported.",
            code="not_text",
        ) from error


def upload_files(*, name: str, raw: bytes) -> dict[str, str]:
    """The CSV files of an upload, by base name: a ZIP's known files, or the one CSV uploaded."""
    if not raw.strip():
        raise ValidationError(f"{name} is empty. Nothing was imported.", code="empty")
    if raw.startswith(b"PK\x03\x04") or raw.startswith(b"PK\x05\x06"):
        try:
            archive = zipfile.ZipFile(io.BytesIO(raw))
            members = [info for info in archive.infolist() if not info.is_dir()]
        except zipfile.BadZipFile as error:
            raise ValidationError(
                f"{name} is not a readable ZIP ({error}). Nothing was imported.", code="bad_zip"
            ) from error
        # Only top-level files: Letterboxd's lists/, likes/, deleted/ hold files of the same names.
        wanted = {
            info.filename: info
            for info in members
            if len(PurePosixPath(info.filename).parts) == 1
            and info.filename.lower() in set(LETTERBOXD_FILES + IMDB_ID_FILES)
        }
        if not wanted:
            raise ValidationError(
                f"{name} holds none of {', '.join(sorted(set(LETTERBOXD_FILES + IMDB_ID_FILES)))} at its top level: "
                "upload the ZIP Letterboxd sends, unchanged. Nothing was imported.",
                code="no_files",
            )
        if sum(info.file_size for info in wanted.values()) > MAX_UNPACKED_BYTES:
            raise ValidationError(
                f"{name} unpacks to more than {filesizeformat(MAX_UNPACKED_BYTES)}. Nothing was imported.",
                code="too_large",
            )
        try:
            return {
                filename.lower(): _decode(filename, archive.read(info)) for filename, info in sorted(wanted.items())
            }
        except (zipfile.BadZipFile, RuntimeError, OSError) as error:  # a damaged or encrypted member
            raise ValidationError(f"{name}: a file could not be unpacked ({error}). Nothing was imported.") from error
    return {PurePosixPath(name).name.lower() or "upload.csv": _decode(name, raw)}


def _header(text: str) -> list[str]:
    first = text.split("\n", 1)[0]
    try:
        return [column.strip() for column in next(csv.reader([first.rstrip("\r")]))]
    except (csv.Error, StopIteration):
        return []


def file_kind(name: str, text: str) -> str | None:
    """``letterboxd``, ``imdb_ids``, ``imdb`` (IMDb's own "Your Ratings" export) or None, from the header."""
    header = {column.lower() for column in _header(text)}
    if {"letterboxd uri", "name"} <= header:
        return "letterboxd"
    if "imdbid" in header:
        return "imdb_ids"
    if {"const", "your rating"} <= header:
        return "imdb"
    return None


def upload_kind(upload) -> str | None:
    """What ``/me/import/`` was given, from its first bytes: ``zip``, or ``file_kind`` of the CSV."""
    upload.seek(0)
    head = upload.read(4096)
    upload.seek(0)
    if isinstance(head, str):
        head = head.encode()
    if head.startswith(b"PK"):
        return "zip"
    encoding = "utf-16" if head.startswith((b"\xff\xfe", b"\xfe\xff")) else "utf-8-sig"
    return file_kind(getattr(upload, "name", ""), head.decode(encoding, errors="ignore"))


# --- parsing ---------------------------------------------------------------------------------


def _rows(name: str, text: str, required: tuple[str, ...], problems: _Problems):
    """(line, {column: value}) for each non-blank line; a missing column is one problem for the file."""
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    try:
        header = [column.strip() for column in next(reader)]
    except (csv.Error, StopIteration) as error:
        problems.add(f"{name}:1", f"not a CSV header ({error})")
        return
    lowered = [column.lower() for column in header]
    missing = [column for column in required if column.lower() not in lowered]
    if missing:
        problems.add(f"{name}:1", f"the header lacks {', '.join(missing)} (it has {', '.join(header)})")
        return
    try:
        for values in reader:
            if not any(value.strip() for value in values):
                continue
            if len(values) != len(header):
                problems.add(f"{name}:{reader.line_num}", f"{len(values)} columns, the header has {len(header)}")
                continue
            yield reader.line_num, {column: value.strip() for column, value in zip(lowered, values, strict=True)}
    except csv.Error as error:
        problems.add(f"{name}:{reader.line_num}", f"not valid CSV ({error})")


def _date(value: str, column: str, where: str, problems: _Problems, *, required: bool) -> dt.date | None:
    if not value:
        if required:
            problems.add(where, f"{column} is empty")
        return None
    try:
        date = dt.date.fromisoformat(value[:10])
    except ValueError:
        problems.add(where, f"{column} “{value}” is not a date like 2024-05-31")
        return None
    earliest, latest = plausible_rating_dates()
    if not earliest <= date <= latest:  # year 1 or 9999 would stretch the statistics' timeline
        problems.add(where, f"{column} “{value}” is not a plausible date (from {earliest:%Y} to today)")
        return None
    return date


def _year(value: str, where: str, problems: _Problems) -> tuple[int | None, bool]:
    if not value:
        return None, True  # Letterboxd has films without a year
    if not value.isascii() or not value.isdigit() or not 1870 <= int(value) <= 2100:
        problems.add(where, f"Year “{value}” is not a year")
        return None, False
    return int(value), True


def _halves(value: str, column: str, where: str, problems: _Problems) -> int | None:
    """Half stars as a count of halves; ``Rating10`` is already one."""
    try:
        number = Decimal(value)
    except InvalidOperation:
        number = Decimal("NaN")
    halves = number if column == "rating10" else number * 2
    if halves.is_nan() or halves != halves.to_integral_value() or not 1 <= halves <= 10:
        allowed = "a whole number from 1 to 10" if column == "rating10" else "a half star from 0.5 to 5"
        problems.add(where, f"{'Rating10' if column == 'rating10' else 'Rating'} “{value}” is not {allowed}")
        return None
    return int(halves)


def _letterboxd_file(name: str, text: str, export: MemberExport, problems: _Problems, parsed: dict) -> None:
    header = {column.lower() for column in _header(text)}
    stem = PurePosixPath(name).stem
    if "rating" in header and "watched date" in header:
        role = "diary"
    elif "rating" in header:
        role = "ratings"
    elif "watchlist" in stem:
        role = "watchlist"
    else:
        role = "watched"
    required = LETTERBOXD_BASE + (("Rating",) if role in ("ratings", "diary") else ())
    seen: dict[str, int] = {}
    for line, values in _rows(name, text, required, problems):
        where = f"{name}:{line}"
        film = values["name"]
        uri = values["letterboxd uri"]
        if not film:
            problems.add(where, "Name is empty")
            continue
        year, good = _year(values["year"], where, problems)
        date = _date(values["date"], "Date", where, problems, required=True)
        if not good or date is None:
            continue
        row = FilmRow(file=name, line=line, name=film, year=year, uri=uri, date=date)
        if role == "diary":
            export.diary_lines += 1
            row.date = _date(values.get("watched date", ""), "Watched Date", where, problems, required=False) or date
        if role in ("ratings", "diary") and values["rating"]:
            row.halves = _halves(values["rating"], "rating", where, problems)
            if row.halves is None:
                continue
            row.stars = stars_from_halves(row.halves)
        elif role == "ratings":
            problems.add(where, "Rating is empty")
            continue
        key = uri or f"{film.casefold()}|{year}"
        if role in ("ratings", "watchlist") and key in seen:
            problems.add(where, f"“{film}” is listed again (first on line {seen[key]})")
            continue
        seen[key] = line
        parsed.setdefault(role, []).append(row)


def _letterboxd_combine(export: MemberExport, parsed: dict) -> None:
    def key(row: FilmRow) -> str:
        return row.uri or f"{row.name.casefold()}|{row.year}"

    ratings = {key(row): row for row in parsed.get("ratings", [])}
    latest: dict[str, FilmRow] = {}
    for row in parsed.get("diary", []):
        if row.stars is None or key(row) in ratings:
            continue
        kept = latest.get(key(row))
        if kept is None or (row.date or dt.date.min, row.line) >= (kept.date or dt.date.min, kept.line):
            latest[key(row)] = row
    export.ratings = [*ratings.values(), *latest.values()]
    rated = {key(row) for row in export.ratings}
    export.watched_unrated = len(
        {key(row) for row in parsed.get("watched", []) + parsed.get("diary", []) if key(row) not in rated}
    )
    export.watchlist = parsed.get("watchlist", [])


def _imdb_ids_file(name: str, text: str, export: MemberExport, problems: _Problems) -> None:
    header = {column.lower() for column in _header(text)}
    is_ratings = "rating10" in header or "rating" in header
    target = export.ratings if is_ratings else (export.not_interested if "interest" in name else export.watchlist)
    seen: dict[str, int] = {}
    for line, values in _rows(name, text, ("imdbID",), problems):
        where = f"{name}:{line}"
        tconst = values["imdbid"]
        if not TCONST_PATTERN.match(tconst):
            problems.add(where, f"imdbID “{tconst}” is not an IMDb title id (tt followed by digits)")
            continue
        if tconst in seen:
            problems.add(where, f"{tconst} is listed again (first on line {seen[tconst]})")
            continue
        seen[tconst] = line
        year, good = _year(values.get("year", ""), where, problems)
        date_column = "watcheddate" if is_ratings else "added"
        date = _date(values.get(date_column, ""), date_column, where, problems, required=False)
        if not good:
            continue
        row = FilmRow(file=name, line=line, name=values.get("title", ""), year=year, tconst=tconst, date=date)
        if is_ratings:
            column = "rating10" if "rating10" in header and values.get("rating10") else "rating"
            row.halves = _halves(values.get(column, ""), column, where, problems)
            if row.halves is None:
                continue
            row.stars = stars_from_halves(row.halves)
        target.append(row)


def member_export_parse(*, name: str, raw: bytes) -> MemberExport:
    """Read and check the whole upload; ``ValidationError`` (file, line and reason of each problem) or its rows."""
    files = upload_files(name=name, raw=raw)
    kinds = {filename: file_kind(filename, text) for filename, text in files.items()}
    unknown = [filename for filename, kind in kinds.items() if kind is None]
    if unknown:
        raise ValidationError(
            f"{', '.join(unknown)}: the header is neither Letterboxd's (Date, Name, Year, Letterboxd URI, …) "
            "nor a ratings file keyed by imdbID. Nothing was imported.",
            code="unknown_kind",
        )
    if "imdb" in kinds.values():
        raise ValidationError("This is IMDb's own ratings export; it is imported on its own.", code="imdb_export")
    if len(set(kinds.values())) > 1:
        raise ValidationError(
            "The ZIP mixes Letterboxd files with files keyed by imdbID; upload them separately. Nothing was imported.",
            code="mixed_kinds",
        )
    kind = next(kind for kind in kinds.values() if kind is not None)
    export = MemberExport(kind=kind, files=sorted(files))
    problems = _Problems()
    parsed: dict[str, list[FilmRow]] = {}
    for filename, text in sorted(files.items()):
        if kind == "letterboxd":
            _letterboxd_file(filename, text, export, problems, parsed)
        else:
            _imdb_ids_file(filename, text, export, problems)
    problems.raise_if_any()
    if kind == "letterboxd":
        _letterboxd_combine(export, parsed)
    if not export.row_count:
        raise ValidationError(
            "The upload has no ratings and no watchlist entries. Nothing was imported.", code="no_rows"
        )
    return export
