"""The taste model of the synthetic crowd: a block of users, their personas, which titles each rates
and how many stars, drawn from the block's own random stream. Pure numpy, no database."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ratings.synthetic.config import DEFAULT_STAR_BUCKETS, STARS, GeneratorConfig, StarBucket

# Users are generated in blocks of this many, each from its own random stream (seed, block): the
# blocks, not the chunk size or the number of users asked for, decide what user i looks like.
BLOCK_SIZE = 1000


def star_bucket_index(averages: np.ndarray, buckets: tuple[StarBucket, ...]) -> np.ndarray:
    """The bucket each IMDb average falls in. Compared in tenths, so 7.0 is exactly in "7.0–7.9"."""
    tenths = np.rint(np.asarray(averages, dtype=np.float64) * 10).astype(np.int64)
    index = np.full(tenths.shape, len(buckets) - 1, dtype=np.int64)
    for position in range(len(buckets) - 1, -1, -1):
        index[tenths >= round(buckets[position].min_average * 10)] = position
    return index


def _bucket_cdf(buckets: tuple[StarBucket, ...]) -> np.ndarray:
    """Cumulative probability of 1..5 stars per bucket (rows sum to exactly 1 in the last column)."""
    table = np.zeros((len(buckets), len(STARS)))
    for row, bucket in enumerate(buckets):
        for star, weight in zip(bucket.stars, bucket.weights, strict=True):
            table[row, star - 1] = weight
    cdf = np.cumsum(table / table.sum(axis=1, keepdims=True), axis=1)
    cdf[:, -1] = 1.0
    return cdf


def star_draw(
    averages: np.ndarray, *, rng: np.random.Generator, buckets: tuple[StarBucket, ...] = DEFAULT_STAR_BUCKETS
) -> np.ndarray:
    """Stars for titles with these IMDb averages by the bucket rule alone (before any taste)."""
    cdf = _bucket_cdf(buckets)
    return _stars_from_buckets(star_bucket_index(averages, buckets), cdf, rng)


def _stars_from_buckets(bucket_index: np.ndarray, cdf: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    uniform = rng.random(size=len(bucket_index))
    return (1 + (uniform[:, None] >= cdf[bucket_index]).sum(axis=1)).astype(np.int8)


def lognormal_mu_for_mean(*, mean: float, sigma: float, low: float, high: float) -> float:
    """The log-normal ``mu`` whose draws, clipped to [low, high], average ``mean`` (bisection)."""

    def phi(x: float) -> float:
        return 0.5 * (1 + math.erf(x / math.sqrt(2)))

    def clipped_mean(mu: float) -> float:
        a, b = math.log(low), math.log(high)
        inside = math.exp(mu + sigma**2 / 2) * (phi((b - mu - sigma**2) / sigma) - phi((a - mu - sigma**2) / sigma))
        return low * phi((a - mu) / sigma) + high * (1 - phi((b - mu) / sigma)) + inside

    lo, hi = math.log(low) - 10 * sigma, math.log(high) + 10 * sigma
    for _ in range(100):
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if clipped_mean(mid) < mean else (lo, mid)
    return (lo + hi) / 2


@dataclass
class TitlePool:
    """The titles synthetic users may rate, with what the taste model needs per persona."""

    tconst: np.ndarray  # str objects
    average: np.ndarray
    num_votes: np.ndarray
    bucket: np.ndarray  # star bucket per title
    affinity: np.ndarray  # (personas, titles) int8: +1 liked genre, -1 disliked, 0 neither
    cdf: np.ndarray  # (personas, titles) cumulative choice weights
    log_weight: np.ndarray  # (personas, titles) for exact top-k sampling of very heavy raters

    def __len__(self) -> int:
        return len(self.tconst)

    @classmethod
    def build(cls, rows: list[tuple[str, float, int, list[str]]], config: GeneratorConfig) -> TitlePool:
        tconst = np.array([row[0] for row in rows], dtype=object)
        average = np.array([float(row[1]) for row in rows], dtype=np.float64)
        votes = np.array([int(row[2]) for row in rows], dtype=np.float64)
        genre_sets = [frozenset(row[3] or ()) for row in rows]
        affinity = np.zeros((len(config.personas), len(rows)), dtype=np.int8)
        for p, persona in enumerate(config.personas):
            likes, dislikes = frozenset(persona.likes), frozenset(persona.dislikes)
            affinity[p] = [bool(genres & likes) - bool(genres & dislikes) for genres in genre_sets]
        popularity = np.maximum(votes, 1.0) ** config.popularity_exponent
        multiplier = np.where(
            affinity > 0, config.liked_choice_weight, np.where(affinity < 0, config.disliked_choice_weight, 1.0)
        )
        weight = popularity[None, :] * multiplier
        cdf = np.cumsum(weight, axis=1) if len(rows) else weight
        return cls(
            tconst=tconst,
            average=average,
            num_votes=votes.astype(np.int64),
            bucket=star_bucket_index(average, config.star_buckets),
            affinity=affinity,
            cdf=cdf,
            log_weight=np.log(weight),
        )


@dataclass
class Block:
    """One block of generated users and their ratings (indices into the block and the pool)."""

    first_index: int
    persona: np.ndarray  # per user: index into config.personas
    rating_user: np.ndarray  # per rating: user index within the block
    rating_title: np.ndarray  # per rating: index into the pool
    rating_stars: np.ndarray


def block_generate(*, seed: int, block: int, pool: TitlePool, config: GeneratorConfig, size: int = BLOCK_SIZE) -> Block:
    """Generate users ``block*size .. block*size+size-1`` of ``seed``: a pure function of its inputs."""
    rng = np.random.default_rng([seed, block])
    shares = np.array([p.share for p in config.personas], dtype=np.float64)
    persona = rng.choice(len(shares), size=size, p=shares / shares.sum())
    mu = lognormal_mu_for_mean(
        mean=config.mean_ratings, sigma=config.ratings_sigma, low=config.min_ratings, high=config.max_ratings
    )
    wanted = np.rint(rng.lognormal(mu, config.ratings_sigma, size))
    wanted = np.clip(wanted, config.min_ratings, min(config.max_ratings, len(pool))).astype(np.int64)
    strength = rng.uniform(config.affinity_strength[0], config.affinity_strength[1], size)
    bias = rng.normal(0.0, config.user_bias_sd, size) if config.user_bias_sd > 0 else np.zeros(size)

    user, title = _titles_sample(rng, pool, persona, wanted)

    affinity = pool.affinity[persona[user], title]
    shift = strength[user] * affinity + bias[user]
    shift = np.floor(shift + rng.random(shift.shape[0])).astype(np.int8)
    stars = _stars_from_buckets(pool.bucket[title], _bucket_cdf(config.star_buckets), rng)
    stars = np.clip(stars + shift, 1, 5).astype(np.int8)
    return Block(first_index=block * size, persona=persona, rating_user=user, rating_title=title, rating_stars=stars)


def _titles_sample(
    rng: np.random.Generator, pool: TitlePool, persona: np.ndarray, wanted: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """For each user, ``wanted[u]`` distinct titles drawn by their persona's weights without replacement.

    Draws with replacement, in order, keeping each title's first appearance: the first k distinct
    titles of such a stream are an exact weighted sample without replacement (successive sampling),
    and with k small next to the pool it costs little more than k draws. Users whose stream ran
    short get more draws appended; the rare user who wants most of a small pool is sampled with
    Gumbel top-k instead.
    """
    n_titles = len(pool)
    users = np.arange(persona.shape[0])
    owners, titles = [], []

    def draw(for_users: np.ndarray, counts: np.ndarray) -> None:
        for p in range(pool.cdf.shape[0]):
            mine = persona[for_users] == p
            if not mine.any():
                continue
            cdf = pool.cdf[p]
            picks = np.searchsorted(cdf, rng.random(int(counts[mine].sum())) * cdf[-1], side="right")
            owners.append(np.repeat(for_users[mine], counts[mine]))
            titles.append(np.minimum(picks, n_titles - 1))

    draw(users, np.ceil(wanted * 1.25).astype(np.int64) + 4)
    for round_number in range(4):
        owner = np.concatenate(owners)
        title = np.concatenate(titles)
        # Stable sort by user keeps each user's draws in the order they were made.
        order = np.argsort(owner, kind="stable")
        owner, title = owner[order], title[order]
        key = owner * n_titles + title
        key_order = np.argsort(key, kind="stable")
        first = np.ones(key.shape[0], dtype=bool)
        first[1:] = key[key_order][1:] != key[key_order][:-1]
        position = np.sort(key_order[first])
        owner, title = owner[position], title[position]
        starts = np.searchsorted(owner, users)
        rank = np.arange(owner.shape[0]) - starts[owner]
        keep = rank < wanted[owner]
        owner, title = owner[keep], title[keep]
        got = np.bincount(owner, minlength=users.shape[0])
        short = np.flatnonzero(got < wanted)
        if not short.size:
            return owner, title
        if round_number == 3:
            break
        owners, titles = [owner], [title]
        draw(short, (wanted[short] - got[short]) * (4 << round_number) + 16)
    # Exact fallback for users wanting most of the pool: Gumbel top-k over every title.
    complete = ~np.isin(owner, short)
    owner_parts, title_parts = [owner[complete]], [title[complete]]
    for u in short:
        keys = pool.log_weight[persona[u]] + rng.gumbel(size=n_titles)
        chosen = np.argpartition(-keys, wanted[u] - 1)[: wanted[u]]
        owner_parts.append(np.full(chosen.shape[0], u))
        title_parts.append(chosen)
    owner, title = np.concatenate(owner_parts), np.concatenate(title_parts)
    order = np.argsort(owner, kind="stable")
    return owner[order], title[order]
