"""Streaming reader for IMDb's TSV files: constant memory, exact bytes, line numbers.

IMDb's format: UTF-8, LF line ends, a header row, tab-separated fields, ``\\N`` for NULL and no
quoting at all (a ``"`` is a character like any other, and so is a backslash). The reader hands
out lines as raw ``bytes`` in chunks of about ``chunk_bytes``; line numbers are the file's own
(the header is line 1), so a reject says exactly where to look (``sed -n 48213p``).

Each chunk is checked in C first (UTF-8 decode, a scan for NUL, our COPY quote byte and CR);
only a chunk that fails is examined line by line, so a clean file costs almost nothing here.
"""

from __future__ import annotations

import gzip
import io
import os
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

# The importer's COPY uses CSV mode with this byte as the quote character, so that IMDb's raw
# quotes and backslashes reach Postgres untouched. A row containing it cannot be sent as is.
COPY_QUOTE = b"\x01"
_SLOW_PATH_BYTES = (b"\x00", COPY_QUOTE, b"\r")

DEFAULT_CHUNK_BYTES = 1 << 20


class FileProblem(Exception):
    """The file as a whole cannot be imported: missing, unreadable, wrong header, corrupt."""


@dataclass
class BadLine:
    line: int
    raw: bytes
    reason: str


def open_binary(path: Path) -> tuple[io.BufferedIOBase, io.BufferedReader]:
    """The decompressed byte stream and the underlying file (whose position measures progress)."""
    try:
        raw = open(path, "rb")  # noqa: SIM115 - closed by the reader
    except FileNotFoundError:
        raise FileProblem(f"{path}: file not found")
    except OSError as error:
        raise FileProblem(f"{path}: cannot be read ({error.strerror or error})")
    if path.name.endswith(".gz"):
        return gzip.GzipFile(fileobj=raw, mode="rb"), raw
    return raw, raw


class TsvReader:
    """Reads one IMDb file: ``header`` first, then ``chunks()`` of (first line number, lines, bad lines)."""

    def __init__(self, path: Path, *, chunk_bytes: int = DEFAULT_CHUNK_BYTES):
        self.path = Path(path)
        self.chunk_bytes = chunk_bytes
        self.stream, self._raw = open_binary(self.path)
        self.size = os.fstat(self._raw.fileno()).st_size
        self.lines_read = 0
        try:
            self.header = self._read_header()
        except BaseException:
            self.close()
            raise

    def _read_header(self) -> list[str]:
        try:
            line = self.stream.readline()
        except (OSError, EOFError, zlib.error) as error:
            raise FileProblem(f"{self.path.name}: cannot be read ({error})")
        if not line:
            raise FileProblem(f"{self.path.name}: the file is empty (no header row)")
        try:
            text = line.decode("utf-8")
        except UnicodeDecodeError:
            raise FileProblem(f"{self.path.name}: the header row is not UTF-8 text")
        return text.rstrip("\r\n").split("\t")

    @property
    def position(self) -> int:
        """Bytes of the file on disk consumed so far (compressed bytes for .gz)."""
        try:
            return self._raw.tell()
        except (OSError, ValueError):
            return self.size

    def close(self) -> None:
        try:
            self.stream.close()
        finally:
            self._raw.close()

    def __enter__(self) -> TsvReader:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def chunks(self) -> Iterator[Chunk]:
        """Yield the file's data lines in chunks of about ``chunk_bytes``.

        Good lines come without their terminator, in runs of consecutive lines that each know
        the number of the line before them. Bad lines (invalid UTF-8, NUL, a stray CR) are
        reported with their number and left out of the runs; numbering stays exact.
        """
        tail = b""
        line_no = 1  # the header
        read = self.stream.read
        while True:
            try:
                block = read(self.chunk_bytes)
            except (OSError, EOFError, zlib.error) as error:
                raise FileProblem(
                    f"{self.path.name}: cannot be read after line {line_no} ({error}); the file is truncated or corrupt"
                )
            if not block:
                if tail:  # a last line without a newline
                    self.lines_read += 1
                    yield _check([tail], line_no, tail)
                return
            block = tail + block
            cut = block.rfind(b"\n") + 1
            if cut == 0:  # one very long line so far: keep reading
                tail = block
                continue
            tail = block[cut:]
            data = block[:cut]
            lines = data.split(b"\n")
            lines.pop()  # the empty piece after the last newline
            self.lines_read += len(lines)
            yield _check(lines, line_no, data)
            line_no += len(lines)


@dataclass
class Chunk:
    runs: list[tuple[int, list[bytes]]]
    bad: list[BadLine]
    lines: int


def _check(lines: list[bytes], line_no: int, data: bytes) -> Chunk:
    try:
        data.decode("utf-8")
        clean = not any(marker in data for marker in _SLOW_PATH_BYTES)
    except UnicodeDecodeError:
        clean = False
    if clean:
        return Chunk([(line_no, lines)], [], len(lines))
    runs: list[tuple[int, list[bytes]]] = []
    bad: list[BadLine] = []
    run: list[bytes] = []
    run_start = line_no
    for number, line in enumerate(lines, start=line_no + 1):
        if line.endswith(b"\r"):  # a CRLF file: the CR belongs to the line end
            line = line[:-1]
        reason = line_problem(line)
        if not reason:
            run.append(line)
            continue
        bad.append(BadLine(number, line, reason))
        if run:
            runs.append((run_start, run))
        run = []
        run_start = number
    if run:
        runs.append((run_start, run))
    return Chunk(runs, bad, len(lines))


def line_problem(line: bytes) -> str:
    """Why a line cannot be loaded byte-for-byte, or '' when it can."""
    try:
        line.decode("utf-8")
    except UnicodeDecodeError as error:
        bad = " ".join(f"0x{byte:02X}" for byte in line[error.start : error.end])
        return f"invalid UTF-8 at byte {error.start + 1} ({bad})"
    for marker, name in ((b"\x00", "NUL byte"), (COPY_QUOTE, "control character 0x01"), (b"\r", "carriage return")):
        position = line.find(marker)
        if position >= 0:
            return f"{name} inside the row at byte {position + 1}"
    return ""


def raw_lines(path: Path, numbers: set[int], *, chunk_bytes: int = DEFAULT_CHUNK_BYTES) -> dict[int, bytes]:
    """The raw bytes of the given line numbers, read again from the file (used for rare rejects)."""
    found: dict[int, bytes] = {}
    if not numbers:
        return found
    with TsvReader(path, chunk_bytes=chunk_bytes) as reader:
        for chunk in reader.chunks():
            for line_no, lines in chunk.runs:
                for number in numbers.intersection(range(line_no + 1, line_no + 1 + len(lines))):
                    found[number] = lines[number - line_no - 1]
            for bad in chunk.bad:
                if bad.line in numbers:
                    found[bad.line] = bad.raw
            if len(found) == len(numbers):
                break
    return found
