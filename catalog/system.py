"""The catalog's panel on the staff system page: what is in the tables, the last imports, and
forms that start an import (the bundled sample, a directory, or IMDb's official download)."""

from django.conf import settings
from django.db import connection

from catalog.importing.datasets import DATASETS
from catalog.importing.indexes import indexes_deferred
from catalog.models import ImportRun

RECENT_RUNS = 5
LOAD_ORDER = {dataset.name: position for position, dataset in enumerate(DATASETS)}
COUNT_COLUMNS = ("lines", "loaded", "rejected", "inserted", "updated", "removed")


def table_row_estimates() -> list[dict]:
    """Rows per catalog table from Postgres' statistics (the importer ANALYZEs after each load).

    ``count(*)`` would scan millions of rows, and would wait behind a first load that holds
    the table; the estimate is instant and exact for small tables.
    """
    tables = [(dataset.name, dataset.table) for dataset in DATASETS]
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT relname, greatest(reltuples, 0)::bigint FROM pg_class WHERE relname = ANY(%s) AND relkind = 'r'",
            [[table for _name, table in tables]],
        )
        rows = dict(cursor.fetchall())
    return [{"file": name, "table": table, "rows": rows.get(table, 0)} for name, table in tables]


def import_run_summary(run: ImportRun) -> dict:
    totals = dict.fromkeys(COUNT_COLUMNS, 0)
    files = []
    # jsonb does not keep key order: show the files in load order
    for name, result in sorted((run.counts or {}).items(), key=lambda item: LOAD_ORDER.get(item[0], 99)):
        for column in COUNT_COLUMNS:
            totals[column] += int(result.get(column) or 0)
        files.append({"name": name, **result})
    duration = (run.finished_at - run.started_at).total_seconds() if run.started_at and run.finished_at else None
    return {
        "run": run,
        "totals": totals,
        "files": files,
        "duration": duration,
        "active": run.status in (ImportRun.Status.QUEUED, ImportRun.Status.RUNNING),
    }


def panel(request) -> dict:
    runs = [import_run_summary(run) for run in ImportRun.objects.all()[:RECENT_RUNS]]
    return {
        "template": "system/_catalog.html",
        "tables": table_row_estimates(),
        "runs": runs,
        "active_runs": [summary for summary in runs if summary["active"]],
        "latest": runs[0] if runs else None,
        "deferred_indexes": indexes_deferred(),
        "sample_dir": settings.IMDB_SAMPLE_DIR,
        "data_dir": settings.IMDB_DATA_DIR,
        "download_url": settings.IMDB_DOWNLOAD_BASE_URL,
    }
