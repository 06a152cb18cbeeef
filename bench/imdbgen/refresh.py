"""The next day's dump: a copy of an IMDb dump with a known share of rows changed, added and gone.

IMDb republishes its files every day; between two days a small share of rows changes. This
makes such a "tomorrow" from any dump (real or generated), streamed file by file, and counts,
per file, the table rows an import of it must change, add and flag as removed, so that a bench
can check that the refresh changed exactly those rows.

Per data line, one draw of a seeded generator decides (so the same seed gives the same files):

* **gone** (``gone``, 0.1 %): the line is left out;
* **changed** (``changed``, 1 %): one non-key field is changed (a runtime, a vote count, an
  aka's text, an episode number, a principal's job, a birth year, the order of a crew list);
* independently, with ``added`` (0.5 %), the line is the template of a **new** row: files keyed by
  one id (titles, people, ratings, crew, episodes) get new lines after their last one, with ids
  above the file's largest; akas and principals get a new row in the same title with the next
  ``ordering``, right after the title's last line (the files stay sorted).

The counts are table rows as the importer counts them: a title.crew line is one row per
(person, role), so reversing a list of three directors changes two rows' ``ordering``. An aka
row's ``name_first`` flag (no earlier line of its title has the same text) is stored too, so when
the first of two equal akas changes or goes, the second is an updated row although its line is
unchanged: those flips are counted in ``updated`` and reported as ``name_first_flips``.
"""

from __future__ import annotations

import gzip
import random
from dataclasses import asdict, dataclass
from pathlib import Path

NULL = b"\\N"
ID_DIGITS = 7  # tt0034583: IMDb pads ids to at least seven digits

# Files keyed by their first column (one line per id) and the field a change edits.
KEYED_FILES = {
    "name.basics": 2,  # birthYear
    "title.basics": 7,  # runtimeMinutes
    "title.ratings": 2,  # numVotes
    "title.crew": None,  # a list reversed (see _crew_change)
    "title.episode": 3,  # episodeNumber
}
# Files keyed by (title, ordering), several lines per title, and the field a change edits.
GROUPED_FILES = {
    "title.akas": 2,  # title
    "title.principals": 4,  # job
}
FILE_NAMES = tuple(KEYED_FILES) + tuple(GROUPED_FILES)


@dataclass
class RefreshCounts:
    """What one file's refresh did: its lines, and the table rows an import must change."""

    file: str
    lines_in: int = 0
    lines_out: int = 0
    updated: int = 0
    inserted: int = 0
    removed: int = 0
    # title.akas: unchanged rows whose name_first flag flips (counted in ``updated`` too)
    name_first_flips: int = 0

    def as_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class Shares:
    changed: float = 0.01
    added: float = 0.005
    gone: float = 0.001

    def __post_init__(self):
        for name in ("changed", "added", "gone"):
            value = getattr(self, name)
            if not 0 <= value <= 1:
                raise ValueError(f"the share of {name} rows must be between 0 and 1, not {value}")
        if self.changed + self.gone > 1:
            raise ValueError("changed + gone cannot be more than all the rows")


DEFAULT_SHARES = Shares()


def crew_rows(line: bytes) -> dict[tuple[bytes, bytes], int]:
    """A title.crew line's table rows as the importer makes them: (person, role) -> ordering."""
    fields = line.split(b"\t")
    rows: dict[tuple[bytes, bytes], int] = {}
    for role, people in ((b"director", fields[1]), (b"writer", fields[2])):
        if people == NULL:
            continue
        for ordering, nconst in enumerate(people.split(b",")):
            rows.setdefault((nconst, role), ordering)
    return rows


def _crew_change(fields: list[bytes]) -> list[bytes] | None:
    """Reverse the directors (else the writers) when that moves someone; None when it cannot."""
    for index in (1, 2):
        people = fields[index].split(b",")
        if fields[index] != NULL and len(set(people)) > 1:
            changed = list(fields)
            changed[index] = b",".join(reversed(people))
            return changed
    return None


def _bump(value: bytes, default: bytes) -> bytes:
    return default if value == NULL else b"%d" % (int(value) + 1)


def _field_change(name: str, fields: list[bytes], index: int) -> list[bytes] | None:
    changed = list(fields)
    if name == "name.basics":
        changed[index] = _bump(fields[index], b"1950")
    elif name == "title.basics":
        changed[index] = _bump(fields[index], b"90")
    elif name == "title.ratings":
        changed[index] = _bump(fields[index], b"1")
    elif name == "title.episode":
        changed[index] = _bump(fields[index], b"1")
    elif name == "title.akas":
        changed[index] = fields[index] + b" (refreshed)"
    elif name == "title.principals":
        changed[index] = b"refreshed" if fields[index] == NULL else fields[index] + b" (refreshed)"
    return changed


def _new_id(prefix: bytes, number: int) -> bytes:
    return prefix + b"%0*d" % (ID_DIGITS, number)


def refresh_file(
    *, name: str, source: Path, target: Path, seed: int, shares: Shares = DEFAULT_SHARES, gzip_level: int = 1
) -> RefreshCounts:
    """Write ``target`` (gzip) from ``source`` (.tsv.gz or .tsv) and return what changed."""
    if name not in FILE_NAMES:
        raise ValueError(f"unknown IMDb file {name!r}; known: {', '.join(FILE_NAMES)}")
    counts = RefreshCounts(file=name)
    # one generator per file, seeded by the file's name too: files can be written in any order
    rng = random.Random(f"{seed}:{name}")
    draw = rng.random
    gone, changed_below = shares.gone, shares.gone + shares.changed
    added = shares.added
    crew = name == "title.crew"
    grouped = name in GROUPED_FILES
    akas = name == "title.akas"
    field = GROUPED_FILES.get(name) if grouped else KEYED_FILES[name]
    opener = gzip.open if str(source).endswith(".gz") else open
    temporary = target.with_name(target.name + ".part")
    with (
        opener(source, "rb") as lines,
        open(temporary, "wb") as raw,
        # no name or time in the gzip header: the same seed gives the same bytes
        gzip.GzipFile(filename="", mode="wb", fileobj=raw, compresslevel=gzip_level, mtime=0) as out,
    ):
        write = out.write
        write(lines.readline())  # the header
        # keyed files: templates of the new lines, and the largest id seen
        templates: list[bytes] = []
        largest = 0
        prefix = b""
        # grouped files: the current title, its largest ordering and its pending new rows
        group: bytes | None = None
        group_largest = 0
        pending: list[bytes] = []
        grouped_done: set[bytes] = set()
        # title.akas: the texts already seen in the current title, in the old file and the new
        seen_before: set[bytes] = set()
        seen_after: set[bytes] = set()

        def flush_group() -> None:
            nonlocal pending
            for offset, template in enumerate(pending, start=1):
                fields = template.split(b"\t")
                fields[1] = b"%d" % (group_largest + offset)
                if name == "title.akas":
                    fields[2] += b" (new)"
                write(b"\t".join(fields) + b"\n")
                counts.lines_out += 1
                counts.inserted += 1
            if pending:
                grouped_done.add(group)
            pending = []

        for line in lines:
            counts.lines_in += 1
            body = line.rstrip(b"\n")
            if grouped:
                key, ordering, _rest = body.split(b"\t", 2)
                if key != group:
                    if group is not None:
                        flush_group()
                    if key in grouped_done:
                        raise ValueError(f"{name}: {key.decode()} appears in two places; the file is not sorted")
                    group, group_largest = key, 0
                    seen_before.clear()
                    seen_after.clear()
                group_largest = max(group_largest, int(ordering))
                if akas:
                    text = _rest.split(b"\t", 1)[0]
                    first_before = text not in seen_before
                    seen_before.add(text)
            else:
                key = body.split(b"\t", 1)[0]
                number = int(key[2:])
                if number > largest:
                    largest, prefix = number, key[:2]
            if draw() < added:
                (pending if grouped else templates).append(body)
            roll = draw()
            if roll < gone:
                counts.removed += len(crew_rows(body)) if crew else 1
                continue
            after_text = None  # title.akas: the changed line's new text
            if roll < changed_below:
                fields = body.split(b"\t")
                new_fields = _crew_change(fields) if crew else _field_change(name, fields, field)
                if new_fields is not None:
                    if crew:
                        before, after = crew_rows(body), crew_rows(b"\t".join(new_fields))
                        counts.updated += sum(1 for row, ordering in after.items() if before.get(row) != ordering)
                    else:
                        counts.updated += 1
                    body = b"\t".join(new_fields)
                    if akas:
                        after_text = new_fields[2]
            if akas:
                if after_text is None and (text not in seen_after) != first_before:
                    # an unchanged line whose flag differs from yesterday's is one more updated row
                    counts.updated += 1
                    counts.name_first_flips += 1
                seen_after.add(text if after_text is None else after_text)
            write(body + b"\n")
            counts.lines_out += 1
        if grouped and group is not None:
            flush_group()
        for offset, template in enumerate(templates, start=1):
            fields = template.split(b"\t")
            fields[0] = _new_id(prefix, largest + offset)
            new_line = b"\t".join(fields)
            write(new_line + b"\n")
            counts.lines_out += 1
            counts.inserted += len(crew_rows(new_line)) if crew else 1
    temporary.replace(target)
    return counts
