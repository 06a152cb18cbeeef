"""What the generator learns from the real slice: its words, its distributions and its largest ids.

Everything here is measured, not invented: word frequencies of titles and names, how many akas
and principals a title has, which regions, types, genres, runtimes, professions and ratings
occur and how often. Only the first ``SAMPLE_LINES`` lines of each file feed the statistics
(a full dump passed as ``--real`` would not fit in memory); the largest ids are read from
every line, streamed, so that new ids never collide with a real one.
"""

from __future__ import annotations

import gzip
import unicodedata
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

SAMPLE_LINES = 200_000
FILES = (
    "title.basics",
    "title.akas",
    "title.crew",
    "title.episode",
    "title.principals",
    "title.ratings",
    "name.basics",
)


class Choice:
    """Values drawn with the frequencies they have in the real data (a Zipf-like draw for words)."""

    def __init__(self, counts: Counter | dict):
        items = sorted(counts.items(), key=lambda item: (-item[1], item[0]))
        if not items:
            raise ValueError("nothing to draw from")
        self.values = [value for value, _ in items]
        weights = np.array([count for _, count in items], dtype=np.float64)
        self.cdf = np.cumsum(weights / weights.sum())
        self.cdf[-1] = 1.0

    def __len__(self) -> int:
        return len(self.values)

    def indices(self, rng: np.random.Generator, size: int) -> np.ndarray:
        return np.searchsorted(self.cdf, rng.random(size), side="right")

    def draw(self, rng: np.random.Generator, size: int) -> list:
        values = self.values
        return [values[index] for index in self.indices(rng, size).tolist()]

    def mean(self) -> float:
        probabilities = np.diff(np.concatenate(([0.0], self.cdf)))
        return float(np.dot(probabilities, np.array(self.values, dtype=np.float64)))


def script_of(text: str) -> str:
    """The first non-Latin script among the letters of ``text`` ('LATIN' if none)."""
    if text.isascii():
        return "LATIN"
    for character in text:
        if character.isalpha():
            name = unicodedata.name(character, "LATIN").split()[0]
            if name in ("HIRAGANA", "KATAKANA"):
                return "JAPANESE"
            if name != "LATIN" and name in SCRIPT_NAMES:
                return name
    return "LATIN"


SCRIPT_NAMES = {"CYRILLIC", "CJK", "GREEK", "ARABIC", "DEVANAGARI", "HANGUL", "HEBREW", "THAI", "JAPANESE"}


def _lines(path: Path) -> Iterator[list[str]]:
    opener = gzip.open if path.name.endswith(".gz") else open
    with opener(path, "rt", encoding="utf-8", newline="\n") as stream:
        next(stream, None)
        for line in stream:
            yield line.rstrip("\n").split("\t")


def _id(value: str, prefix: str) -> int:
    return int(value[2:]) if value[:2] == prefix and value[2:].isdigit() else 0


@dataclass
class RealSlice:
    directory: Path
    paths: dict[str, Path] = field(default_factory=dict)
    rows: dict[str, int] = field(default_factory=dict)
    max_tconst: int = 0
    max_nconst: int = 0
    title_words: Choice | None = None
    blend_words: list[str] = field(default_factory=list)
    script_words: dict[str, Choice] = field(default_factory=dict)
    first_names: Choice | None = None
    last_names: Choice | None = None
    title_word_counts: Choice | None = None
    genres: Choice | None = None
    runtimes: dict[str, Choice] = field(default_factory=dict)
    aka_counts: Choice | None = None
    aka_regions: Choice | None = None
    aka_types: Choice | None = None
    aka_attributes: Choice | None = None
    principal_counts: Choice | None = None
    principal_roles: Choice | None = None  # (category, job, characters) as they occur together
    characters: Choice | None = None
    professions: Choice | None = None
    ratings: Choice | None = None  # (averageRating, numVotes) pairs
    type_shares: dict[str, int] = field(default_factory=dict)


def real_slice_read(directory: Path) -> RealSlice:
    """Measure the real slice in ``directory`` (every one of the seven files must be there)."""
    directory = Path(directory)
    real = RealSlice(directory=directory)
    for name in FILES:
        for suffix in (".tsv.gz", ".tsv"):
            if (directory / f"{name}{suffix}").is_file():
                real.paths[name] = directory / f"{name}{suffix}"
                break
        else:
            raise FileNotFoundError(f"{directory}: no {name}.tsv.gz (the real slice needs all seven files)")

    words: Counter = Counter()
    scripts: dict[str, Counter] = {}
    word_counts: Counter = Counter()
    genres: Counter = Counter()
    runtimes: dict[str, Counter] = {"movie": Counter(), "short": Counter()}
    types: Counter = Counter()
    max_tconst = max_nconst = 0

    number = -1
    for number, fields in enumerate(_lines(real.paths["title.basics"])):
        max_tconst = max(max_tconst, _id(fields[0], "tt"))
        if number >= SAMPLE_LINES:
            continue
        title_type, primary, original = fields[1], fields[2], fields[3]
        types[title_type] += 1
        word_counts[len(primary.split())] += 1
        for text in {primary, original}:
            if script_of(text) == "LATIN":
                words.update(text.split())
        genres[fields[8]] += 1
        if fields[7] != "\\N":
            runtimes["short" if title_type in ("short", "tvShort") else "movie"][fields[7]] += 1
    real.rows["title.basics"] = number + 1

    aka_counts: Counter = Counter()
    per_title: Counter = Counter()
    regions: Counter = Counter()
    aka_types: Counter = Counter()
    attributes: Counter = Counter()
    number = -1
    for number, fields in enumerate(_lines(real.paths["title.akas"])):
        max_tconst = max(max_tconst, _id(fields[0], "tt"))
        if number >= SAMPLE_LINES:
            continue
        per_title[fields[0]] += 1
        script = script_of(fields[2])
        if script == "LATIN":
            words.update(fields[2].split())
        else:
            tokens = fields[2].split() if script not in ("CJK", "JAPANESE") else _cjk_pieces(fields[2])
            scripts.setdefault(script, Counter()).update(tokens)
        if fields[5] != "original":
            regions[fields[3]] += 1
            aka_types[fields[5]] += 1
            attributes[fields[6]] += 1
    aka_counts.update(per_title.values())
    real.rows["title.akas"] = number + 1

    number = -1
    for fields in _lines(real.paths["title.crew"]):
        number += 1
        max_tconst = max(max_tconst, _id(fields[0], "tt"))
        for nconst in f"{fields[1]},{fields[2]}".split(","):
            max_nconst = max(max_nconst, _id(nconst, "nm"))
    real.rows["title.crew"] = number + 1

    number = -1
    for fields in _lines(real.paths["title.episode"]):
        number += 1
        max_tconst = max(max_tconst, _id(fields[0], "tt"), _id(fields[1], "tt"))
    real.rows["title.episode"] = number + 1

    principal_counts: Counter = Counter()
    per_title = Counter()
    roles: Counter = Counter()
    characters: Counter = Counter()
    number = -1
    for number, fields in enumerate(_lines(real.paths["title.principals"])):
        max_tconst = max(max_tconst, _id(fields[0], "tt"))
        max_nconst = max(max_nconst, _id(fields[2], "nm"))
        if number >= SAMPLE_LINES:
            continue
        per_title[fields[0]] += 1
        roles[(fields[3], fields[4], fields[5] != "\\N")] += 1
        if fields[5] != "\\N":
            characters[fields[5]] += 1
    principal_counts.update(per_title.values())
    real.rows["title.principals"] = number + 1

    ratings: Counter = Counter()
    number = -1
    for number, fields in enumerate(_lines(real.paths["title.ratings"])):
        max_tconst = max(max_tconst, _id(fields[0], "tt"))
        if number < SAMPLE_LINES:
            ratings[(fields[1], int(fields[2]))] += 1
    real.rows["title.ratings"] = number + 1

    firsts: Counter = Counter()
    lasts: Counter = Counter()
    professions: Counter = Counter()
    number = -1
    for number, fields in enumerate(_lines(real.paths["name.basics"])):
        max_nconst = max(max_nconst, _id(fields[0], "nm"))
        for tconst in fields[5].split(","):
            max_tconst = max(max_tconst, _id(tconst, "tt"))
        if number >= SAMPLE_LINES:
            continue
        tokens = fields[1].split()
        if len(tokens) >= 2:
            firsts[tokens[0]] += 1
            lasts[tokens[-1]] += 1
        professions[fields[4]] += 1
    real.rows["name.basics"] = number + 1

    real.max_tconst, real.max_nconst = max_tconst, max_nconst
    real.title_words = Choice(words)
    # blends of two real words give new words that look like the language they came from
    real.blend_words = sorted(word for word in words if len(word) >= 4 and word.isalpha())
    real.script_words = {script: Choice(counter) for script, counter in scripts.items() if len(counter) >= 20}
    real.first_names, real.last_names = Choice(firsts), Choice(lasts)
    real.title_word_counts = Choice(word_counts)
    real.genres = Choice(genres)
    real.runtimes = {kind: Choice(counter or {"\\N": 1}) for kind, counter in runtimes.items()}
    real.aka_counts = Choice(aka_counts)
    real.aka_regions = Choice(regions)
    real.aka_types = Choice(aka_types)
    real.aka_attributes = Choice(attributes)
    real.principal_counts = Choice(principal_counts)
    real.principal_roles = Choice(roles)
    real.characters = Choice(characters)
    real.professions = Choice(professions)
    real.ratings = Choice(ratings)
    real.type_shares = dict(types)
    return real


def _cjk_pieces(text: str) -> list[str]:
    """CJK titles have no spaces: pieces of two or three characters stand in for words."""
    compact = "".join(text.split())
    return [compact[start : start + 2 + start % 2] for start in range(0, len(compact), 3)] or [compact]
