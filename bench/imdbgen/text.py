"""Titles and names made from the real slice's words, drawn with their real frequencies.

A small share of words are new: blends of two real words (the first half of one, the second
half of another), numbered so that low numbers come up often and high ones rarely. The
vocabulary so keeps growing with the dump's size, as a real one does, instead of repeating the
slice's 30,000-odd words in ever more combinations.
"""

from __future__ import annotations

import numpy as np

from .plan import BLOCK, Plan, Skeleton, seeded
from .realdata import RealSlice
from .scripts import SCRIPTS, ScriptWords

NEW_WORD_SHARE = 0.03
LONG_TITLE_SHARE = 0.002
MONTHS = "January February March April May June July August September October November December".split()


class Words:
    def __init__(self, real: RealSlice, *, scale: float):
        self.real = real
        self.blend = real.blend_words or ["Night", "Love"]
        self.new_words = max(1000, int(3_000_000 * scale))
        self.scripts = {script: ScriptWords(script, real.script_words.get(script)) for script in SCRIPTS}

    def new_word(self, number: int) -> str:
        blend = self.blend
        first = blend[(number * 2654435761) % len(blend)]
        second = blend[(number * 40503 + 7) % len(blend)]
        return first[: max(2, len(first) // 2)] + second[len(second) // 2 :].lower()

    def latin_titles(self, rng: np.random.Generator, word_counts: np.ndarray) -> list[str]:
        """One title per entry of ``word_counts``, in real words and a few new ones."""
        total = int(word_counts.sum())
        words = self.real.title_words.draw(rng, total)
        new = np.flatnonzero(rng.random(total) < NEW_WORD_SHARE)
        if len(new):
            numbers = (rng.random(len(new)) ** 3 * self.new_words).astype(np.int64)
            for position, number in zip(new.tolist(), numbers.tolist(), strict=True):
                words[position] = self.new_word(number)
        titles = []
        start = 0
        for count in word_counts.tolist():
            titles.append(" ".join(words[start : start + count]))
            start += count
        return titles

    def word_counts(self, rng: np.random.Generator, size: int) -> np.ndarray:
        counts = np.array(self.real.title_word_counts.draw(rng, size), dtype=np.int64)
        long = rng.random(size) < LONG_TITLE_SHARE
        counts[long] = rng.integers(15, 61, size=int(long.sum()))
        return np.maximum(counts, 1)

    def script_titles(self, rng: np.random.Generator, scripts: list[str]) -> list[str]:
        """One title per entry of ``scripts``, each in its script (drawn script by script)."""
        titles = [""] * len(scripts)
        by_script: dict[str, list[int]] = {}
        for position, script in enumerate(scripts):
            by_script.setdefault(script, []).append(position)
        for script in sorted(by_script):
            positions = by_script[script]
            for position, title in zip(positions, self.scripts[script].titles(rng, len(positions)), strict=True):
                titles[position] = title
        return titles

    def names(self, rng: np.random.Generator, size: int) -> list[str]:
        firsts = self.real.first_names.draw(rng, size)
        lasts = self.real.last_names.draw(rng, size)
        middle = rng.random(size)
        letters = rng.integers(65, 91, size=size).tolist()
        names = []
        for first, last, kind, letter in zip(firsts, lasts, middle.tolist(), letters, strict=True):
            if kind < 0.06:
                names.append(f"{first} {chr(letter)}. {last}")
            else:
                names.append(f"{first} {last}")
        other = np.flatnonzero(middle > 0.995).tolist()  # names in another script
        scripts = [SCRIPTS[letters[position] % len(SCRIPTS)] for position in other]
        for position, name in zip(other, self.script_titles(rng, scripts), strict=True):
            names[position] = name
        return names


def block_titles(plan: Plan, words: Words, skeleton: Skeleton) -> tuple[list[str], list[str]]:
    """The primary and original titles of a block (the same for title.basics and title.akas)."""
    rng = seeded(plan.seed, 10, skeleton.start // BLOCK)
    size = len(skeleton.types)
    primary = words.latin_titles(rng, words.word_counts(rng, size))
    other = rng.random(size)
    scripts = rng.integers(0, len(SCRIPTS), size=size).tolist()
    original = list(primary)
    foreign = np.flatnonzero((other >= 0.03) & (other < 0.11)).tolist()  # a foreign original in Latin letters
    for position, title in zip(foreign, words.latin_titles(rng, words.word_counts(rng, len(foreign))), strict=True):
        original[position] = title
    scripted = np.flatnonzero(other < 0.03).tolist()  # an original title in another script
    titles = words.script_titles(rng, [SCRIPTS[scripts[position]] for position in scripted])
    for position, title in zip(scripted, titles, strict=True):
        original[position] = title
        if other[position] < 0.004:
            primary[position] = title
    style = rng.random(len(skeleton.episode_positions)).tolist()
    days = rng.integers(1, 29, size=len(style)).tolist()
    for number, position in enumerate(skeleton.episode_positions.tolist()):
        series = int(skeleton.episode_series[number])
        episode = int(skeleton.episode_numbers[number])
        if style[number] < 0.35 and plan.series_numbered[series]:
            per_season = int(plan.series_per_season[series])
            title = f"Episode #{episode // per_season + 1}.{episode % per_season + 1}"
        elif style[number] < 0.40 and skeleton.years[position]:
            title = f"Episode dated {days[number]} {MONTHS[episode % 12]} {skeleton.years[position]}"
        else:
            continue
        primary[position] = original[position] = title
    return primary, original
