"""Rejected lines of the IMDb import: spooled to a temporary file while a file loads (constant
memory) and COPYed into ``ImportReject`` at the end (``RejectSpool``), with file, line and reason;
``duplicates_reject`` turns keys repeated inside a file into such rejects (the first line wins).
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from catalog.importing.datasets import Dataset
from catalog.importing.reader import raw_lines

REJECT_RAW_LIMIT = 2000


def _copy_text(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n").replace("\r", "\\r")


class RejectSpool:
    """Rejected lines wait in a temporary file (COPY text format) until the load is done."""

    def __init__(self, *, run_id: int, file_name: str):
        self.run_id = run_id
        self.file_name = _copy_text(file_name[:64])
        self.file = tempfile.TemporaryFile()
        self.count = 0

    def add(self, line: int, raw: bytes, reason: str) -> None:
        text = raw[: REJECT_RAW_LIMIT * 4].decode("utf-8", "backslashreplace").replace("\x00", "\\x00")
        if len(text) > REJECT_RAW_LIMIT:
            text = text[:REJECT_RAW_LIMIT] + "…"
        row = f"{self.run_id}\t{self.file_name}\t{line}\t{_copy_text(reason)}\t{_copy_text(text)}\n"
        self.file.write(row.encode("utf-8"))
        self.count += 1

    def reset(self) -> None:
        self.file.seek(0)
        self.file.truncate()
        self.count = 0

    def copy_into_database(self, cursor) -> None:
        if not self.count:
            return
        self.file.seek(0)
        cursor.copy_expert(
            "COPY catalog_importreject (run_id, file, line, reason, raw) FROM STDIN (FORMAT text)",
            self.file,
            1 << 20,
        )

    def close(self) -> None:
        self.file.close()


def duplicates_reject(cursor, dataset: Dataset, path: Path, spool: RejectSpool, chunk_bytes: int) -> set:
    """A key that repeats inside the file: the first line wins, each later one is a reject.
    Returns the first key column's values of the rejected lines."""
    keys = dataset.keys_of_line
    key_list = ", ".join(keys)
    matches = " AND ".join(f"s.{column} = d.{column}" for column in keys)
    cursor.execute(
        f"""
        WITH duplicated AS (
            SELECT {key_list}, min(line) AS first_line FROM import_stage
            GROUP BY {key_list} HAVING min(line) <> max(line)
        )
        DELETE FROM import_stage s USING duplicated d
        WHERE {matches} AND s.line <> d.first_line
        RETURNING s.line, d.first_line, {", ".join(f"s.{column}" for column in keys)}
        """
    )
    duplicates = {row[0]: row[1:] for row in cursor.fetchall()}  # crew: several rows per line
    if not duplicates:
        return set()
    raw = raw_lines(path, set(duplicates), chunk_bytes=chunk_bytes)
    label = ", ".join(dataset.header[: len(keys)])
    for line in sorted(duplicates):
        first_line, *values = duplicates[line]
        shown = ", ".join(str(value) for value in values)
        spool.add(line, raw.get(line, b""), f"duplicate {label} {shown} (first on line {first_line})")
    return {values[0] for _first_line, *values in duplicates.values()}
