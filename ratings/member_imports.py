"""A member's import of a Letterboxd export, an ``imdbID`` ratings file or a large IMDb ratings
export: runs and their reports.

``/me/import/`` hands an upload whose kind is not IMDb's own export to ``member_import_start``, and
IMDb's "Your Ratings" CSV to ``imdb_import_start``: that one is checked whole first
(``ratings.imdb_csv.imdb_csv_parse``: at most ``MAX_RATINGS_UPLOAD_BYTES`` and
``MAX_RATINGS_IMPORT_ROWS`` rows, every date between 1874 and today); up to
``MEMBER_IMPORT_INLINE_ROWS`` rows it is imported at once in the request (the import page shows
its report), a larger one becomes a run of kind ``imdb`` like the others below.

1. the whole upload is parsed and checked first (``ratings.letterboxd``); a malformed file is
   refused with file, line and reason and nothing is recorded;
2. a ``MemberImportRun`` records it; up to ``MEMBER_IMPORT_INLINE_ROWS`` films run at once in the
   request, larger uploads on the ``default`` queue (``ratings.tasks.member_import_task``) with
   progress the page polls;
3. ``member_import_execute`` matches the films (``ratings.title_matching``) and writes ratings,
   watchlist and "not interested" entries **in one transaction**: an error anywhere (a worker
   killed, the database gone) leaves the member's lists as they were;
4. the run keeps the report: counts, and one row per film matched, ambiguous or not found.

A rating in the file replaces the member's rating of the same title (the file wins, as in the
IMDb import) and keeps the file's date; a list entry already present stays as it is. A member has
one import at a time. Background runs share ``imdbrec.runs``' lifecycle; the lock is the member's.
"""

from __future__ import annotations

import datetime as dt
import io
import logging
from typing import TYPE_CHECKING

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.template.defaultfilters import filesizeformat
from django.utils import timezone

from catalog.models import Title
from imdbrec.queueing import AlreadyRunning, enqueue_on_commit, exclusive, exclusive_is_held
from imdbrec.runs import UNFINISHED, RunProgress, run_finish, run_running
from ratings.imdb_csv import ImdbImportReport, imdb_csv_parse, ratings_import_imdb_rows
from ratings.letterboxd import FilmRow, MemberExport, member_export_parse
from ratings.models import MemberImportRun, NotInterested, Rating, WatchlistItem
from ratings.services import rating_changed_notify, ratings_upsert_dated
from ratings.title_matching import AMBIGUOUS, MATCHED, NOT_FOUND, Wanted, title_match

if TYPE_CHECKING:
    from accounts.models import User

logger = logging.getLogger(__name__)

SCORE_RULE = (
    "half stars round up to whole stars, as in the MovieLens import: ½→★1, 1→★1, 1½→★2, 2→★2, "
    "2½→★3, 3→★3, 3½→★4, 4→★4, 4½→★5, 5→★5 (Rating10 h becomes ceil(h ÷ 2))"
)
IMDB = "imdb"  # IMDb's own "Your Ratings" export (ratings.imdb_csv)
KIND_NAMES = {"letterboxd": "Letterboxd export", "imdb_ids": "ratings by IMDb id", IMDB: "IMDb ratings export"}
LIST_NAMES = {"ratings": "rating", "watchlist": "watchlist", "not_interested": "not interested"}
DUPLICATE = "duplicate"  # a second film of the file matched to a title already taken


def _lock(user_id: int) -> str:
    return f"member-import-{user_id}"


def member_import_active(*, user: User) -> MemberImportRun | None:
    """The member's import queued or running, if any; one whose worker died is marked failed."""
    for run in MemberImportRun.objects.filter(user=user, status__in=UNFINISHED).order_by("pk"):
        age = (timezone.now() - run.created_at).total_seconds()
        orphaned = run.status == MemberImportRun.Status.RUNNING and age > 60 and not _lock_held(user.pk)
        if orphaned or age > settings.MEMBER_IMPORT_QUEUED_EXPIRES_SECONDS:
            MemberImportRun.objects.filter(pk=run.pk, status__in=UNFINISHED).update(
                status=MemberImportRun.Status.FAILED,
                error="The import stopped before it finished; nothing was imported. Upload the file again.",
                finished_at=timezone.now(),
                upload=None,
            )
            continue
        return run
    return None


def _lock_held(user_id: int) -> bool:
    return exclusive_is_held(_lock(user_id))


def _read(upload) -> tuple[str, bytes]:
    limit = settings.MAX_MEMBER_IMPORT_BYTES
    size = getattr(upload, "size", None)
    if size is not None and size > limit:
        raise ValidationError(
            f"The file is {filesizeformat(size)}; the limit is {filesizeformat(limit)}. Nothing was imported.",
            code="too_large",
        )
    upload.seek(0)
    raw = upload.read(limit + 1)
    if len(raw) > limit:
        raise ValidationError(f"The file is larger than {filesizeformat(limit)}. Nothing was imported.")
    return getattr(upload, "name", "upload.csv") or "upload.csv", raw


def member_import_start(*, user: User, upload) -> MemberImportRun:
    """Check ``upload`` whole, then import it now (small) or queue it (large); ``ValidationError``
    with file, line and reason when it is malformed, and nothing recorded."""
    name, raw = _read(upload)
    export = member_export_parse(name=name, raw=raw)
    return _run_start(user=user, name=name, kind=export.kind, raw=raw, films=export.row_count)


def imdb_import_start(*, user: User, upload) -> ImdbImportReport | MemberImportRun:
    """IMDb's ratings export: checked whole (``ValidationError`` and nothing recorded when it is too
    large, too long or malformed), then imported at once (its report returned) when it has at most
    ``MEMBER_IMPORT_INLINE_ROWS`` rows, else queued as a run (returned)."""
    rows = imdb_csv_parse(upload)
    if len(rows) <= settings.MEMBER_IMPORT_INLINE_ROWS:
        _refuse_while_active(user)  # one import at a time, small or large
        return ratings_import_imdb_rows(user=user, rows=rows)
    upload.seek(0)
    raw = upload.read()
    name = getattr(upload, "name", "ratings.csv") or "ratings.csv"
    return _run_start(
        user=user, name=name, kind=IMDB, raw=raw if isinstance(raw, bytes) else raw.encode(), films=len(rows)
    )


def _refuse_while_active(user: User) -> None:
    active = member_import_active(user=user)
    if active is not None:
        raise ValidationError(
            f"Your import of {active.file_name} is still {active.get_status_display().lower()}; "
            "wait for it to finish, then upload again.",
            code="busy",
        )


def _run_start(*, user: User, name: str, kind: str, raw: bytes, films: int) -> MemberImportRun:
    with transaction.atomic():
        # Two uploads at once from the same member: the second waits here, then sees the first.
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", [f"imdbrec:{_lock(user.pk)}-start"])
        _refuse_while_active(user)
        run = MemberImportRun(
            user=user,
            file_name=name[:255],
            file_kind=kind,
            upload=raw,
            summary={"films": films},
        )
        run.full_clean()
        run.save()
        if films > settings.MEMBER_IMPORT_INLINE_ROWS:
            from ratings.tasks import member_import_task

            enqueue_on_commit(
                member_import_task, run.pk, on_failure=lambda error: _fail(run.pk, f"not started: {error}")
            )
            return run
    return member_import_execute(run_id=run.pk)


def _fail(run_id: int, error: str) -> None:
    MemberImportRun.objects.filter(pk=run_id, status__in=UNFINISHED).update(
        status=MemberImportRun.Status.FAILED, error=error[:10_000], finished_at=timezone.now(), upload=None
    )


def member_import_execute(*, run_id: int, task_id: str = "") -> MemberImportRun:
    """Execute run ``run_id`` (in the request or a worker); a finished run is returned unchanged."""
    run = MemberImportRun.objects.get(pk=run_id)
    if run.status not in UNFINISHED:
        return run
    try:
        with exclusive(_lock(run.user_id)):
            run_running(run, task_id=task_id)
            progress = RunProgress(run, every_seconds=1.0)
            try:
                if run.file_kind == IMDB:
                    summary, rows = _import_imdb(run=run, progress=progress)
                else:
                    export = member_export_parse(name=run.file_name, raw=bytes(run.upload or b""))
                    summary, rows = _import(run=run, export=export, progress=progress)
            except ValidationError as error:
                run_finish(run, status=MemberImportRun.Status.FAILED, error=" ".join(error.messages), upload=None)
                return run
            except Exception as error:
                logger.exception("member import %s failed", run.pk)
                run_finish(
                    run,
                    status=MemberImportRun.Status.FAILED,
                    error=f"The import failed ({type(error).__name__}); nothing was imported.",
                    upload=None,
                )
                raise
            finally:
                progress.close()
            run_finish(run, summary=summary, rows=rows, upload=None)
            return run
    except AlreadyRunning:
        # A redelivered message while the first delivery still runs: leave it to that one.
        run.refresh_from_db()
        return run


def _film_wanted(export: MemberExport) -> list[tuple[str, FilmRow]]:
    return [
        *(("ratings", row) for row in export.ratings),
        *(("watchlist", row) for row in export.watchlist),
        *(("not_interested", row) for row in export.not_interested),
    ]


def _report_row(list_name: str, row: FilmRow) -> dict:
    return {
        "file": row.file,
        "line": row.line,
        "name": row.name,
        "year": row.year,
        "list": LIST_NAMES[list_name],
        "stars": row.stars,
        "halves": row.halves,
        "status": NOT_FOUND,
        "tconst": "",
        "title": "",
        "title_year": None,
        "via_alternative": False,
        "candidates": [],
    }


def _match(export: MemberExport, films: list[tuple[str, FilmRow]], report: list[dict], progress: RunProgress) -> None:
    """Fill each report row's status and title."""

    def step(done: int, total: int) -> None:
        progress.write(progress=0.9 * done / max(total, 1), message=f"Matched {done:,} of {total:,} films")

    if export.kind == "imdb_ids":
        tconsts = [row.tconst for _, row in films]
        known = {
            title.tconst: title
            for title in Title.objects.filter(tconst__in=tconsts, removed_at__isnull=True).only(
                "tconst", "primary_title", "start_year"
            )
        }
        for entry, (_, row) in zip(report, films, strict=True):
            title = known.get(row.tconst)
            entry["tconst"] = row.tconst
            if title is not None:
                entry.update(status=MATCHED, title=title.primary_title, title_year=title.start_year)
        step(len(films), len(films))
        return
    matches = title_match(
        (Wanted(key=index, name=row.name, year=row.year) for index, (_, row) in enumerate(films)), progress=step
    )
    for index, entry in enumerate(report):
        match = matches[index]
        entry["status"] = match.status
        if match.status == MATCHED:
            entry.update(
                tconst=match.tconst, title=match.title, title_year=match.year, via_alternative=match.via_alternative
            )
        if match.status == AMBIGUOUS:
            entry["candidates"] = [
                {"tconst": c.tconst, "title": c.title, "year": c.year, "type": c.title_type, "votes": c.votes}
                for c in match.candidates
            ]


def _import(*, run: MemberImportRun, export: MemberExport, progress: RunProgress) -> tuple[dict, list[dict]]:
    films = _film_wanted(export)
    report = [_report_row(list_name, row) for list_name, row in films]
    _match(export, films, report, progress)
    # One title per list: a later-dated film of the file matched to the same title wins.
    chosen: dict[tuple[str, str], int] = {}
    for index, ((list_name, row), entry) in enumerate(zip(films, report, strict=True)):
        if entry["status"] != MATCHED:
            continue
        key = (list_name, entry["tconst"])
        earlier = chosen.get(key)
        if earlier is not None:
            if (row.date or dt.date.min) >= (films[earlier][1].date or dt.date.min):
                report[earlier]["status"], chosen[key] = DUPLICATE, index
            else:
                entry["status"] = DUPLICATE
            continue
        chosen[key] = index
    picked = {
        list_name: [films[index][1] for (name, _), index in chosen.items() if name == list_name]
        for list_name in LIST_NAMES
    }
    tconst_of = {id(films[index][1]): tconst for (_, tconst), index in chosen.items()}
    progress.write(progress=0.92, message="Saving", force=True)
    with transaction.atomic():
        counts = _write(run.user, picked, tconst_of)
    summary = {
        "kind": export.kind,
        "kind_name": KIND_NAMES[export.kind],
        "files": export.files,
        "films": len(films),
        "matched": sum(entry["status"] == MATCHED for entry in report),
        "ambiguous": sum(entry["status"] == AMBIGUOUS for entry in report),
        "not_found": sum(entry["status"] == NOT_FOUND for entry in report),
        "duplicates": sum(entry["status"] == DUPLICATE for entry in report),
        "via_alternative": sum(entry["via_alternative"] for entry in report),
        "watched_unrated": export.watched_unrated,
        "diary_lines": export.diary_lines,
        **counts,
    }
    return summary, report


def _import_imdb(*, run: MemberImportRun, progress: RunProgress) -> tuple[dict, list[dict]]:
    """A large IMDb export: checked again (the limits may have changed since), then saved in one
    transaction; the report has one row per line of the file, matched or not in our catalogue."""
    progress.write(progress=0.05, message="Checking the file", force=True)
    rows = imdb_csv_parse(io.BytesIO(bytes(run.upload or b"")))
    progress.write(progress=0.1, message=f"Saving {len(rows):,} ratings", force=True)
    report = ratings_import_imdb_rows(
        user=run.user,
        rows=rows,
        progress=lambda fraction: progress.write(progress=0.1 + 0.85 * fraction, message="Saving your ratings"),
    )
    missing = {row.line for row in report.unmatched}
    ours = dict(
        Title.objects.filter(tconst__in=[row.tconst for row in rows if row.line not in missing]).values_list(
            "tconst", "start_year"
        )
    )
    entries: list[dict] = [
        {
            "file": run.file_name,
            "line": row.line,
            "name": row.title,
            "year": None,
            "list": LIST_NAMES["ratings"],
            "stars": row.stars,
            "halves": row.imdb_score,  # shown as "N/10 → ★S", IMDb's own scale
            "status": NOT_FOUND if row.line in missing else MATCHED,
            "tconst": row.tconst,
            "title": row.title,
            "title_year": ours.get(row.tconst),
            "via_alternative": False,
            "candidates": [],
        }
        for row in rows
    ]
    summary = {
        "kind": IMDB,
        "kind_name": KIND_NAMES[IMDB],
        "files": [run.file_name],
        "films": report.rows,
        "matched": report.matched,
        "ambiguous": 0,
        "not_found": len(report.unmatched),
        "duplicates": 0,
        "via_alternative": 0,
        "watched_unrated": 0,
        "diary_lines": 0,
        "ratings_created": report.created,
        "ratings_updated": report.updated,
        "ratings_unchanged": report.unchanged,
        "watchlist_added": 0,
        "not_interested_added": 0,
    }
    return summary, entries


def _stamp(row: FilmRow) -> dt.datetime:
    """The file's date at noon UTC (as the IMDb import does); today when the file has none."""
    return dt.datetime.combine(row.date or timezone.now().date(), dt.time(12), tzinfo=dt.UTC)


def _write(user: User, picked: dict[str, list[FilmRow]], tconst_of: dict[int, str]) -> dict:
    """Ratings upserted (the file wins), list entries added; one transaction (the caller's)."""
    ratings = picked["ratings"]
    tconsts = [tconst_of[id(row)] for row in ratings]
    existing = dict(
        Rating.objects.select_for_update().filter(user=user, title_id__in=tconsts).values_list("title_id", "score")
    )
    changed = [(tconst, row) for tconst, row in zip(tconsts, ratings, strict=True) if existing.get(tconst) != row.stars]
    ratings_upsert_dated(
        user=user,
        tconsts=[t for t, _ in changed],
        scores=[row.stars for _, row in changed],
        rated_at=[_stamp(row) for _, row in changed],
    )
    watch = [tconst_of[id(row)] for row in picked["watchlist"]]
    unwanted = [tconst_of[id(row)] for row in picked["not_interested"]]
    # A title is on the watchlist or "not interested", never both: the file's latest word counts.
    NotInterested.objects.filter(user=user, title_id__in=watch).delete()
    watch_before = WatchlistItem.objects.filter(user=user, title_id__in=watch).count()
    WatchlistItem.objects.bulk_create(
        [WatchlistItem(user=user, title_id=tconst) for tconst in watch], ignore_conflicts=True
    )
    WatchlistItem.objects.filter(user=user, title_id__in=unwanted).delete()
    unwanted_before = NotInterested.objects.filter(user=user, title_id__in=unwanted).count()
    NotInterested.objects.bulk_create(
        [NotInterested(user=user, title_id=tconst) for tconst in unwanted], ignore_conflicts=True
    )
    if changed or unwanted or watch:
        rating_changed_notify(user=user)
    created = sum(tconst not in existing for tconst, _ in changed)
    return {
        "ratings_created": created,
        "ratings_updated": len(changed) - created,
        "ratings_unchanged": len(ratings) - len(changed),
        "watchlist_added": len(watch) - watch_before,
        "not_interested_added": len(unwanted) - unwanted_before,
    }
