"""Real ratings from MovieLens: community users (``User.Kind.MOVIELENS``) and their ratings.

This module owns every write to MovieLens users and their ratings. It reads a GroupLens release
(``ratings.csv`` and ``links.csv`` of ml-latest, ml-latest-small, ml-25m, ...):

- ``links.csv`` maps ``movieId`` to IMDb: ``imdbId`` is the digits of the ``tconst`` without ``tt``
  and sometimes without leading zeros, so it becomes ``"tt%07d" % int(imdbId)`` (7 digits or more).
- Each MovieLens ``userId`` becomes one user: kind ``movielens``, ``external_id`` = the userId,
  username ``movielens:<userId>``, an unusable password (they cannot log in).
- **Half stars are rounded half up** to the site's 1–5 stars: ``stars = floor(rating + 0.5)``, so
  0.5→1, 1.0→1, 1.5→2, 2.5→3, 3.5→4, 4.5→5, 5.0→5. The rating's timestamp becomes its date.
- Movies without an IMDb link, or whose title is not in the catalog, are counted and reported
  (movies and their ratings), not imported. Rows that are not valid (bad numbers, a rating that is
  not a half star from 0.5 to 5, a malformed line) are rejected with file, line and reason.

Idempotent: users are inserted with ``ON CONFLICT DO NOTHING`` and ratings upserted on (user,
title), so importing the same release twice changes nothing; a newer release updates changed stars.
When two MovieLens movies link to the same IMDb title, the user's latest rating of them wins.
Streams ``ratings.csv`` in chunks (ml-25m has 25 million rows) and writes each chunk with COPY.
"""

from __future__ import annotations

import io
import re
import secrets
import time
import warnings
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from django.contrib.auth.hashers import UNUSABLE_PASSWORD_PREFIX
from django.core.exceptions import ValidationError
from django.db import connection, transaction

from accounts.models import User

RATINGS_COLUMNS = ["userId", "movieId", "rating", "timestamp"]
LINKS_COLUMNS = ["movieId", "imdbId", "tmdbId"]
CHUNK_ROWS = 500_000
MAX_REJECTS_KEPT = 100

ProgressCallback = Callable[[int, int, str], None]


def movielens_stars(ratings: np.ndarray) -> np.ndarray:
    """MovieLens half stars (0.5 … 5.0) to 1–5 stars, rounding half up."""
    return np.floor(np.asarray(ratings, dtype=np.float64) + 0.5).astype(np.int16)


@dataclass
class MovieLensReport:
    directory: str
    lines: int = 0
    rejected: int = 0
    rejects: list[str] = field(default_factory=list)  # the first MAX_REJECTS_KEPT, "file:line: reason"
    movies_linked: int = 0
    movies_not_linked: int = 0
    ratings_not_linked: int = 0
    movies_not_in_catalog: int = 0
    ratings_not_in_catalog: int = 0
    duplicates: int = 0
    users_created: int = 0
    users_existing: int = 0
    ratings_created: int = 0
    ratings_updated: int = 0
    ratings_unchanged: int = 0
    seconds: float = 0.0

    def reject(self, file: str, line: int, reason: str) -> None:
        self.rejected += 1
        if len(self.rejects) < MAX_REJECTS_KEPT:
            self.rejects.append(f"{file}:{line}: {reason}")

    def as_dict(self) -> dict:
        return asdict(self)


def _csv_read(path: Path, columns: list[str], report: MovieLensReport, **options):
    """``pandas.read_csv`` of a MovieLens file as strings, in chunks indexed by their line numbers.

    Checks the header first. Malformed lines (a field too many) become rejects instead of failing
    the whole file: pandas skips them with a "Skipping line N" warning, which is caught here and
    also used to keep the line numbers of the rows after them right.
    """
    with path.open(encoding="utf-8", errors="replace") as handle:
        header = handle.readline().strip().lstrip("\ufeff").split(",")
    if header[: len(columns)] != columns:
        raise ValidationError(f"{path.name}: expected the header {','.join(columns)}, found {','.join(header)}.")
    reader = pd.read_csv(path, dtype=str, keep_default_na=False, on_bad_lines="warn", engine="c", **options)
    iterator = iter(reader if "chunksize" in options else [reader])
    skipped: list[int] = []  # line numbers pandas skipped, ascending
    rows_before = 0
    while True:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            chunk = next(iterator, None)
        for warning in caught:
            for line, reason in re.findall(r"Skipping line (\d+): ([^\n]*)", str(warning.message)):
                skipped.append(int(line))
                report.reject(path.name, int(line), reason.strip())
        if chunk is None:
            return
        skipped.sort()
        # Row r of the file (0-based) sits on line r + 2, plus one per skipped line before it.
        ordinal = np.arange(rows_before, rows_before + len(chunk))
        shifted = np.array(skipped, dtype=np.int64) - np.arange(len(skipped)) - 2
        chunk.index = ordinal + 2 + np.searchsorted(shifted, ordinal, side="right")
        rows_before += len(chunk)
        yield chunk


def _links_read(directory: Path, report: MovieLensReport) -> pd.Series:
    """``movieId`` → ``tconst`` from links.csv."""
    frames = list(_csv_read(directory / "links.csv", LINKS_COLUMNS, report))
    links = frames[0] if frames else pd.DataFrame(columns=LINKS_COLUMNS)
    movie = pd.to_numeric(links["movieId"], errors="coerce")
    imdb = pd.to_numeric(links["imdbId"].where(links["imdbId"].str.fullmatch(r"\d{1,10}"), None), errors="coerce")
    valid = movie.notna() & imdb.notna() & (imdb > 0)
    for position in np.flatnonzero(~valid.to_numpy())[:MAX_REJECTS_KEPT]:
        row = links.iloc[position]
        reason = (
            f'movieId "{row["movieId"]}" is not a number'
            if pd.isna(movie.iloc[position])
            else f'imdbId "{row["imdbId"]}" is not an IMDb number'
        )
        report.reject("links.csv", int(links.index[position]), reason)
    report.rejected += max(0, int((~valid).sum()) - MAX_REJECTS_KEPT)
    tconst = "tt" + imdb[valid].astype(np.int64).astype(str).str.zfill(7)
    mapping = pd.Series(tconst.to_numpy(), index=movie[valid].astype(np.int64).to_numpy())
    return mapping[~mapping.index.duplicated(keep="first")]


def _catalog_tconsts(tconsts: list[str]) -> set[str]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT tconst FROM catalog_title WHERE tconst = ANY(%s) AND removed_at IS NULL", [tconsts])
        return {row[0] for row in cursor.fetchall()}


def movielens_import(*, directory: str | Path, progress: ProgressCallback | None = None) -> MovieLensReport:
    """Import ``DIR/ratings.csv`` through ``DIR/links.csv`` as MovieLens users and their ratings.

    Validates the directory and both headers before writing anything; then commits a chunk of
    users with all their ratings at a time (re-running completes an interrupted import).
    """
    started = time.monotonic()
    directory = Path(directory)
    if not directory.is_dir():
        raise ValidationError(f"{directory} is not a directory.")
    for name in ("ratings.csv", "links.csv"):
        if not (directory / name).is_file():
            raise ValidationError(f"{directory} has no {name}: expected a MovieLens release (ml-latest, ml-25m, ...).")
    report = MovieLensReport(directory=str(directory))
    links = _links_read(directory, report)
    in_catalog = _catalog_tconsts(links.unique().tolist())
    report.movies_linked = len(links)
    ratings_path = directory / "ratings.csv"
    lines_expected = _lines_estimate(ratings_path)
    chunks = _csv_read(ratings_path, RATINGS_COLUMNS, report, chunksize=CHUNK_ROWS)
    missing_movies: dict[int, int] = {}  # movieId not in catalog → its ratings
    unlinked_movies: dict[int, int] = {}
    held = pd.DataFrame(
        {
            "userId": pd.Series(dtype=np.int64),
            "movieId": pd.Series(dtype=np.int64),
            "stars": pd.Series(dtype=np.int16),
            "timestamp": pd.Series(dtype=np.int64),
            "tconst": pd.Series(dtype=object),
        }
    )
    for chunk in chunks:
        rows = _ratings_validate(chunk, report)
        report.lines += len(chunk)
        tconst = rows["movieId"].map(links)
        unlinked = tconst.isna()
        for movie, count in rows.loc[unlinked, "movieId"].value_counts().items():
            unlinked_movies[int(movie)] = unlinked_movies.get(int(movie), 0) + int(count)
        rows, tconst = rows[~unlinked], tconst[~unlinked]
        known = tconst.isin(in_catalog)
        for movie, count in rows.loc[~known, "movieId"].value_counts().items():
            missing_movies[int(movie)] = missing_movies.get(int(movie), 0) + int(count)
        rows = pd.concat([held, rows[known].assign(tconst=tconst[known])])
        # MovieLens lists each user's ratings together: the last user of a chunk may go on in the
        # next one, so they wait for it and every user is written whole, in one transaction.
        users = rows["userId"].to_numpy()
        changes = np.flatnonzero(users[1:] != users[:-1])
        split = int(changes[-1]) + 1 if changes.size else 0
        rows, held = rows.iloc[:split], rows.iloc[split:]
        if len(rows):
            _chunk_write(rows, report)
        if progress:
            progress(
                report.lines,
                max(lines_expected, report.lines),
                f"{report.lines:,} lines read; {report.ratings_created:,} ratings imported",
            )
    if len(held):
        _chunk_write(held, report)
    report.movies_not_linked = len(unlinked_movies)
    report.ratings_not_linked = sum(unlinked_movies.values())
    report.movies_not_in_catalog = len(missing_movies)
    report.ratings_not_in_catalog = sum(missing_movies.values())
    if report.ratings_created or report.ratings_updated:
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE accounts_user, ratings_rating")
    report.seconds = round(time.monotonic() - started, 3)
    return report


def _lines_estimate(path: Path) -> int:
    """Roughly how many data lines a file has, from the length of its first lines (for progress)."""
    size = path.stat().st_size
    with path.open("rb") as handle:
        head = handle.read(1 << 16)
    return max(1, round(size / max(1, len(head)) * max(0, head.count(b"\n") - 1)))


def _ratings_validate(chunk: pd.DataFrame, report: MovieLensReport) -> pd.DataFrame:
    """The chunk's valid rows as numbers; the others become rejects with their line and reason."""
    user = pd.to_numeric(chunk["userId"], errors="coerce")
    movie = pd.to_numeric(chunk["movieId"], errors="coerce")
    rating = pd.to_numeric(chunk["rating"], errors="coerce")
    stamp = pd.to_numeric(chunk["timestamp"], errors="coerce")
    reasons = pd.Series("", index=chunk.index, dtype=object)
    checks = [
        (
            stamp.isna() | (stamp < 0) | (stamp >= 1e11) | (stamp != np.floor(stamp)),
            'timestamp "{timestamp}" is not a Unix time',
        ),
        (
            rating.isna() | (rating < 0.5) | (rating > 5) | (rating * 2 != np.floor(rating * 2)),
            'rating "{rating}" is not a half star from 0.5 to 5',
        ),
        (
            movie.isna() | (movie <= 0) | (movie >= 2**62) | (movie != np.floor(movie)),
            'movieId "{movieId}" is not a positive whole number',
        ),
        (
            user.isna() | (user <= 0) | (user != np.floor(user)) | (user >= 2**62),
            'userId "{userId}" is not a positive whole number',
        ),
    ]
    for bad, template in checks:  # the last check that fails names the reason (userId first)
        for index in np.flatnonzero(bad.fillna(True).to_numpy()):
            label = chunk.index[index]
            reasons[label] = template.format(**chunk.loc[label].to_dict())
    bad = reasons != ""
    for label in chunk.index[bad.to_numpy()]:
        report.reject("ratings.csv", int(label), reasons[label])
    good = ~bad
    return pd.DataFrame(
        {
            "userId": user[good].astype(np.int64),
            "movieId": movie[good].astype(np.int64),
            "stars": movielens_stars(rating[good].to_numpy()),
            "timestamp": stamp[good].astype(np.int64),
        }
    )


@transaction.atomic
def _chunk_write(rows: pd.DataFrame, report: MovieLensReport) -> None:
    """Users of the chunk (new ones inserted), then the chunk's ratings upserted on (user, title)."""
    user_ids = np.unique(rows["userId"].to_numpy())
    users = "".join(
        f"movielens:{user}\t{UNUSABLE_PASSWORD_PREFIX}{secrets.token_urlsafe(30)}\t{user}\n"
        for user in user_ids.tolist()
    )
    # Two MovieLens movies may link to one IMDb title: keep the user's latest rating of them.
    before = len(rows)
    rows = rows.sort_values(["userId", "tconst", "timestamp"]).drop_duplicates(["userId", "tconst"], keep="last")
    report.duplicates += before - len(rows)
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL jit = off")
        cursor.execute(
            "CREATE TEMP TABLE IF NOT EXISTS movielens_user_stage "
            "(username text, password text, external_id text) ON COMMIT DELETE ROWS"
        )
        cursor.execute(
            "CREATE TEMP TABLE IF NOT EXISTS movielens_rating_stage "
            "(external_id text, tconst text, score smallint, stamp bigint) ON COMMIT DELETE ROWS"
        )
        # Emptied at commit, but a caller's transaction may have used them already.
        cursor.execute("TRUNCATE movielens_user_stage, movielens_rating_stage")
        cursor.copy_expert("COPY movielens_user_stage FROM STDIN", io.StringIO(users), 1 << 20)
        cursor.execute(
            """INSERT INTO accounts_user (password, is_superuser, username, first_name, last_name, email, is_staff,
                   is_active, date_joined, kind, persona, external_id, favourite_genres)
               SELECT password, false, username, '', '', '', false, true, now(), %s, '', external_id, '[]'::jsonb
               FROM movielens_user_stage ORDER BY external_id ON CONFLICT DO NOTHING""",
            [User.Kind.MOVIELENS],
        )
        report.users_created += cursor.rowcount
        report.users_existing += len(user_ids) - cursor.rowcount
        body = io.StringIO()
        rows[["userId", "tconst", "stars", "timestamp"]].to_csv(body, sep="\t", header=False, index=False)
        body.seek(0)
        cursor.copy_expert("COPY movielens_rating_stage FROM STDIN", body, 1 << 20)
        cursor.execute(
            """WITH upsert AS (
                 INSERT INTO ratings_rating (user_id, title_id, score, created_at, updated_at)
                 SELECT u.id, s.tconst, s.score, to_timestamp(s.stamp), to_timestamp(s.stamp)
                 FROM movielens_rating_stage s
                 JOIN accounts_user u ON u.kind = %s AND u.external_id = s.external_id
                 ON CONFLICT (user_id, title_id) DO UPDATE
                   SET score = EXCLUDED.score, updated_at = EXCLUDED.updated_at
                   WHERE ratings_rating.score <> EXCLUDED.score AND ratings_rating.updated_at <= EXCLUDED.updated_at
                 RETURNING (xmax = 0) AS inserted)
               SELECT count(*) FILTER (WHERE inserted), count(*) FILTER (WHERE NOT inserted) FROM upsert""",
            [User.Kind.MOVIELENS],
        )
        created, updated = cursor.fetchone()
    report.ratings_created += created
    report.ratings_updated += updated
    report.ratings_unchanged += len(rows) - created - updated
