"""Delta refresh: only the lines of a newer dump that differ from the file imported last.

After a file is imported, a copy of it is kept (``IMDB_LAST_IMPORTED_DIR``; a hard link when it
can be) and its sha256 recorded in the run's counts. The next import of that dataset, when the
kept file is the one the last successful import recorded, reads the kept and the new file side
by side. IMDb sorts its files by the line key (tconst, nconst, or tconst and ordering), so one
merge pass finds the lines that are new or changed (by their raw bytes: identical lines are
neither converted nor sent) and the lines that are gone. ``DeltaReader`` hands the loader
only the differing new lines, with their line numbers in the new file, so rejects say where to
look as before; the old versions of changed and gone lines are spooled to a file from which
the loader takes the keys whose rows may be gone.

Either file out of key order stops the merge (``DeltaNotPossible``) and the loader falls back to
comparing the whole file. Keys that strictly ascend cannot repeat: no duplicate check is needed.
"""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from catalog.importing.reader import BadLine, Chunk, TsvReader

logger = logging.getLogger(__name__)


class DeltaNotPossible(Exception):
    """The side-by-side read cannot be trusted (a file out of key order): compare the whole file."""


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as stream:
        while block := stream.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()


def kept_path(directory: Path, path: Path) -> Path:
    return Path(directory) / Path(path).name


def file_keep(*, path: Path, directory: Path) -> Path:
    """Keep ``path`` as the last imported copy of its dataset (hard link, else copy), replacing
    the previous one only once the new copy is complete."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    target = kept_path(directory, path)
    for other in directory.glob(f"{Path(path).name.split('.tsv')[0]}.tsv*"):
        if other.name != target.name and not other.name.startswith("."):
            other.unlink()  # a .tsv kept before a .tsv.gz (or the other way round)
    fd, temporary = tempfile.mkstemp(dir=directory, prefix=f".{target.name}.")
    os.close(fd)
    os.unlink(temporary)
    try:
        try:
            os.link(path, temporary)
        except OSError:
            shutil.copyfile(path, temporary)
        os.replace(temporary, target)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return target


def _line_key(line: bytes, fields: int) -> bytes:
    """What identifies a line: its first ``fields`` fields (tconst; tconst and ordering)."""
    return b"\t".join(line.split(b"\t", fields)[:fields])


def _group_order(first: bytes, numeric: bool):
    """The first field in the file's order: ids as numbers (length, then bytes) or as text."""
    return (len(first), first) if numeric else first


def _numbered_lines(reader: TsvReader) -> Iterator[tuple[int, bytes, BadLine | None]]:
    for chunk in reader.chunks():
        if not chunk.bad:
            for start, lines in chunk.runs:
                for offset, line in enumerate(lines, start + 1):
                    yield offset, line, None
            continue
        bad = {item.line: item for item in chunk.bad}
        good = {number: line for start, lines in chunk.runs for number, line in enumerate(lines, start + 1)}
        for number in sorted(bad.keys() | good.keys()):
            item = bad.get(number)
            yield number, item.raw if item else good[number], item


class DeltaReader:
    """Looks like a ``TsvReader`` of the new file, but yields only its lines that differ from
    the old file's (changed or added), with their own numbers. The old versions of changed and
    gone lines go to ``old_spool`` (a .tsv with the header), ``gone`` counts the gone lines."""

    def __init__(self, old: TsvReader, new: TsvReader, *, key_fields: int, old_spool: Path, numeric: bool = True):
        self.numeric = numeric
        self.old = old
        self.new = new
        self.path = new.path
        self.size = new.size
        self.header = new.header
        self.key_fields = key_fields
        self.old_spool = old_spool
        self.lines_read = 0
        self.changed = 0
        self.added = 0
        self.gone = 0
        self.chunk_bytes = new.chunk_bytes

    @property
    def position(self) -> int:
        return self.new.position

    def close(self) -> None:
        try:
            self.new.close()
        finally:
            self.old.close()

    def __enter__(self) -> DeltaReader:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def chunks(self) -> Iterator[Chunk]:
        """The new file's differing lines. Lines are compared in groups of one first field (a
        title's akas or principals; one line elsewhere): IMDb orders the groups, and within a
        group lines are matched by their bytes, whatever their order (orderings 1, 10, 2...)."""
        fields = self.key_fields
        name = self.path.name
        pending: list[tuple[int, bytes, BadLine | None]] = []
        size = 0
        with open(self.old_spool, "wb") as spool:
            spool.write(b"\t".join(part.encode() for part in self.old.header) + b"\n")
            old_groups = self._groups(self.old, f"the kept {self.old.path.name}")
            old = next(old_groups, None)
            for order, group in self._groups(self.new, name):
                self.lines_read = group[-1][0] - 1
                while old is not None and old[0] < order:
                    for _number, line, _bad in old[1]:
                        spool.write(line + b"\n")
                    self.gone += len(old[1])
                    old = next(old_groups, None)
                if old is None or old[0] != order:
                    self.added += len(group)
                    pending += group
                    size += sum(len(line) for _number, line, _bad in group)
                else:
                    old_group = old[1]
                    old = next(old_groups, None)
                    if len(old_group) == len(group) and all(
                        o[1] == n[1] for o, n in zip(old_group, group, strict=True)
                    ):
                        continue  # unchanged: the usual case
                    old_lines = {line for _number, line, _bad in old_group}
                    new_lines = {line for _number, line, _bad in group}
                    old_keys = {_line_key(line, fields) for line in old_lines}
                    for item in group:
                        if item[1] not in old_lines:
                            if _line_key(item[1], fields) in old_keys:
                                self.changed += 1
                            else:
                                self.added += 1
                            pending.append(item)
                            size += len(item[1])
                    new_keys = {_line_key(line, fields) for line in new_lines}
                    for _number, line, _bad in old_group:
                        if line not in new_lines:
                            spool.write(line + b"\n")  # changed or gone: its rows may be gone
                            if _line_key(line, fields) not in new_keys:
                                self.gone += 1
                if size >= self.chunk_bytes:
                    yield _chunk(pending)
                    pending, size = [], 0
            while old is not None:
                for _number, line, _bad in old[1]:
                    spool.write(line + b"\n")
                self.gone += len(old[1])
                old = next(old_groups, None)
            self.lines_read = self.new.lines_read
        if pending:
            yield _chunk(pending)

    def _groups(self, reader: TsvReader, label: str) -> Iterator[tuple[Any, list[tuple[int, bytes, BadLine | None]]]]:
        """Consecutive lines with the same first field, checked to ascend and not to repeat a key."""
        fields = self.key_fields
        numeric = self.numeric
        previous: Any = None
        first = b""
        group: list[tuple[int, bytes, BadLine | None]] = []
        for item in _numbered_lines(reader):
            line = item[1]
            cut = line.find(b"\t")
            head = line if cut < 0 else line[:cut]
            if head == first and group:
                group.append(item)
                continue
            if group:
                yield self._checked(previous, group, fields, label)
            order = _group_order(head, numeric)
            if previous is not None and order <= previous:
                raise DeltaNotPossible(f"{label} is not sorted by its key at line {item[0]}")
            previous, first, group = order, head, [item]
        if group:
            yield self._checked(previous, group, fields, label)

    @staticmethod
    def _checked(order, group, fields, label):
        if len(group) > 1 and len({_line_key(line, fields) for _number, line, _bad in group}) < len(group):
            raise DeltaNotPossible(f"{label} repeats a key near line {group[-1][0]}")
        return order, group


def _chunk(items: list[tuple[int, bytes, BadLine | None]]) -> Chunk:
    """Lines with their numbers as the loader's chunks: runs of consecutive lines, bad lines apart."""
    runs: list[tuple[int, list[bytes]]] = []
    bad: list[BadLine] = []
    run: list[bytes] = []
    run_start = -1
    for number, line, problem in items:
        if problem is not None:
            bad.append(problem)
            continue
        if run and run_start + len(run) + 1 == number:
            run.append(line)
        else:
            if run:
                runs.append((run_start, run))
            run, run_start = [line], number - 1
    if run:
        runs.append((run_start, run))
    return Chunk(runs, bad, sum(len(lines) for _start, lines in runs))
