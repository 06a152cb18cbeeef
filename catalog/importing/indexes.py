"""Deferred index builds of the IMDb import: a first load drops a table's plain secondary indexes
(``indexes_defer``, in the load's own transaction, their definitions kept in a table of their own)
and ``indexes_build_deferred`` builds them once after the run's loads, several at a time.
``indexes_deferred`` lists those still waiting (the staff page, ``import_imdb --build-indexes``).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

from django.db import connection, transaction

from catalog.importing.session import IMPORT_SESSION_SETTINGS

# Plain secondary indexes of a table being loaded for the first time are dropped and built
# once after the run's loads: far faster than maintaining them row by row, and the build
# (CREATE INDEX, a SHARE lock) lets the site read meanwhile. Their definitions are kept in
# this table, written in the load's own transaction, so that a crash between the load and
# the build loses nothing: the next run (or `import_imdb --build-indexes`) builds them.
DEFERRED_INDEX_TABLE = "catalog_import_deferred_index"


def _deferred_table_ensure(cursor) -> None:
    cursor.execute(
        f"""
        CREATE TABLE IF NOT EXISTS {DEFERRED_INDEX_TABLE} (
            name text PRIMARY KEY,
            table_name text NOT NULL,
            definition text NOT NULL,
            deferred_at timestamptz NOT NULL DEFAULT now()
        )
        """
    )


def indexes_defer(cursor, table: str) -> int:
    _deferred_table_ensure(cursor)
    cursor.execute(
        "SELECT indexrelid::regclass::text, pg_get_indexdef(indexrelid) FROM pg_index i "
        "WHERE indrelid = %s::regclass AND NOT indisprimary AND NOT indisunique "
        "AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = i.indexrelid) ORDER BY 1",
        [table],
    )
    indexes = cursor.fetchall()
    for name, definition in indexes:
        cursor.execute(
            f"INSERT INTO {DEFERRED_INDEX_TABLE} (name, table_name, definition) VALUES (%s, %s, %s) "
            "ON CONFLICT (name) DO UPDATE SET definition = EXCLUDED.definition",
            [name, table, definition],
        )
        cursor.execute(f"DROP INDEX {name}")
    return len(indexes)


def _deferred_rows() -> list[tuple[str, str, str]]:
    """(index, table, definition) of the indexes waiting to be built after a first load."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT to_regclass(%s) IS NOT NULL", [DEFERRED_INDEX_TABLE])
        if not cursor.fetchone()[0]:
            return []
        cursor.execute(f"SELECT name, table_name, definition FROM {DEFERRED_INDEX_TABLE} ORDER BY table_name, name")
        return cursor.fetchall()


def indexes_deferred() -> list[tuple[str, str]]:
    """(index, table) of the indexes waiting to be built after a first load."""
    return [(name, table) for name, table, _definition in _deferred_rows()]


INDEX_BUILD_WORKERS = 2  # this machine's cores: one index build each (GIN builds are not parallel)


def _index_cost(definition: str) -> int:
    """Rough cost order, dearest first, so that the long trigram builds start together."""
    return 0 if "gin_trgm_ops" in definition else 1 if "USING gin" in definition else 2


def _index_build(name: str) -> bool:
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(f"SELECT definition FROM {DEFERRED_INDEX_TABLE} WHERE name = %s FOR UPDATE", [name])
        row = cursor.fetchone()
        if row is None:  # built meanwhile by another run
            return False
        cursor.execute(f"SET LOCAL maintenance_work_mem = '{IMPORT_SESSION_SETTINGS['maintenance_work_mem']}'")
        cursor.execute("SELECT to_regclass(%s) IS NULL", [name])
        if cursor.fetchone()[0]:
            cursor.execute(row[0])
        cursor.execute(f"DELETE FROM {DEFERRED_INDEX_TABLE} WHERE name = %s", [name])
    return True


def indexes_build_deferred(
    *,
    on_index: Callable[[str, str], None] | None = None,
    workers: int = INDEX_BUILD_WORKERS,
    index_seconds: dict[str, dict[str, float]] | None = None,
) -> dict[str, float]:
    """Build every deferred index, each in its own transaction; returns wall seconds per table.

    ``index_seconds``, when given, receives each build's own wall seconds: {table: {index: s}}.

    Builds run on ``workers`` connections at once (CREATE INDEX takes a SHARE lock, so builds
    on one table do not wait for each other), dearest first. Inside an outer transaction (a
    test's) other connections could not see the table, so the builds then run one by one.
    """
    pending = sorted(_deferred_rows(), key=lambda row: (_index_cost(row[2]), row[1], row[0]))
    spans: dict[str, list[float]] = {}
    lock = threading.Lock()

    def build(name: str, table: str) -> None:
        with lock:
            if on_index:
                on_index(name, table)
        mark = time.monotonic()
        built = _index_build(name)
        with lock:
            if built:
                finished = time.monotonic()
                span = spans.setdefault(table, [mark, mark])
                span[0], span[1] = min(span[0], mark), max(span[1], finished)
                if index_seconds is not None:
                    index_seconds.setdefault(table, {})[name] = round(finished - mark, 3)

    def build_in_thread(name: str, table: str) -> None:
        try:
            build(name, table)
        finally:
            connection.close()  # this thread's own connection

    if workers <= 1 or connection.in_atomic_block or len(pending) <= 1:
        for name, table, _definition in pending:
            build(name, table)
    else:
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="index-build") as pool:
            for future in [pool.submit(build_in_thread, name, table) for name, table, _definition in pending]:
                future.result()  # a failed build raises here, after the others have finished
    return {table: round(end - begin, 3) for table, (begin, end) in spans.items()}
