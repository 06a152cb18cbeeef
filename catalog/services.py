"""Catalog writes: importing IMDb's files into the catalog tables.

An import is an ``ImportRun``: created (``import_run_create``) with its source, a directory of
``*.tsv.gz``/``*.tsv`` files or the base URL of IMDb's download site, then executed
(``import_run_execute``) file by file, each file in its own transaction (see
``catalog.importing.loader``). The management command runs it in the foreground; the staff
system page queues it for a Celery worker (``import_run_start``). Either way the run records
its progress, per-file counts and rejects, which the admin and the system page show.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from pathlib import Path

import psycopg2
from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import DatabaseError

from catalog.importing.datasets import DATASET_NAMES, Dataset, datasets_named
from catalog.importing.delta import file_keep, file_sha256, kept_path
from catalog.importing.download import DownloadError, dataset_files_download
from catalog.importing.indexes import indexes_build_deferred
from catalog.importing.loader import DeltaSource, FileResult, LoadOptions, load_file
from catalog.importing.reader import FileProblem
from catalog.models import ImportRun
from catalog.search_table import title_search_table_rebuild
from imdbrec.queueing import is_database_outage
from imdbrec.runs import RunKind, RunProgress, run_active, run_execute, run_finish, run_queue, run_running

logger = logging.getLogger(__name__)

PROGRESS_EVERY_SECONDS = 0.5
# Progress callback for the command's progress bar: one dict per chunk (see _RunProgress.emit).
ProgressListener = Callable[[dict], None]


def _is_url(source: str) -> bool:
    return source.startswith(("http://", "https://"))


def import_run_create(*, source: str, files: list[str] | tuple[str, ...] | None = None) -> ImportRun:
    """Record an import of ``files`` (all seven when empty) from a directory or a download URL.

    Nothing is imported yet; a directory that does not exist, or holds none of the files, and
    unknown file names are refused here with a ValidationError.
    """
    source = (source or "").strip()
    files = [name.strip() for name in (files or []) if name.strip()]
    try:
        datasets = datasets_named(files)
    except ValueError as error:
        raise ValidationError({"files": str(error)})
    if not source:
        raise ValidationError({"source": "Give a directory or a download URL."})
    if not _is_url(source):
        directory = Path(source).expanduser()
        try:
            is_directory = directory.is_dir()
        except OSError as error:  # a name too long, a path the system refuses outright
            raise ValidationError({"source": f"{source[:200]} cannot be used ({error.strerror or error})."})
        if not is_directory:
            raise ValidationError({"source": f"{source[:200]} is not a directory."})
        if not any(dataset.path_in(directory) for dataset in datasets):
            expected = ", ".join(f"{dataset.name}.tsv.gz" for dataset in datasets)
            raise ValidationError({"source": f"{source} holds none of the IMDb files ({expected}, or .tsv)."})
        source = str(directory.resolve())
    run = ImportRun(source=source, files=files)
    run.full_clean()
    run.save()
    return run


# One import at a time (see imdbrec.runs): the lock is held by the run executing.
IMPORT_RUNS = RunKind(
    model=ImportRun,
    lock="catalog-import",
    busy="import #{run.pk} is {status}; start another when it has finished.",
    refused="not started: import #{other} was running; start this one again when it has finished",
    orphaned="stopped: the process running it ended (killed or crashed); start the import again",
    expired="not started: no worker took it in time; start the import again",
)


def import_run_active() -> ImportRun | None:
    """The import queued or running now, if any. A run marked running whose process died
    (worker killed) is marked failed here, and a queued run older than a day's work is given up."""
    return run_active(IMPORT_RUNS)


def import_run_start(*, source: str, files: list[str] | None = None) -> ImportRun:
    """Create a run and queue it for a worker once the run row is committed.

    Refused with a ValidationError while another import is queued or running. Raises
    ``imdbrec.queueing.BackgroundUnavailable`` (and records nothing) when the task queue does
    not answer; a send that fails after the commit marks the run failed.
    """
    from catalog.tasks import import_run_execute_task

    return run_queue(
        IMPORT_RUNS, create=lambda: import_run_create(source=source, files=files), task=import_run_execute_task
    )


def import_run_sample_start() -> ImportRun:
    """Queue an import of the sample bundled with the project (catalog/sample)."""
    return import_run_start(source=str(settings.IMDB_SAMPLE_DIR))


def import_run_download_start(*, base_url: str | None = None) -> ImportRun:
    """Queue a download of IMDb's official files into IMDB_DATA_DIR, then their import."""
    return import_run_start(source=base_url or settings.IMDB_DOWNLOAD_BASE_URL)


class _RunProgress:
    """Progress of a run, in ImportRun's fields and for an optional listener (the command's bar).

    The fields are written through a second database connection: the file being loaded is one
    open transaction on the main connection, and the system page must see progress meanwhile.
    """

    def __init__(self, run: ImportRun, listener: ProgressListener | None):
        self.run = run
        self.listener = listener
        self.writer = RunProgress(run, every_seconds=PROGRESS_EVERY_SECONDS)
        self.total_bytes = 0
        self.bytes_before = 0  # bytes of the files already loaded
        self.rows_before = 0
        self.lines = 0  # of the current file
        self.current = ""
        self.started = time.monotonic()

    def plan(self, paths: list[Path]) -> None:
        self.total_bytes = sum(path.stat().st_size for path in paths) or 1

    def _write(self, *, current_file: str, rows_done: int, rows_total: int | None, force: bool = False) -> None:
        # During downloads the row fields count bytes; the progress view says so.
        progress = min(1.0, rows_done / rows_total) if rows_total else None
        self.writer.write(
            progress=progress,
            message=current_file,
            current_file=current_file[:64],
            rows_done=rows_done,
            rows_total=rows_total,
            force=force,
        )

    def downloading(self, name: str, done: int, total: int | None) -> None:
        # During downloads the row fields count bytes; the progress view says so.
        self._write(current_file=f"downloading {name}", rows_done=done, rows_total=total)
        if self.listener:
            self.listener({"phase": "download", "file": name, "done": done, "total": total})

    def file_started(self, dataset: Dataset, path: Path) -> None:
        self.current = dataset.name
        self.lines = 0
        self._write(current_file=dataset.name, rows_done=self.rows_before, rows_total=None, force=True)
        if self.listener:
            self.listener({"phase": "start", "file": dataset.name, "path": str(path), "size": path.stat().st_size})

    def file_progress(self, lines: int, position: int, size: int) -> None:
        fraction = min(1.0, (self.bytes_before + position) / self.total_bytes)
        self.lines = lines
        rows_done = self.rows_before + lines
        # Row counts are unknown until the end (files are compressed): estimate from bytes.
        rows_total = int(rows_done / fraction) if fraction > 0.001 else None
        self._write(current_file=self.current, rows_done=rows_done, rows_total=rows_total)
        if self.listener:
            estimate = int(lines * size / position) if position else None
            self.listener({"phase": "rows", "file": self.current, "lines": lines, "estimate": estimate})

    def file_step(self, step: str) -> None:
        self._write(
            current_file=f"{self.current}: {step}",
            rows_done=self.rows_before + self.lines,
            rows_total=self.rows_before + self.lines,
            force=True,
        )
        if self.listener:
            self.listener({"phase": "step", "file": self.current, "step": step})

    def file_finished(self, path: Path | None, result: dict) -> None:
        if path is not None:
            self.bytes_before += path.stat().st_size
        self.rows_before += result.get("lines", 0)
        if self.listener:
            self.listener({"phase": "done", "file": self.current, "result": result})

    def index_started(self, name: str, table: str) -> None:
        self._write(current_file=f"index {name}", rows_done=self.rows_before, rows_total=self.rows_before, force=True)
        if self.listener:
            self.listener({"phase": "index", "file": table, "index": name})

    def close(self) -> None:
        self.writer.close()


def import_run_execute(
    *,
    run_id: int,
    task_id: str = "",
    on_progress: ProgressListener | None = None,
    options: LoadOptions | None = None,
    download_dir: str | Path | None = None,
) -> ImportRun:
    """Import the run's files one by one; a file that fails is reported and the others go on.

    A run whose source is a URL first downloads the files into ``download_dir`` (default
    ``IMDB_DATA_DIR``). Idempotent: a run already finished is returned as it is (a redelivered task does nothing),
    and importing the same files again changes no row.
    """
    run = ImportRun.objects.get(pk=run_id)
    return run_execute(
        IMPORT_RUNS,
        run,
        work=lambda run: _import_run_execute_exclusive(run, task_id, on_progress, options, download_dir),
    )


def _import_run_execute_exclusive(run, task_id, on_progress, options, download_dir) -> ImportRun:
    run_running(run, task_id=task_id, counts={}, rows_done=0, rows_total=None)
    progress = _RunProgress(run, on_progress)
    try:
        _execute(run, progress, options or LoadOptions(), Path(download_dir or settings.IMDB_DATA_DIR))
    except Exception as error:
        if is_database_outage(error):
            raise  # the database went away: nothing can be recorded now; the task retries
        if type(error).__name__ == "SoftTimeLimitExceeded":
            error_text = "stopped: the task ran out of time"
        else:
            logger.exception("import run %s failed", run.pk)
            error_text = (
                str(error) if isinstance(error, (FileProblem, DownloadError)) else f"{type(error).__name__}: {error}"
            )
        run_finish(run, status=ImportRun.Status.FAILED, error=error_text)
        if type(error).__name__ == "SoftTimeLimitExceeded":
            raise
        return run
    finally:
        progress.close()
    return run


def _execute(run: ImportRun, progress: _RunProgress, options: LoadOptions, download_dir: Path) -> None:
    datasets = datasets_named(run.files)
    if _is_url(run.source):
        directory = download_dir
        dataset_files_download(
            base_url=run.source,
            directory=directory,
            names=[dataset.name for dataset in datasets],
            on_progress=progress.downloading,
        )
    else:
        directory = Path(run.source)
    plan = [(dataset, dataset.path_in(directory)) for dataset in datasets]
    if not run.files:  # "everything in the directory": the files that are there
        plan = [(dataset, path) for dataset, path in plan if path is not None]
        if not plan:
            raise FileProblem(f"{directory} holds none of the IMDb files")
    progress.plan([path for _dataset, path in plan if path is not None])

    for dataset, path in plan:
        if path is None:
            result = FileResult(
                dataset=dataset.name,
                file=f"{dataset.name}.tsv.gz",
                error=f"{dataset.name}.tsv.gz (or .tsv) not found in {directory}",
            ).as_dict()
        else:
            progress.file_started(dataset, path)
            delta, refresh = _delta_source(run, dataset, path, options)
            try:
                result = load_file(
                    dataset=dataset,
                    path=path,
                    run_id=run.pk,
                    on_progress=progress.file_progress,
                    on_step=progress.file_step,
                    options=options,
                    delta=delta,
                ).as_dict()
                result["refresh"] = refresh
                if options.flag_missing:
                    _file_keep(run, path, result)
            except FileProblem as error:
                result = FileResult(dataset=dataset.name, file=path.name, error=str(error)).as_dict()
            except (DatabaseError, psycopg2.Error) as error:
                if is_database_outage(error):
                    raise
                logger.exception("import run %s: %s failed", run.pk, dataset.name)
                result = FileResult(
                    dataset=dataset.name, file=path.name, error=f"database error: {str(error).strip()}"
                ).as_dict()
        progress.file_finished(path, result)
        run.counts[dataset.name] = result
        run.current_file = "" if dataset is plan[-1][0] else dataset.name
        run.rows_done = progress.rows_before
        run.save(update_fields=["counts", "current_file", "rows_done"])

    # Indexes dropped for first loads are built once, now that every file is in.
    index_seconds: dict[str, dict[str, float]] = {}
    built = indexes_build_deferred(on_index=progress.index_started, index_seconds=index_seconds)
    tables = {dataset.table: dataset.name for dataset, _path in plan}
    for table, seconds in built.items():
        if tables.get(table) in run.counts:
            run.counts[tables[table]]["indexes_seconds"] = seconds
            run.counts[tables[table]]["index_seconds"] = index_seconds.get(table, {})

    _search_table_refresh(run, progress)

    failed = [name for name, result in run.counts.items() if result.get("error")]
    if not failed:
        status = ImportRun.Status.SUCCEEDED
    elif len(failed) == len(run.counts):
        status = ImportRun.Status.FAILED
    else:
        status = ImportRun.Status.PARTIAL
    run_finish(
        run,
        status=status,
        error="\n".join(f"{name}: {run.counts[name]['error']}" for name in failed),
        rows_total=run.rows_done,
        current_file="",
        progress=1.0,
    )


# Files whose rows take a value from other lines of the file, which a delta does not read.
DELTA_WHOLE_FILE = {
    "title.akas": "an aka's name_first flag depends on the other lines of its title",
}


def _delta_source(run: ImportRun, dataset: Dataset, path: Path, options: LoadOptions) -> tuple[DeltaSource | None, str]:
    """The kept copy of the file imported last, when it is the one the last successful import of
    ``dataset`` recorded (then an update reads only the lines that differ), and why not otherwise."""
    if not options.flag_missing:
        return None, "full: a partial file"
    if dataset.name in DELTA_WHOLE_FILE:
        return None, f"full: {DELTA_WHOLE_FILE[dataset.name]}"
    kept = kept_path(Path(settings.IMDB_LAST_IMPORTED_DIR), path)
    if not kept.is_file():
        return None, "full: no kept copy of the file imported last"
    recorded = ""
    for counts in (
        ImportRun.objects.exclude(pk=run.pk)
        .filter(counts__has_key=dataset.name)
        .order_by("-pk")
        .values_list("counts", flat=True)
    ):
        if not counts[dataset.name].get("error"):
            recorded = counts[dataset.name].get("sha256", "")
            break
    if not recorded:
        return None, "full: the last successful import recorded no checksum"
    if file_sha256(kept) != recorded:
        return None, "full: the kept file is not the one imported last (checksum differs)"
    return DeltaSource(kept=kept), "delta"


def _file_keep(run: ImportRun, path: Path, result: dict) -> None:
    """Keep the file just imported for the next delta refresh and record its sha256."""
    try:
        checksum = file_sha256(path)
        file_keep(path=path, directory=Path(settings.IMDB_LAST_IMPORTED_DIR))
    except OSError as error:
        logger.warning("import run %s: could not keep %s for the next delta refresh: %s", run.pk, path, error)
        return
    result["sha256"] = checksum


# The files the search table (``catalog.search_table``) is made from: names, akas and votes.
SEARCH_SOURCES = ("title.basics", "title.akas", "title.ratings")


def _search_table_refresh(run: ImportRun, progress: _RunProgress) -> None:
    """Rebuild the search's first tier after a run that changed any of its sources; its time
    goes into the title.basics counts (``search_table_seconds``)."""
    changed = [
        name
        for name in SEARCH_SOURCES
        if any(run.counts.get(name, {}).get(key) for key in ("inserted", "updated", "removed"))
    ]
    if not changed:
        return
    progress.index_started("catalog_titlesearch", "catalog_titlesearch")
    started = time.monotonic()
    result = title_search_table_rebuild()
    seconds = round(time.monotonic() - started, 1)
    logger.info("import run %s: search table rebuilt, %s names in %.1f s", run.pk, result["rows"], seconds)
    target = run.counts.get("title.basics") or run.counts[changed[0]]
    target["search_table_seconds"] = seconds


__all__ = [
    "DATASET_NAMES",
    "import_run_create",
    "import_run_download_start",
    "import_run_execute",
    "import_run_sample_start",
    "import_run_start",
]
