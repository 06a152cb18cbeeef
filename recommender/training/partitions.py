"""Where a run's rows live, and how they go.

Recommendations and similar titles are partitioned by run (migration 0003): one table per run,
``<table>_run<id>``, loaded bare by the write-back, given the partitioned table's keys
(``partition_keys_build``) and attached when the run is switched to. This module owns those tables'
names and keys, finding them (attached or not) and deleting a run's rows (``run_rows_delete``:
its partitions dropped, its other rows and taste communities deleted).
"""

from __future__ import annotations

import logging

from django.db import OperationalError, connection, transaction

from recommender.models import Recommendation, SimilarTitle, TasteCommunity, TitleFactor, UserFactor

logger = logging.getLogger(__name__)

RUN_TABLES = (Recommendation, SimilarTitle, UserFactor, TitleFactor)
# One partition per run (migration 0003): the write-back fills a bare table, then attaches it.
PARTITIONED_TABLES = (Recommendation, SimilarTitle)


def partition_name(model, run_id: int) -> str:
    """The table holding ``model``'s rows of one run (migration 0003: partitioned by run)."""
    return f"{model._meta.db_table}_run{int(run_id)}"


def _partitions_drop(cursor, model, run_ids) -> None:
    """Drop the runs' partitions of ``model``: instant, where deleting a million rows is not. It
    briefly locks the whole table, so it waits at most 5 s for readers; if it cannot, the rows are
    deleted instead (below) and the empty partition goes with a later cleanup."""
    for run_id in run_ids:
        try:
            with transaction.atomic():
                cursor.execute("SELECT set_config('lock_timeout', '5s', true)")
                cursor.execute(f"DROP TABLE IF EXISTS {partition_name(model, run_id)}")
        except OperationalError as error:
            logger.warning("partition %s not dropped now: %s", partition_name(model, run_id), error)


def partitioned_runs(cursor, model) -> set[int]:
    """Runs that have a table of ``model``'s rows: a partition (maybe empty), or one loaded but never
    attached (its training died between ``run_partitions_load`` and the switch)."""
    prefix = f"{model._meta.db_table}_run"
    cursor.execute(
        "SELECT relname FROM pg_class WHERE relkind = 'r' AND relnamespace = current_schema()::regnamespace "
        "AND starts_with(relname, %s)",
        [prefix],
    )
    return {int(name.removeprefix(prefix)) for (name,) in cursor.fetchall() if name.removeprefix(prefix).isdigit()}


def run_rows_delete(run_ids: list[int]) -> None:
    """Delete every row of the runs ``run_ids`` (their partitions dropped, loaded or attached)."""
    if not run_ids:
        return
    with connection.cursor() as cursor:
        for model in RUN_TABLES:
            if model in PARTITIONED_TABLES:
                _partitions_drop(cursor, model, run_ids)
            # rows of a partitioned table outside the run's partition are in its default partition
            cursor.execute(f"DELETE FROM {model._meta.db_table} WHERE run_id = ANY(%s)", [list(run_ids)])  # noqa: S608
    TasteCommunity.objects.filter(run_id__in=run_ids).delete()


def partition_keys_build(cursor, model, table: str) -> None:
    """Give ``table`` (a run's rows, not attached yet) the keys and indexes of ``model``'s partitioned
    table, read from the catalog: ATTACH PARTITION then adopts them instead of building its own."""
    cursor.execute(
        "SELECT pg_get_indexdef(i.indexrelid), c.contype, pg_get_constraintdef(c.oid) FROM pg_index i "
        "LEFT JOIN pg_constraint c ON c.conindid = i.indexrelid AND c.conrelid = i.indrelid "
        "WHERE i.indrelid = %s::regclass ORDER BY i.indexrelid",
        [model._meta.db_table],
    )
    for number, (index, kind, constraint) in enumerate(cursor.fetchall()):
        if kind in ("p", "u"):
            cursor.execute(f"ALTER TABLE {table} ADD CONSTRAINT {table}_key{number} {constraint}")
        else:
            cursor.execute(f"CREATE INDEX {table}_index{number} ON {table} USING {index.split(' USING ', 1)[1]}")
