"""The shape of the generated dump: sizes at a scale, id ranges, and each block of titles' skeleton.

Titles are made in blocks of ``BLOCK`` consecutive ids. A block's skeleton (types, years,
adult flag, rated flag, how many akas and principals, its episodes' series and numbers) comes
from a random stream seeded by (seed, block) alone, so every file's writer recomputes exactly
the same skeleton on its own and the files agree without sharing state or memory. The only
whole-dump state is the list of series (about 3% of titles, ids and start years), gathered by
one cheap pass over the blocks' types, and the episode counters per series (4 bytes each).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .realdata import Choice, RealSlice

BLOCK = 4096

# IMDb's dumps today (2025), the sizes at --scale 1.0
FULL_ROWS = {
    "title.basics": 12_300_000,
    "title.akas": 55_000_000,
    "title.crew": 12_300_000,
    "title.episode": 9_000_000,
    "title.principals": 97_600_000,
    "title.ratings": 1_600_000,
    "name.basics": 15_100_000,
}

# Shares of title types implied by IMDb's totals (9.0 M of 12.3 M titles are episodes); the
# 1894–1957 slice is 73% movies and 25% shorts, which is what the early years looked like.
TYPE_SHARES = {
    "tvEpisode": 0.7317,
    "short": 0.1030,
    "movie": 0.0715,
    "video": 0.0327,
    "tvSeries": 0.0279,
    "tvMovie": 0.0145,
    "tvMiniSeries": 0.0067,
    "tvSpecial": 0.0054,
    "videoGame": 0.0054,
    "tvShort": 0.0012,
    "tvPilot": 0.000002,
}
TYPES = tuple(TYPE_SHARES)
EPISODE = TYPES.index("tvEpisode")
SERIES = (TYPES.index("tvSeries"), TYPES.index("tvMiniSeries"))
SHORTS = (TYPES.index("short"), TYPES.index("tvShort"))
# How likely a title of each type is to be rated, before scaling to IMDb's 1.6 M of 12.3 M.
RATED_WEIGHT = {
    "tvEpisode": 0.08,
    "short": 0.14,
    "movie": 0.45,
    "video": 0.2,
    "tvSeries": 0.35,
    "tvMovie": 0.35,
    "tvMiniSeries": 0.35,
    "tvSpecial": 0.2,
    "videoGame": 0.25,
    "tvShort": 0.1,
    "tvPilot": 0.5,
}
LAST_YEAR = 2025
# Titles with 200+ akas (and as many principals): about a thousand in a full dump, one at least.
TAIL_TITLES_FULL = 1000
# Rank draws u**k: k = 2 gives a person's credits ~ 1/sqrt(rank), so at full size the top people
# have 10,000+ credits; k = 2.05 gives the biggest series about 15,000 episodes.
PERSON_EXPONENT = 2.0
SERIES_EXPONENT = 2.05


def seeded(seed: int, stream: int, block: int) -> np.random.Generator:
    return np.random.Generator(np.random.PCG64(np.random.SeedSequence([seed, stream, block])))


def coprime_step(size: int) -> int:
    """A multiplier coprime to ``size``: rank -> (rank * step + 1) % size is a permutation."""
    step = max(1, int(size * 0.6180339887)) | 1
    while np.gcd(step, size) != 1:
        step += 2
    return step


@dataclass
class Skeleton:
    start: int  # global index of the block's first title
    types: np.ndarray
    years: np.ndarray  # 0 for \N
    adult: np.ndarray
    rated: np.ndarray
    aka_counts: np.ndarray
    principal_counts: np.ndarray
    tail: np.ndarray
    episode_positions: np.ndarray  # positions in the block of its episodes
    episode_series: np.ndarray  # series number (index into Plan.series_index) per episode
    episode_numbers: np.ndarray  # 0-based number of the episode within its series


class Plan:
    def __init__(self, real: RealSlice, *, scale: float, seed: int):
        self.real = real
        self.scale = scale
        self.seed = seed
        self.title_base = real.max_tconst + 1
        self.name_base = real.max_nconst + 1
        self.titles = round(scale * max(0, FULL_ROWS["title.basics"] - real.rows["title.basics"]))
        self.people = max(1, round(scale * max(0, FULL_ROWS["name.basics"] - real.rows["name.basics"])))
        self.blocks = -(-self.titles // BLOCK)
        self.type_choice = Choice(TYPE_SHARES)
        self.type_codes = np.array([TYPES.index(value) for value in self.type_choice.values], dtype=np.int8)
        shares = np.array([TYPE_SHARES[name] for name in TYPES])
        weights = np.array([RATED_WEIGHT[name] for name in TYPES])
        target = (FULL_ROWS["title.ratings"] - real.rows["title.ratings"]) / (
            FULL_ROWS["title.basics"] - real.rows["title.basics"]
        )
        self.rated_probability = np.minimum(1.0, weights * target / float(shares @ weights))
        per_title = FULL_ROWS["title.basics"] - real.rows["title.basics"]
        self.aka_factor = (FULL_ROWS["title.akas"] - real.rows["title.akas"]) / per_title / real.aka_counts.mean()
        self.principal_factor = (
            (FULL_ROWS["title.principals"] - real.rows["title.principals"]) / per_title / real.principal_counts.mean()
        )
        self.aka_count_values = np.array(real.aka_counts.values, dtype=np.float64)
        self.principal_count_values = np.array(real.principal_counts.values, dtype=np.float64)
        self.tail_probability = TAIL_TITLES_FULL / FULL_ROWS["title.basics"]
        self.person_step = coprime_step(self.people)
        self._series_gather()

    # ids -------------------------------------------------------------------------------
    def tconst(self, index: int) -> str:
        return f"tt{self.title_base + index:07d}"

    def nconst(self, index: int) -> str:
        return f"nm{self.name_base + index:07d}"

    def people_draw(self, rng: np.random.Generator, size: int) -> np.ndarray:
        """Person numbers with heavy-tailed credit counts (rank drawn as u**k, ranks spread over ids)."""
        ranks = np.minimum((rng.random(size) ** PERSON_EXPONENT * self.people).astype(np.int64), self.people - 1)
        return (ranks * self.person_step + 1) % self.people

    # skeleton --------------------------------------------------------------------------
    def _types_and_years(self, rng: np.random.Generator, size: int) -> tuple[np.ndarray, np.ndarray]:
        types = self.type_codes[self.type_choice.indices(rng, size)]
        years = LAST_YEAR - np.floor(rng.exponential(14.0, size)).astype(np.int64)
        years = np.maximum(years, 1888)
        years[rng.random(size) < 0.04] = 0
        return types, years

    def _block_size(self, block: int) -> int:
        return min(BLOCK, self.titles - block * BLOCK)

    def _series_gather(self) -> None:
        indices, years = [], []
        for block in range(self.blocks):
            types, block_years = self._types_and_years(seeded(self.seed, 1, block), self._block_size(block))
            positions = np.flatnonzero(np.isin(types, SERIES))
            indices.append(positions + block * BLOCK)
            years.append(block_years[positions])
        self.series_index = np.concatenate(indices) if indices else np.zeros(0, dtype=np.int64)
        self.series_years = np.concatenate(years) if years else np.zeros(0, dtype=np.int64)
        count = len(self.series_index)
        rng = seeded(self.seed, 3, 0)
        self.series_step = coprime_step(max(1, count))
        # daily shows (the most episodes) have long seasons; the rest 6 to 26 a season
        per_season = rng.integers(6, 27, size=count)
        # the series a rank maps to, as in skeleton(); rank 0 gets the most episodes
        positions = (np.arange(count) * self.series_step + 1) % max(1, count)
        rank_of = np.empty(count, dtype=np.int64)
        rank_of[positions] = np.arange(count)
        daily = rank_of < max(1, count // 100)
        per_season[daily] = rng.integers(150, 261, size=int(daily.sum()))
        self.series_per_season = per_season
        self.series_numbered = rng.random(count) < 0.85
        self.series_numbered[rank_of == 0] = True

    def counters_new(self) -> np.ndarray:
        return np.zeros(len(self.series_index), dtype=np.int64)

    def skeleton(self, block: int, counters: np.ndarray) -> Skeleton:
        """Block ``block``'s skeleton; ``counters`` (episodes so far per series) is advanced."""
        size = self._block_size(block)
        rng = seeded(self.seed, 1, block)
        types, years = self._types_and_years(rng, size)
        if not len(self.series_index):  # a dump too small to have a series has no episodes
            types[types == EPISODE] = TYPES.index("short")
        adult = rng.random(size) < 0.02
        rated = rng.random(size) < self.rated_probability[types]
        aka_counts = self._counts(rng, size, self.real.aka_counts, self.aka_count_values, self.aka_factor)
        principal_counts = self._counts(
            rng, size, self.real.principal_counts, self.principal_count_values, self.principal_factor
        )
        tail = rng.random(size) < self.tail_probability
        if block == 0:
            tail[np.flatnonzero(types == TYPES.index("movie"))[:1]] = True
        tail &= types != EPISODE
        tail_count = int(tail.sum())
        aka_counts[tail] = rng.integers(200, 261, size=tail_count)
        principal_counts[tail] = rng.integers(200, 261, size=tail_count)
        positions = np.flatnonzero(types == EPISODE)
        count = len(self.series_index)
        if count:
            ranks = np.minimum((rng.random(len(positions)) ** SERIES_EXPONENT * count).astype(np.int64), count - 1)
            series = (ranks * self.series_step + 1) % count
            order = np.argsort(series, kind="stable")
            ordered = series[order]
            first = np.r_[True, ordered[1:] != ordered[:-1]] if len(ordered) else np.zeros(0, dtype=bool)
            group_start = np.maximum.accumulate(np.where(first, np.arange(len(ordered)), 0))
            numbers = np.empty(len(series), dtype=np.int64)
            numbers[order] = np.arange(len(ordered)) - group_start
            numbers += counters[series]
            counters += np.bincount(series, minlength=count)
            # an episode airs in its series' years
            season_years = self.series_years[series] + numbers // self.series_per_season[series]
            years[positions] = np.where(self.series_years[series] > 0, np.minimum(season_years, LAST_YEAR), 0)
        else:
            series = numbers = np.zeros(0, dtype=np.int64)
        return Skeleton(
            start=block * BLOCK,
            types=types,
            years=years,
            adult=adult,
            rated=rated,
            aka_counts=aka_counts,
            principal_counts=principal_counts,
            tail=tail,
            episode_positions=positions,
            episode_series=series,
            episode_numbers=numbers,
        )

    @staticmethod
    def _counts(rng: np.random.Generator, size: int, choice: Choice, values: np.ndarray, factor: float) -> np.ndarray:
        """Counts drawn from the real slice's distribution, stretched by ``factor`` (randomised rounding)."""
        stretched = values[choice.indices(rng, size)] * factor
        return np.floor(stretched + rng.random(size)).astype(np.int64)
