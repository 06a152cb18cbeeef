"""A member's IMDb ratings import as a record (``MemberImport``): small files at once, large ones
on a worker with progress; either way the report is kept and shown a page at a time.

``member_import_start`` checks the whole file first (``ratings.imdb_csv.imdb_csv_parse``: size,
rows, every value; a bad file changes nothing and records nothing). A file of up to
``RATINGS_IMPORT_INLINE_ROWS`` rows is imported in the request (a few hundred milliseconds at
most); a larger one is saved with its run and queued on the ``default`` queue, and the member
follows its progress on the report page. One import per member at a time.

``member_import_execute`` is the worker's side: idempotent (a finished run is left as it is, so a
redelivered task does nothing), one transaction for the ratings (all or nothing), progress written
through its own connection (``imdbrec.runs.RunProgress``).
"""

from __future__ import annotations

import io
import logging
from typing import IO, TYPE_CHECKING

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction

from imdbrec.queueing import enqueue_on_commit, is_database_outage
from imdbrec.runs import UNFINISHED, BackgroundRun, RunProgress, run_finish, run_running
from ratings.imdb_csv import ImdbImportReport, imdb_csv_parse, ratings_import_imdb_rows
from ratings.models import MemberImport

if TYPE_CHECKING:
    from accounts.models import User

logger = logging.getLogger(__name__)

UNMATCHED_PAGE_SIZE = 50


def _report_fields(report: ImdbImportReport) -> dict:
    return {
        "rows": report.rows,
        "created_count": report.created,
        "updated_count": report.updated,
        "unchanged_count": report.unchanged,
        "unmatched": [[row.line, row.tconst, row.title] for row in report.unmatched],
    }


def member_import_start(*, user: User, upload: IO[bytes]) -> MemberImport:
    """Check ``upload`` and import it now (small) or queue it (large); raise ``ValidationError``
    (nothing recorded) for a bad file or while the member's previous import runs, and
    ``imdbrec.queueing.BackgroundUnavailable`` when a large file cannot be queued."""
    from ratings.tasks import member_import_task

    busy = MemberImport.objects.filter(user=user, status__in=UNFINISHED).order_by("pk").first()
    if busy is not None:
        raise ValidationError(
            f"Your import #{busy.pk} is still {busy.get_status_display().lower()}; wait for it to finish. "
            "Nothing was imported.",
            code="busy",
        )
    rows = imdb_csv_parse(upload)
    name = str(getattr(upload, "name", "") or "")[:255]
    if len(rows) <= settings.RATINGS_IMPORT_INLINE_ROWS:
        with transaction.atomic():
            report = ratings_import_imdb_rows(user=user, rows=rows)
            run = MemberImport(user=user, file_name=name)
            run_running(run)
            run_finish(run, **_report_fields(report))
        return run
    upload.seek(0)
    content = upload.read()
    text = content.decode("utf-8-sig") if isinstance(content, bytes) else content
    with transaction.atomic():
        run = MemberImport.objects.create(user=user, file_name=name, content=text, rows=len(rows))

        def not_sent(error) -> None:
            MemberImport.objects.filter(pk=run.pk, status=BackgroundRun.Status.QUEUED).update(
                status=BackgroundRun.Status.FAILED, error=f"not started: {error}", content=""
            )

        enqueue_on_commit(member_import_task, run.pk, on_failure=not_sent)
    return run


def member_import_execute(*, run_id: int, task_id: str = "") -> MemberImport:
    """Import the file of queued run ``run_id`` (the worker's side; see the module docstring)."""
    run = MemberImport.objects.select_related("user").get(pk=run_id)
    if run.status not in UNFINISHED:
        return run
    run_running(run, task_id=task_id)
    progress = RunProgress(run, every_seconds=0.5)
    try:
        progress.write(progress=0.05, message="Checking the file…", force=True)
        rows = imdb_csv_parse(io.BytesIO(run.content.encode("utf-8")))
        progress.write(progress=0.2, message=f"Saving {len(rows):,} ratings…", force=True)
        report = ratings_import_imdb_rows(
            user=run.user,
            rows=rows,
            progress=lambda fraction: progress.write(progress=0.2 + 0.8 * fraction, message="Saving your ratings…"),
        )
    except ValidationError as error:  # settings changed since it was queued (a lower limit)
        run_finish(run, status=BackgroundRun.Status.FAILED, error=" ".join(error.messages), content="")
        return run
    except Exception as error:
        if is_database_outage(error):
            raise  # the task retries; the run stays running until then
        logger.exception("member import %s failed", run.pk)
        run_finish(run, status=BackgroundRun.Status.FAILED, error=f"{type(error).__name__}: {error}"[:2000])
        return run
    finally:
        progress.close()
    run_finish(run, content="", progress_message="Done", **_report_fields(report))
    return run


def member_import_progress(run: MemberImport) -> dict:
    """``{"progress": 0..1, "message": str, "done": bool}`` for the report page's progress bar."""
    if run.status == BackgroundRun.Status.QUEUED:
        message = "Waiting for a worker…"
    elif run.status == BackgroundRun.Status.RUNNING:
        message = run.progress_message or "Importing…"
    elif run.status == BackgroundRun.Status.SUCCEEDED:
        message = "Done."
    else:
        message = f"Failed: {run.error}"
    return {"progress": run.progress, "message": message, "done": run.status not in UNFINISHED}
