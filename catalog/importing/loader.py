"""Loads one IMDb file into its table: COPY, set-based SQL, one transaction per file.

Two ways in, chosen per file:

* **first load** (the table is empty): the secondary indexes and unique constraints are
  dropped, the converted rows are COPYed straight into the table, and the indexes are built
  once at the end, which is several times faster than maintaining them row by row. A key
  that repeats inside the file makes the unique index fail to build; the load then falls
  back (to a savepoint) and goes the second way, which names the duplicates.
* **update** (the table has rows): rows are COPYed into a temporary staging table with their
  line numbers; duplicates of a key are rejected (the first line wins); one
  ``INSERT ... ON CONFLICT DO UPDATE ... WHERE changed`` adds new rows and changes the
  changed ones (unchanged rows are not written at all), and rows that are no longer in the
  file get ``removed_at`` (they are kept: users' ratings point at titles).

Either way the whole file is one transaction: a failure midway rolls back to the data that
was there before, which the site keeps serving meanwhile. Rejected lines are spooled to a
temporary file (constant memory) and COPYed into ``ImportReject`` at the end
(``catalog.importing.rejects``); the indexes a first load drops are built after the run's loads
(``catalog.importing.indexes``).
"""

from __future__ import annotations

import queue
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import psycopg2
from django.db import DatabaseError, DataError, IntegrityError, connection, transaction

from catalog.importing.convert import Context
from catalog.importing.datasets import Dataset
from catalog.importing.delta import DeltaNotPossible, DeltaReader
from catalog.importing.indexes import indexes_defer
from catalog.importing.reader import DEFAULT_CHUNK_BYTES, FileProblem, TsvReader
from catalog.importing.rejects import RejectSpool, duplicates_reject
from catalog.importing.session import IMPORT_SESSION_SETTINGS
from catalog.models import WEIGHTED_RATING_MIN_VOTES

# One import at a time, whoever starts it (command, worker, another worker).
IMPORT_LOCK_KEY = 0x1DB0_1A9E
COPY_OPTIONS = "FORMAT csv, DELIMITER E'\\t', QUOTE E'\\x01', NULL '\\N'"

ProgressCallback = Callable[[int, int, int], None]  # (lines read, bytes read, file size)


@dataclass(frozen=True)
class LoadOptions:
    chunk_bytes: int = DEFAULT_CHUNK_BYTES
    # On a first load, files at least this big (on disk) get their table's indexes dropped and
    # built after the load; smaller ones load with the indexes in place (cheap at that size,
    # and no DDL on the table).
    defer_indexes_min_bytes: int = 8 << 20
    # On an update, as many written rows (new, changed or removed) as this, and at least this
    # share of the table's rows, get the same treatment: a full dump loaded over the demo sample
    # is in effect a first load. A daily refresh is not: at full size it writes 0.9 M of the 55 M
    # akas (1.6 %), and rebuilding every index of the table for that cost 718 s, against a few
    # seconds of index maintenance row by row.
    defer_indexes_min_rows: int = 200_000
    defer_indexes_min_share: float = 0.25
    # Flag rows missing from the file as removed (a newer full dump); off to add a partial file.
    flag_missing: bool = True


@dataclass(frozen=True)
class DeltaSource:
    """The file imported last (kept, checksum checked by the caller): an update then reads only
    the lines that differ from it (``catalog.importing.delta``)."""

    kept: Path


@dataclass
class FileResult:
    dataset: str
    file: str
    mode: str = ""
    lines: int = 0
    loaded: int = 0
    rejected: int = 0
    inserted: int = 0
    updated: int = 0
    removed: int = 0
    seconds: float = 0.0
    phases: dict = field(default_factory=dict)
    error: str = ""

    def as_dict(self) -> dict:
        return asdict(self)


class _KeysNotOrdered(Exception):
    """title.crew on the first-load path: lines not in key order, so a tconst may repeat."""


class _CopySource:
    """A file-like object for ``copy_expert``, fed by a converter thread.

    Reading, decompressing and converting (Python) overlap with Postgres parsing and storing
    the previous chunks: psycopg2 releases the GIL while it sends, so the thread converts the
    next chunk meanwhile. A few chunks at most wait in the queue: memory stays flat.
    """

    QUEUED_CHUNKS = 4

    def __init__(
        self,
        reader: TsvReader | DeltaReader,
        dataset: Dataset,
        context: Context,
        spool: RejectSpool,
        on_progress: ProgressCallback | None,
    ):
        self.reader = reader
        self.convert = dataset.convert
        self.context = context
        self.spool = spool
        self.on_progress = on_progress
        self.rows = 0
        self.error: BaseException | None = None
        self.queue: queue.Queue = queue.Queue(maxsize=self.QUEUED_CHUNKS)
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self._produce, name=f"import-{dataset.name}", daemon=True)
        self.thread.start()

    def _put(self, item) -> bool:
        while not self.stopping.is_set():
            try:
                self.queue.put(item, timeout=0.2)
                return True
            except queue.Full:
                continue
        return False

    def _produce(self) -> None:
        try:
            for chunk in self.reader.chunks():
                for bad in chunk.bad:
                    self.spool.add(bad.line, bad.raw, bad.reason)
                rows: list[bytes] = []
                for line_no, lines in chunk.runs:
                    rows += self.convert(lines, line_no, self.context)
                count = len(rows)
                rows.append(b"")
                payload = b"\n".join(rows) if count else b""
                if not self._put((payload, count, self.reader.lines_read, self.reader.position)):
                    return
            self._put(None)
        except BaseException as error:  # handed to the reading side, which raises it
            self._put(error)

    def read(self, size: int = -1) -> bytes:
        while True:
            item = self.queue.get()
            if item is None:
                return b""
            if isinstance(item, BaseException):
                # psycopg2 turns an exception in read() into a cancelled COPY; keep the real one
                self.error = item
                raise item
            payload, count, lines, position = item
            self.rows += count
            if self.on_progress:
                self.on_progress(lines, position, self.reader.size)
            if payload:
                return payload

    def close(self) -> None:
        """Stop the converter thread (the COPY may have ended early) and wait for it."""
        self.stopping.set()
        self.thread.join()


def open_checked(dataset: Dataset, path: Path, *, chunk_bytes: int = DEFAULT_CHUNK_BYTES) -> TsvReader:
    """Open ``path`` and check its header: a missing file or a wrong header fails here, early."""
    reader = TsvReader(path, chunk_bytes=chunk_bytes)
    if tuple(reader.header) != dataset.header:
        reader.close()
        raise FileProblem(
            f"{Path(path).name}: the header is {' '.join(reader.header)!r}, "
            f"expected {' '.join(dataset.header)!r} for {dataset.name}"
        )
    return reader


def load_file(
    *,
    dataset: Dataset,
    path: Path,
    run_id: int,
    on_progress: ProgressCallback | None = None,
    on_step: Callable[[str], None] | None = None,
    options: LoadOptions | None = None,
    delta: DeltaSource | None = None,
) -> FileResult:
    """Load one file in one transaction and return its counts; raises FileProblem for a bad file.

    ``on_progress`` hears about rows as they are read, ``on_step`` about the SQL steps after.
    With ``delta`` (the file imported last into the non-empty table) an update reads only the
    lines that differ from it, falling back to the whole file when either is out of key order.
    """
    path = Path(path)
    result = FileResult(dataset=dataset.name, file=path.name)
    started = time.monotonic()
    options = options or LoadOptions()
    chunk_bytes = options.chunk_bytes
    open_checked(dataset, path, chunk_bytes=chunk_bytes).close()  # before any database work
    defer_indexes = path.stat().st_size >= options.defer_indexes_min_bytes
    spool = RejectSpool(run_id=run_id, file_name=path.name)
    step = on_step or (lambda text: None)
    try:
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [IMPORT_LOCK_KEY])
            # Losing the last commit in a crash is harmless here (rerun the import); waiting for
            # each flush is not. Index builds get memory to sort in.
            for setting, value in IMPORT_SESSION_SETTINGS.items():
                cursor.execute(f"SET LOCAL {setting} = '{value}'")
            cursor.execute(f"SELECT NOT EXISTS (SELECT 1 FROM {dataset.table})")
            loaded_first = False
            if cursor.fetchone()[0]:
                try:
                    with transaction.atomic():
                        _first_load(cursor, dataset, path, result, spool, on_progress, chunk_bytes, defer_indexes, step)
                    loaded_first = True
                except (IntegrityError, psycopg2.IntegrityError, _KeysNotOrdered):
                    spool.reset()
                    result.phases = {}
            delta_done = False
            problems = []
            kept = delta.kept if delta is not None else None
            # ids in numeric order (tt9999999 before tt10000000) first, else in text order
            for numeric in (True, False) if not loaded_first and kept is not None and options.flag_missing else ():
                try:
                    with transaction.atomic():
                        _staged_load(
                            cursor,
                            dataset,
                            path,
                            result,
                            spool,
                            on_progress,
                            chunk_bytes,
                            step,
                            options,
                            kept=kept,
                            numeric=numeric,
                        )
                    delta_done = True
                    break
                except DeltaNotPossible as error:
                    spool.reset()
                    problems.append(str(error))
                    result.phases = {}
                    result.inserted = result.updated = result.removed = result.lines = 0
            if problems:
                result.phases["delta_fallback" if not delta_done else "delta_retried"] = "; ".join(problems) + (
                    "" if delta_done else "; compared the whole file"
                )
            if not loaded_first and not delta_done:
                _staged_load(cursor, dataset, path, result, spool, on_progress, chunk_bytes, step, options)
            mark = time.monotonic()
            step("recording rejects")
            spool.copy_into_database(cursor)
            if dataset.name in ("title.basics", "title.ratings") and not (
                loaded_first and dataset.name == "title.basics"
            ):
                step("copying ratings into titles")
                result.phases["titles_rating_synced"] = title_ratings_sync(cursor)
            step("analyzing")
            cursor.execute(f"ANALYZE {dataset.table}")
            step("committing")
            result.phases["finish_s"] = round(time.monotonic() - mark, 3)
    finally:
        spool.close()
    result.rejected = spool.count
    result.loaded = result.lines - result.rejected
    result.seconds = round(time.monotonic() - started, 3)
    return result


def _copy(cursor, sql: str, source: _CopySource) -> None:
    try:
        cursor.copy_expert(sql, source, 1 << 20)
    except (psycopg2.Error, DatabaseError) as error:
        source.close()
        if source.error is not None:  # the file broke (truncated, unreadable), not the database
            raise source.error from None
        if isinstance(error, (psycopg2.DataError, DataError)):
            # a value the converter should have refused: fail the file, say where
            raise FileProblem(f"Postgres refused a row near line {source.reader.lines_read}: {error}".strip())
        raise
    finally:
        source.close()


def _first_load(cursor, dataset, path, result, spool, on_progress, chunk_bytes, defer_indexes, step) -> None:
    result.mode = "first load"
    mark = time.monotonic()
    # Unique constraints are rebuilt inside this transaction: a key repeated in the file must
    # fail the load before it commits. Plain indexes are deferred (see indexes_build_deferred).
    # Small files load with every index in place: cheap at that size, and no DDL on the table.
    # A natural primary key (tconst, nconst) too: COPY into a heap without any index, then one
    # sorted build, is far cheaper than a million B-tree insertions in random places (a third
    # of title.basics' load). Foreign keys that point at it (users' ratings of titles) go with
    # it and come back, checked, at the end: the table is empty, so nothing can refer to it yet
    # and re-checking them is instant. A line-number id only ever appends to its B-tree: kept.
    with_primary = not dataset.line_is_id
    unique = _unique_constraints(cursor, dataset.table, with_primary=with_primary) if defer_indexes else []
    referencing = _referencing_foreign_keys(cursor, dataset.table) if unique else []
    for table, name, _definition in referencing:
        cursor.execute(f"ALTER TABLE {table} DROP CONSTRAINT {connection.ops.quote_name(name)}")
    for name, _definition in unique:
        cursor.execute(f"ALTER TABLE {dataset.table} DROP CONSTRAINT {connection.ops.quote_name(name)}")
    if defer_indexes:
        result.phases["indexes_deferred"] = indexes_defer(cursor, dataset.table)
    # A big first load empties the (already empty) table in this subtransaction so that COPY can
    # write its rows frozen: nothing scans 30 GB of heap again later to set hint bits or to
    # freeze it (an anti-wraparound vacuum), and the visibility map is set for index-only
    # scans. The table is locked anyway (the constraints dropped above); TRUNCATE needs the
    # foreign keys that point at it gone, which they are when its unique keys were dropped.
    freeze = bool(defer_indexes and (unique or not _referencing_foreign_keys(cursor, dataset.table)))
    if freeze:
        cursor.execute(f"TRUNCATE {dataset.table}")
    result.phases["frozen"] = freeze
    context = Context(spool.add, numbered=dataset.line_is_id)
    columns = ("id", *dataset.columns) if dataset.line_is_id else dataset.columns
    copy_options = COPY_OPTIONS + (", FREEZE" if freeze else "")
    # A row trigger makes COPY insert row by row instead of in batches. The only one is the
    # weighted rating's (migration 0010), and the rows of a file carry no rating (title.basics:
    # the ratings sync below sets them, and the trigger fires then); a small file keeps it.
    if defer_indexes:
        cursor.execute(f"ALTER TABLE {dataset.table} DISABLE TRIGGER USER")
    with open_checked(dataset, path, chunk_bytes=chunk_bytes) as reader:
        source = _CopySource(reader, dataset, context, spool, on_progress)
        _copy(cursor, f"COPY {dataset.table} ({', '.join(columns)}) FROM STDIN ({copy_options})", source)
        result.lines = reader.lines_read
    if defer_indexes:
        cursor.execute(f"ALTER TABLE {dataset.table} ENABLE TRIGGER USER")
    if dataset.line_is_id:  # rows added later by updates take ids after the last line
        cursor.execute(
            f"SELECT setval(pg_get_serial_sequence(%s, 'id'), coalesce(max(id), 0) + 1, false) FROM {dataset.table}",
            [dataset.table],
        )
    if dataset.line_key and not context.keys_ascending:
        raise _KeysNotOrdered(dataset.name)
    result.inserted = source.rows
    result.phases["copy_s"] = round(time.monotonic() - mark, 3)
    if dataset.name == "title.basics":
        # cheap now, before the indexes exist (title.ratings is loaded first)
        step("copying ratings into titles")
        result.phases["titles_rating_synced"] = title_ratings_sync(cursor)
    mark = time.monotonic()
    if unique:
        step("building unique constraints")
    built = result.phases["constraint_seconds"] = {}
    for name, definition in unique:
        # a key repeated in the file fails here with IntegrityError
        started = time.monotonic()
        cursor.execute(f"ALTER TABLE {dataset.table} ADD CONSTRAINT {connection.ops.quote_name(name)} {definition}")
        built[name] = round(time.monotonic() - started, 3)
    for table, name, definition in referencing:
        cursor.execute(f"ALTER TABLE {table} ADD CONSTRAINT {connection.ops.quote_name(name)} {definition}")
    result.phases["constraints_s"] = round(time.monotonic() - mark, 3)


def _unique_constraints(cursor, table: str, *, with_primary: bool = False) -> list[tuple[str, str]]:
    """(name, definition) of the table's unique constraints, its primary key first when asked."""
    kinds = ["p", "u"] if with_primary else ["u"]
    cursor.execute(
        "SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint "
        "WHERE conrelid = %s::regclass AND contype = ANY(%s) ORDER BY contype, conname",
        [table, kinds],
    )
    return cursor.fetchall()


def _referencing_foreign_keys(cursor, table: str) -> list[tuple[str, str, str]]:
    """(table, name, definition) of the foreign keys of other tables that point at ``table``."""
    cursor.execute(
        "SELECT conrelid::regclass::text, conname, pg_get_constraintdef(oid) FROM pg_constraint "
        "WHERE confrelid = %s::regclass AND contype = 'f' AND conrelid <> confrelid ORDER BY 1, 2",
        [table],
    )
    return cursor.fetchall()


def _column_types(cursor, table: str, columns: tuple[str, ...]) -> list[str]:
    cursor.execute(
        "SELECT attname, format_type(atttypid, atttypmod) FROM pg_attribute "
        "WHERE attrelid = %s::regclass AND attnum > 0 AND NOT attisdropped",
        [table],
    )
    types = dict(cursor.fetchall())
    return [f"{column} {types[column]}" for column in columns]


def _staged_load(
    cursor, dataset, path, result, spool, on_progress, chunk_bytes, step, options, kept=None, numeric=True
) -> None:
    result.mode = "update" if kept is None else "delta update"
    mark = time.monotonic()
    columns = ", ".join(dataset.columns)
    column_types = ", ".join(_column_types(cursor, dataset.table, dataset.columns))
    cursor.execute("DROP TABLE IF EXISTS import_stage; DROP TABLE IF EXISTS import_old")
    cursor.execute(f"CREATE TEMP TABLE import_stage (line bigint, {column_types}) ON COMMIT DROP")
    context = Context(spool.add, numbered=True)
    if kept is None:
        with open_checked(dataset, path, chunk_bytes=chunk_bytes) as reader:
            source = _CopySource(reader, dataset, context, spool, on_progress)
            _copy(cursor, f"COPY import_stage (line, {columns}) FROM STDIN ({COPY_OPTIONS})", source)
            result.lines = reader.lines_read
    else:
        _delta_stage(
            cursor, dataset, path, Path(kept), result, spool, context, on_progress, chunk_bytes, column_types, numeric
        )
    step("comparing with the catalog")
    cursor.execute("ANALYZE import_stage")
    result.phases["copy_s"] = round(time.monotonic() - mark, 3)

    mark = time.monotonic()
    # ascending keys cannot repeat (a delta read checks that both files ascend)
    if kept is None and not (dataset.checks_key_order and context.keys_ascending):
        step("looking for repeated keys")
        groups = duplicates_reject(cursor, dataset, path, spool, chunk_bytes)
        if groups and dataset.first_flag:
            _first_flag_recompute(cursor, dataset, groups)
    result.phases["duplicates_s"] = round(time.monotonic() - mark, 3)

    # What will be written, found with hash joins (not a million index probes): the new and
    # changed rows, and the keys of rows gone from the file. Re-importing the same dump finds
    # nothing and writes nothing.
    mark = time.monotonic()
    same_key = " AND ".join(f"present.{column} = s.{column}" for column in dataset.key)
    changed = " OR ".join(f"present.{column} IS DISTINCT FROM s.{column}" for column in dataset.compare)
    real_rows = f"AND s.{dataset.marker_column} IS NOT NULL" if dataset.marker_column else ""
    cursor.execute("DROP TABLE IF EXISTS import_changes; DROP TABLE IF EXISTS import_gone")
    cursor.execute(
        f"""
        CREATE TEMP TABLE import_changes ON COMMIT DROP AS
        SELECT {", ".join(f"s.{column}" for column in dataset.columns)}, present.{dataset.key[0]} IS NULL AS is_new
        FROM import_stage s LEFT JOIN {dataset.table} present ON {same_key}
        WHERE (present.{dataset.key[0]} IS NULL OR present.removed_at IS NOT NULL OR {changed}) {real_rows}
        """
    )
    changes = cursor.rowcount
    # A delta read looks for gone rows only under the line keys it touched: those of the new and
    # changed lines (a changed crew line may have lost people) and of the lines gone.
    touched = ""
    if kept is not None:
        line_keys = ", ".join(dataset.keys_of_line)
        same_line = " AND ".join(f"present.{column} = k.{column}" for column in dataset.keys_of_line)
        touched = (
            f"AND EXISTS (SELECT 1 FROM (SELECT {line_keys} FROM import_stage UNION SELECT {line_keys} FROM import_old)"
            f" k WHERE {same_line})"
        )
    cursor.execute(
        f"""
        CREATE TEMP TABLE import_gone ON COMMIT DROP AS
        SELECT {", ".join(f"present.{column}" for column in dataset.key)} FROM {dataset.table} present
        WHERE present.removed_at IS NULL AND NOT EXISTS (SELECT 1 FROM import_stage s WHERE {same_key})
        {touched}
        {"" if options.flag_missing else "AND false"}
        """
    )
    gone = cursor.rowcount
    result.phases["compare_s"] = round(time.monotonic() - mark, 3)
    if changes + gone >= max(
        options.defer_indexes_min_rows, options.defer_indexes_min_share * _rows_estimate(cursor, dataset.table)
    ):
        # a big change: build the plain indexes once afterwards rather than row by row
        result.phases["indexes_deferred"] = indexes_defer(cursor, dataset.table)

    # Only imports write these tables, one at a time (the advisory lock): no row can appear
    # between the comparison and the writes, so plain INSERT and UPDATE do.
    mark = time.monotonic()
    if changes:
        step("saving new and changed rows")
        cursor.execute(f"INSERT INTO {dataset.table} ({columns}) SELECT {columns} FROM import_changes WHERE is_new")
        result.inserted = cursor.rowcount
        assignments = ", ".join(f"{column} = c.{column}" for column in dataset.compare)
        matches = " AND ".join(f"c.{column} = t.{column}" for column in dataset.key)
        cursor.execute(
            f"UPDATE {dataset.table} t SET {assignments}, removed_at = NULL FROM import_changes c "
            f"WHERE NOT c.is_new AND {matches}"
        )
        result.updated = cursor.rowcount
    result.phases["upsert_s"] = round(time.monotonic() - mark, 3)

    mark = time.monotonic()
    if gone:
        step("flagging removed rows")
        matches = " AND ".join(f"g.{column} = t.{column}" for column in dataset.key)
        cursor.execute(
            f"UPDATE {dataset.table} t SET removed_at = now() FROM import_gone g WHERE {matches} AND t.removed_at IS NULL"
        )
        result.removed = cursor.rowcount
    result.phases["removed_s"] = round(time.monotonic() - mark, 3)
    cursor.execute("DROP TABLE import_stage; DROP TABLE import_changes; DROP TABLE import_gone")
    cursor.execute("DROP TABLE IF EXISTS import_old")


def _delta_stage(
    cursor, dataset, path, kept, result, spool, context, on_progress, chunk_bytes, column_types, numeric
) -> None:
    """Stage only the lines of ``path`` that differ from ``kept``; the old versions of changed
    and gone lines go into ``import_old`` (their keys: rows there may be gone)."""
    columns = ", ".join(dataset.columns)
    with tempfile.TemporaryDirectory(prefix="imdb-delta-") as scratch:
        old_spool = Path(scratch) / f"{dataset.name}.old.tsv"
        old_reader = open_checked(dataset, kept, chunk_bytes=chunk_bytes)
        try:
            new_reader = open_checked(dataset, path, chunk_bytes=chunk_bytes)
        except BaseException:
            old_reader.close()
            raise
        with DeltaReader(
            old_reader, new_reader, key_fields=len(dataset.keys_of_line), old_spool=old_spool, numeric=numeric
        ) as reader:
            source = _CopySource(reader, dataset, context, spool, on_progress)
            _copy(cursor, f"COPY import_stage (line, {columns}) FROM STDIN ({COPY_OPTIONS})", source)
            result.lines = reader.lines_read
            result.phases["delta"] = {
                "changed_lines": reader.changed,
                "added_lines": reader.added,
                "gone_lines": reader.gone,
            }
        cursor.execute(f"CREATE TEMP TABLE import_old (line bigint, {column_types}) ON COMMIT DROP")
        # the old lines were imported (or rejected) before: their rejects are not reported again
        ignored = RejectSpool(run_id=0, file_name=old_spool.name)
        try:
            with open_checked(dataset, old_spool, chunk_bytes=chunk_bytes) as old_lines:
                old_source = _CopySource(old_lines, dataset, Context(ignored.add, numbered=True), ignored, None)
                _copy(cursor, f"COPY import_old (line, {columns}) FROM STDIN ({COPY_OPTIONS})", old_source)
        finally:
            ignored.close()
        cursor.execute("ANALYZE import_old")


def _first_flag_recompute(cursor, dataset, groups: set) -> None:
    """The converter flagged the first line of each (group, value) before repeated keys were
    dropped: in the groups that lost lines, the first line that is left is first."""
    flag, group, value = dataset.first_flag
    cursor.execute(
        f"""
        UPDATE import_stage s SET {flag} = (s.line = f.line)
          FROM (SELECT {group}, {value}, min(line) AS line FROM import_stage
                 WHERE {group} = ANY(%s) GROUP BY {group}, {value}) f
         WHERE s.{group} = f.{group} AND s.{value} = f.{value}
        """,
        [sorted(groups)],
    )


def _rows_estimate(cursor, table: str) -> float:
    """The planner's row count of ``table`` (kept by ANALYZE, which every load ends with); 0 when
    it has never been analysed. Counting 55 M rows to decide this would cost more than it saves."""
    cursor.execute("SELECT greatest(reltuples, 0) FROM pg_class WHERE oid = %s::regclass", [table])
    return float(cursor.fetchone()[0])


def title_ratings_sync(cursor) -> int:
    """Copy title.ratings into Title.average_rating/num_votes, set-based; returns titles changed.

    The weighted rating's ``C`` is set first, from the ratings about to be copied, so that the
    trigger computes each changed title's ``weighted_rating`` with it (migration 0010)."""
    mean_moved = title_weighted_rating_constants_refresh(cursor)
    cursor.execute(
        """
        UPDATE catalog_title t SET average_rating = r.average_rating, num_votes = r.num_votes
        FROM catalog_titlerating r
        WHERE r.title_id = t.tconst AND r.removed_at IS NULL
          AND (t.average_rating IS DISTINCT FROM r.average_rating OR t.num_votes <> r.num_votes)
        """
    )
    changed = cursor.rowcount
    cursor.execute(
        """
        UPDATE catalog_title t SET average_rating = NULL, num_votes = 0
        WHERE (t.average_rating IS NOT NULL OR t.num_votes <> 0)
          AND NOT EXISTS (
              SELECT 1 FROM catalog_titlerating r WHERE r.title_id = t.tconst AND r.removed_at IS NULL
          )
        """
    )
    changed += cursor.rowcount
    if mean_moved:
        title_weighted_rating_rewrite(cursor)
    return changed


def title_weighted_rating_constants_refresh(cursor) -> bool:
    """Set ``C`` of the weighted rating to the mean IMDb rating (to two decimals) of the titles
    rated once the ratings are synced, and ``m`` to the setting; True when either moved.

    Two decimals: a daily refresh moves the mean of 1.6 M ratings by far less than 0.005, and
    each move of ``C`` rewrites every rated title's key (1.6 M rows at full size), so it is
    rewritten only when the rounded mean moves (a title's key by at most 0.005)."""
    cursor.execute(
        """
        UPDATE catalog_weightedrating w SET mean = c.mean, min_votes = %(m)s, updated_at = now()
          FROM (SELECT round(avg(r.average_rating), 2) AS mean
                  FROM catalog_titlerating r JOIN catalog_title t ON t.tconst = r.title_id
                 WHERE r.removed_at IS NULL AND r.num_votes > 0) c
         WHERE w.mean IS DISTINCT FROM c.mean OR w.min_votes <> %(m)s
        """,
        {"m": WEIGHTED_RATING_MIN_VOTES},
    )
    return cursor.rowcount > 0


def title_weighted_rating_rewrite(cursor) -> int:
    """Recompute every rated title's ``weighted_rating`` (after ``C`` or ``m`` moved); returns
    the titles rewritten."""
    cursor.execute(
        """
        UPDATE catalog_title SET weighted_rating = catalog_title_weighted_rating(average_rating, num_votes)
         WHERE num_votes > 0
           AND weighted_rating IS DISTINCT FROM catalog_title_weighted_rating(average_rating, num_votes)
        """
    )
    return cursor.rowcount


def check_file(
    *,
    dataset: Dataset,
    path: Path,
    chunk_bytes: int = DEFAULT_CHUNK_BYTES,
    on_progress: ProgressCallback | None = None,
    keep: int = 20,
) -> tuple[FileResult, list[tuple]]:
    """Read and convert a file without touching the database: counts and the first ``keep`` rejects.

    Duplicate keys are only found by a real load (they need the whole file at once).
    """
    result = FileResult(dataset=dataset.name, file=Path(path).name, mode="dry run")
    started = time.monotonic()
    kept: list[tuple] = []

    def reject(line: int, raw: bytes, reason: str) -> None:
        result.rejected += 1
        if len(kept) < keep:
            kept.append((line, reason))

    context = Context(reject, numbered=True)
    with open_checked(dataset, Path(path), chunk_bytes=chunk_bytes) as reader:
        for chunk in reader.chunks():
            for bad in chunk.bad:
                reject(bad.line, bad.raw, bad.reason)
            for line_no, lines in chunk.runs:
                dataset.convert(lines, line_no, context)
            if on_progress:
                on_progress(reader.lines_read, reader.position, reader.size)
        result.lines = reader.lines_read
    result.loaded = result.lines - result.rejected
    result.seconds = round(time.monotonic() - started, 3)
    return result, kept
