"""Row converters: IMDb lines (bytes) in, rows ready for Postgres COPY out.

One function per file, written as a tight loop because it runs once per row of files with tens
of millions of rows. Each checks everything Postgres would refuse (column count, ids, numbers,
lengths, array syntax) so that COPY never fails on a value: a bad line becomes a reject with
its line number and reason, and the rest of the file loads.

Output rows are COPY ``FORMAT csv`` with a tab delimiter, ``\\N`` as NULL and the quote byte
0x01, which never occurs in a row (the reader rejects such lines). So every other byte, raw
``"`` and backslashes included, is stored exactly as IMDb wrote it. Arrays are written as
Postgres array literals with every element quoted.

With ``numbered`` the line number is written as an extra first column (the staging table
needs it to report duplicates); without it rows go straight into the catalog table.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import overload

NULL = b"\\N"
EMPTY_ARRAY = b"{}"


class Context:
    """What a converter needs besides the lines: where rejects go, whether to number rows."""

    def __init__(self, reject: Callable[[int, bytes, str], None], *, numbered: bool):
        self.reject = reject
        self.numbered = numbered
        # whether the keys of the lines came in increasing order (then no key can repeat)
        self.previous_key: bytes = b""
        self.ascending_text = True
        self.ascending_numeric = True
        # title.akas: the title whose run of lines is being read and the aka titles seen in it
        self.aka_title_id: bytes = b""
        self.aka_seen: set[bytes] = set()

    def note_key(self, key: bytes) -> None:
        previous = self.previous_key
        if key <= previous:
            self.ascending_text = False
        if (len(key), key) <= (len(previous), previous):
            self.ascending_numeric = False
        self.previous_key = key

    @property
    def keys_ascending(self) -> bool:
        return self.ascending_text or self.ascending_numeric


def show(value: bytes, limit: int = 40) -> str:
    text = value.decode("utf-8", "backslashreplace")
    return f'"{text[:limit]}…"' if len(text) > limit else f'"{text}"'


def columns_reason(expected: int, found: int) -> str:
    return f"expected {expected} tab-separated columns, found {found}"


def _too_long(value: bytes, limit: int) -> bool:
    # varchar limits count characters; bytes are never fewer than characters
    return len(value) > limit and len(value.decode("utf-8")) > limit


def _quote_elements(elements: list[bytes]) -> bytes:
    return b'{"' + b'","'.join(e.replace(b"\\", b"\\\\").replace(b'"', b'\\"') for e in elements) + b'"}'


@overload
def list_literal(value: bytes, limit: None, separator: bytes = ...) -> bytes: ...
@overload
def list_literal(value: bytes, limit: int, separator: bytes = ...) -> bytes | None: ...
def list_literal(value: bytes, limit: int | None, separator: bytes = b",") -> bytes | None:
    """A separated list as an array literal; None when an element is longer than ``limit``."""
    if value == NULL:
        return EMPTY_ARRAY
    if limit is not None and len(value) > limit:
        for element in value.split(separator):
            if _too_long(element, limit):
                return None
    if b'"' in value or b"\\" in value:
        return _quote_elements(value.split(separator))
    return b'{"' + value.replace(separator, b'","') + b'"}'


def characters_literal(value: bytes) -> bytes | None:
    """title.principals ``characters``: a JSON array of strings, as a text[] literal."""
    if value == NULL:
        return EMPTY_ARRAY
    # IMDb's usual form ["A","B"] without escapes maps 1:1 onto the literal {"A","B"}: checked
    # by counting quotes (every quote is part of an opening [", a "," or the closing "]).
    if (
        value[:2] == b'["'
        and value[-2:] == b'"]'
        and b"\\" not in value
        and value.count(b'"') == 2 * value.count(b'","') + 2
    ):
        return b"{" + value[1:-1] + b"}"
    try:
        parsed = json.loads(value)
    except ValueError:
        return None
    if not isinstance(parsed, list) or not all(isinstance(item, str) for item in parsed):
        return None
    if not parsed:
        return EMPTY_ARRAY
    if any("\x00" in item for item in parsed):
        return None
    return _quote_elements([item.encode("utf-8") for item in parsed])


def _text(value: bytes) -> bytes:
    """A NOT NULL text column: IMDb's NULL becomes the empty string."""
    return b"" if value == NULL else value


def convert_title_basics(lines: list[bytes], line_no: int, ctx: Context) -> list[bytes]:
    out: list[bytes] = []
    append = out.append
    reject = ctx.reject
    numbered = ctx.numbered
    note_key = ctx.note_key
    join = b"\t".join
    genres: bytes | None  # list_literal's None (a rejected list) is checked before use
    for line in lines:
        line_no += 1
        fields = line.split(b"\t")
        if len(fields) != 9:
            reject(line_no, line, columns_reason(9, len(fields)))
            continue
        tconst, title_type, primary, original, adult, start, end, runtime, genres = fields
        if not (tconst[:2] == b"tt" and tconst[2:].isdigit() and len(tconst) <= 12):
            reject(line_no, line, f"tconst {show(tconst)} is not a title id")
            continue
        if not (adult == b"0" or adult == b"1"):
            reject(line_no, line, f"isAdult {show(adult)} is not 0 or 1")
            continue
        if not (start == NULL or (start.isdigit() and len(start) <= 4)):
            reject(line_no, line, f"startYear {show(start)} is not a year")
            continue
        if not (end == NULL or (end.isdigit() and len(end) <= 4)):
            reject(line_no, line, f"endYear {show(end)} is not a year")
            continue
        if not (runtime == NULL or (runtime.isdigit() and len(runtime) <= 9)):
            reject(line_no, line, f"runtimeMinutes {show(runtime)} is not a number of minutes")
            continue
        if len(title_type) > 32 and _too_long(title_type, 32):
            reject(line_no, line, f"titleType {show(title_type)} is longer than 32 characters")
            continue
        if genres == NULL:
            genres = EMPTY_ARRAY
        elif len(genres) <= 32 and b'"' not in genres and b"\\" not in genres:
            genres = b'{"' + genres.replace(b",", b'","') + b'"}'
        else:
            genres = list_literal(genres, 32)
            if genres is None:
                reject(line_no, line, "genres has a genre longer than 32 characters")
                continue
        if title_type == NULL:
            title_type = b""
        if primary == NULL:
            primary = b""
        if original == NULL:
            original = b""
        row = join((tconst, title_type, primary, original, adult, start, end, runtime, genres, b"0"))
        if numbered:  # staging: also check that keys ascend (then none repeats)
            note_key(tconst)
            append(b"%d\t%s" % (line_no, row))
        else:
            append(row)
    return out


def convert_name_basics(lines: list[bytes], line_no: int, ctx: Context) -> list[bytes]:
    out: list[bytes] = []
    append = out.append
    reject = ctx.reject
    numbered = ctx.numbered
    note_key = ctx.note_key
    join = b"\t".join
    for line in lines:
        line_no += 1
        fields = line.split(b"\t")
        if len(fields) != 6:
            reject(line_no, line, columns_reason(6, len(fields)))
            continue
        professions: bytes | None
        known_for: bytes | None
        nconst, name, birth, death, professions, known_for = fields
        if not (nconst[:2] == b"nm" and nconst[2:].isdigit() and len(nconst) <= 12):
            reject(line_no, line, f"nconst {show(nconst)} is not a name id")
            continue
        if not (birth == NULL or (birth.isdigit() and len(birth) <= 4)):
            reject(line_no, line, f"birthYear {show(birth)} is not a year")
            continue
        if not (death == NULL or (death.isdigit() and len(death) <= 4)):
            reject(line_no, line, f"deathYear {show(death)} is not a year")
            continue
        professions = list_literal(professions, 64)
        if professions is None:
            reject(line_no, line, "primaryProfession has a profession longer than 64 characters")
            continue
        known_for = list_literal(known_for, 12)
        if known_for is None:
            reject(line_no, line, "knownForTitles has an id longer than 12 characters")
            continue
        row = join((nconst, _text(name), birth, death, professions, known_for))
        if numbered:  # staging: also check that keys ascend (then none repeats)
            note_key(nconst)
            append(b"%d\t%s" % (line_no, row))
        else:
            append(row)
    return out


def convert_title_akas(lines: list[bytes], line_no: int, ctx: Context) -> list[bytes]:
    out: list[bytes] = []
    append = out.append
    reject = ctx.reject
    numbered = ctx.numbered
    join = b"\t".join
    types: bytes | None  # list_literal's None (a rejected list) is checked before use
    seen = ctx.aka_seen
    for line in lines:
        line_no += 1
        fields = line.split(b"\t")
        if len(fields) != 8:
            reject(line_no, line, columns_reason(8, len(fields)))
            continue
        title_id, ordering, title, region, language, types, attributes, is_original = fields
        if not (title_id[:2] == b"tt" and title_id[2:].isdigit() and len(title_id) <= 12):
            reject(line_no, line, f"titleId {show(title_id)} is not a title id")
            continue
        if not (ordering.isdigit() and len(ordering) <= 9):
            reject(line_no, line, f"ordering {show(ordering)} is not a number")
            continue
        if not (is_original == NULL or is_original == b"0" or is_original == b"1"):
            reject(line_no, line, f"isOriginalTitle {show(is_original)} is not 0 or 1")
            continue
        if region == NULL:
            region = b""
        elif len(region) > 8 and _too_long(region, 8):
            reject(line_no, line, f"region {show(region)} is longer than 8 characters")
            continue
        if language == NULL:
            language = b""
        elif len(language) > 8 and _too_long(language, 8):
            reject(line_no, line, f"language {show(language)} is longer than 8 characters")
            continue
        # IMDb separates several types or attributes with the byte 0x02
        types = list_literal(types, 32, b"\x02")
        if types is None:
            reject(line_no, line, "types has a type longer than 32 characters")
            continue
        attributes = EMPTY_ARRAY if attributes == NULL else list_literal(attributes, None, b"\x02")
        title = _text(title)
        # name_first: no earlier line of this title's run has the same aka title, byte for byte.
        # A title's lines are contiguous in IMDb's file; one that comes back later starts a new
        # run, whose first rows are marked first again (a superset: never a name without one).
        if title_id != ctx.aka_title_id:
            ctx.aka_title_id = title_id
            seen = ctx.aka_seen = {title}
            first = b"t"
        elif title in seen:
            first = b"f"
        else:
            seen.add(title)
            first = b"t"
        row = join((title_id, ordering, title, region, language, types, attributes, is_original, first))
        append(b"%d\t%s" % (line_no, row) if numbered else row)
    return out


def convert_title_crew(lines: list[bytes], line_no: int, ctx: Context) -> list[bytes]:
    """One row per (title, person, role); a person listed twice in one role keeps the first place."""
    out: list[bytes] = []
    append = out.append
    reject = ctx.reject
    numbered = ctx.numbered
    note_key = ctx.note_key
    for line in lines:
        line_no += 1
        fields = line.split(b"\t")
        if len(fields) != 3:
            reject(line_no, line, columns_reason(3, len(fields)))
            continue
        tconst, directors, writers = fields
        if not (tconst[:2] == b"tt" and tconst[2:].isdigit() and len(tconst) <= 12):
            reject(line_no, line, f"tconst {show(tconst)} is not a title id")
            continue
        rows = []
        problem = ""
        for role, people in ((b"director", directors), (b"writer", writers)):
            if people == NULL:
                continue
            seen = set()
            for ordering, nconst in enumerate(people.split(b",")):
                if not (nconst[:2] == b"nm" and nconst[2:].isdigit() and len(nconst) <= 12):
                    problem = f"{role.decode()}s has {show(nconst)}, which is not a name id"
                    break
                if nconst not in seen:
                    seen.add(nconst)
                    rows.append(b"%s\t%s\t%s\t%d" % (tconst, nconst, role, ordering))
            if problem:
                break
        if problem:
            reject(line_no, line, problem)
            continue
        note_key(tconst)
        if numbered:
            prefix = b"%d\t" % line_no
            if not rows:  # a line without crew still occupies its tconst (duplicates are found by line)
                rows.append(tconst + b"\t\\N\t\\N\t\\N")
            for row in rows:
                append(prefix + row)
        else:
            out.extend(rows)
    return out


def convert_title_episode(lines: list[bytes], line_no: int, ctx: Context) -> list[bytes]:
    out: list[bytes] = []
    append = out.append
    reject = ctx.reject
    numbered = ctx.numbered
    note_key = ctx.note_key
    for line in lines:
        line_no += 1
        fields = line.split(b"\t")
        if len(fields) != 4:
            reject(line_no, line, columns_reason(4, len(fields)))
            continue
        tconst, parent, season, episode = fields
        if not (tconst[:2] == b"tt" and tconst[2:].isdigit() and len(tconst) <= 12):
            reject(line_no, line, f"tconst {show(tconst)} is not a title id")
            continue
        if not (parent[:2] == b"tt" and parent[2:].isdigit() and len(parent) <= 12):
            reject(line_no, line, f"parentTconst {show(parent)} is not a title id")
            continue
        if not (season == NULL or (season.isdigit() and len(season) <= 9)):
            reject(line_no, line, f"seasonNumber {show(season)} is not a number")
            continue
        if not (episode == NULL or (episode.isdigit() and len(episode) <= 9)):
            reject(line_no, line, f"episodeNumber {show(episode)} is not a number")
            continue
        if numbered:  # staging: also check that keys ascend (then none repeats)
            note_key(tconst)
            append(b"%d\t%s" % (line_no, line))
        else:
            append(line)
    return out


def convert_title_principals(lines: list[bytes], line_no: int, ctx: Context) -> list[bytes]:
    out: list[bytes] = []
    append = out.append
    reject = ctx.reject
    numbered = ctx.numbered
    join = b"\t".join
    characters: bytes | None  # list_literal's None (a rejected list) is checked before use
    for line in lines:
        line_no += 1
        fields = line.split(b"\t")
        if len(fields) != 6:
            reject(line_no, line, columns_reason(6, len(fields)))
            continue
        tconst, ordering, nconst, category, job, characters = fields
        if not (tconst[:2] == b"tt" and tconst[2:].isdigit() and len(tconst) <= 12):
            reject(line_no, line, f"tconst {show(tconst)} is not a title id")
            continue
        if not (ordering.isdigit() and len(ordering) <= 9):
            reject(line_no, line, f"ordering {show(ordering)} is not a number")
            continue
        if not (nconst[:2] == b"nm" and nconst[2:].isdigit() and len(nconst) <= 12):
            reject(line_no, line, f"nconst {show(nconst)} is not a name id")
            continue
        if len(category) > 64 and _too_long(category, 64):
            reject(line_no, line, f"category {show(category)} is longer than 64 characters")
            continue
        if characters == NULL:
            characters = EMPTY_ARRAY
        elif (
            characters[:2] == b'["'
            and characters[-2:] == b'"]'
            and b"\\" not in characters
            and characters.count(b'"') == 2 * characters.count(b'","') + 2
        ):
            characters = b"{" + characters[1:-1] + b"}"
        else:
            characters = characters_literal(characters)
            if characters is None:
                reject(line_no, line, f"characters {show(fields[5])} is not a JSON array of strings")
                continue
        if category == NULL:
            category = b""
        if job == NULL:
            job = b""
        row = join((tconst, ordering, nconst, category, job, characters))
        append(b"%d\t%s" % (line_no, row) if numbered else row)
    return out


def convert_title_ratings(lines: list[bytes], line_no: int, ctx: Context) -> list[bytes]:
    out: list[bytes] = []
    append = out.append
    reject = ctx.reject
    numbered = ctx.numbered
    note_key = ctx.note_key
    for line in lines:
        line_no += 1
        fields = line.split(b"\t")
        if len(fields) != 3:
            reject(line_no, line, columns_reason(3, len(fields)))
            continue
        tconst, average, votes = fields
        if not (tconst[:2] == b"tt" and tconst[2:].isdigit() and len(tconst) <= 12):
            reject(line_no, line, f"tconst {show(tconst)} is not a title id")
            continue
        whole, dot, tenths = average.partition(b".")
        if not (whole.isdigit() and len(whole) <= 2 and (not dot or (tenths.isdigit() and len(tenths) == 1))):
            reject(line_no, line, f"averageRating {show(average)} is not a rating like 7.5")
            continue
        if not (votes.isdigit() and len(votes) <= 9):
            reject(line_no, line, f"numVotes {show(votes)} is not a number")
            continue
        if numbered:  # staging: also check that keys ascend (then none repeats)
            note_key(tconst)
            append(b"%d\t%s" % (line_no, line))
        else:
            append(line)
    return out
