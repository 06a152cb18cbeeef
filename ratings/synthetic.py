"""Synthetic raters: a crowd generated from IMDb's aggregate ratings, and its removal.

This module owns every write to synthetic users (``User.Kind.SYNTHETIC``) and to their ratings.
A fresh site has no crowd for the recommender to learn from; the generator makes one whose tastes
are known, so the model's "taste communities" can be checked against the hidden personas.

How one synthetic user is made (all of it vectorised with numpy, a block of users at a time):

1. **Persona** — drawn by ``Persona.share``. Each persona likes some genres and dislikes others
   (``DEFAULT_PERSONAS``; the casual viewer has no preference). The persona is stored on the user.
2. **How many titles** — heavy-tailed: a log-normal clipped to ``[min_ratings, max_ratings]`` whose
   clipped mean is ``mean_ratings`` (40 by default, so 100,000 users give about 4 million ratings).
3. **Which titles** — sampled without replacement, with probability proportional to
   ``num_votes ** popularity_exponent`` times ``liked_choice_weight`` for titles in a liked genre
   (``disliked_choice_weight`` for a disliked one). Only titles with an IMDb average, at least
   ``min_votes`` votes and a type not in ``excluded_title_types`` take part.
4. **How many stars** — first the seed's rule turns the title's IMDb average into stars
   (``DEFAULT_STAR_BUCKETS``):

   ==============  =========  ===========
   IMDb average    stars      weights
   ==============  =========  ===========
   8.0 and above   3 4 5      10 40 50
   7.0 – 7.9       2 3 4 5    5 35 45 15
   6.0 – 6.9       1 2 3 4    5 30 40 25
   below 6.0       1 2 3      40 40 20
   ==============  =========  ===========

   then the user's taste shifts it: ``+strength`` for a title in a liked genre, ``-strength`` for
   one in a disliked genre (a title with both counts as neither) (``strength`` is drawn per user from ``affinity_strength``), plus the
   user's own leniency (``user_bias_sd``). The shift is rounded stochastically (a shift of 0.7 adds
   one star 70% of the time) and the result clipped to 1–5.

Everything above lives in ``GeneratorConfig``; ``GeneratorConfig.from_json`` overrides any of it
from a JSON file (``generate_synthetic_users --config rules.json``).

Reproducible and idempotent: user ``i`` of seed ``S`` has ``external_id = "S:i"`` and is generated
from the random stream of its block of ``BLOCK_SIZE`` users, seeded by ``(S, block)``. The same seed
and catalog always give the same users and ratings, a larger ``--users`` only adds users, and a
second run inserts nothing (``INSERT ... ON CONFLICT DO NOTHING``). A user's ratings are written in
the same transaction as the user, so an existing user is always complete and is skipped.

Fast and bounded: a chunk of users is one transaction. Its users go through a staging table (COPY,
then ``INSERT ... ON CONFLICT DO NOTHING RETURNING id``); their ratings cannot conflict (the users
are new in this very transaction), so they are COPYed straight into ``ratings_rating``, in title
order. ``writers`` chunks are written at once, on their own connections. When the database role
may, a chunk switches off the per-row foreign-key triggers (``session_replication_role =
replica``, as pg_restore does) and checks the same references once per title instead (``FOR KEY
SHARE``); otherwise the triggers run. bench/bench_synthetic.py measures it.
"""

from __future__ import annotations

import io
import json
import math
import secrets
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path

import numpy as np
from django.contrib.auth.hashers import UNUSABLE_PASSWORD_PREFIX
from django.core.exceptions import ValidationError
from django.db import DatabaseError, connection, transaction

from accounts.models import User
from ratings.models import NotInterested, Rating, WatchlistItem

# Users are generated in blocks of this many, each from its own random stream (seed, block): the
# blocks, not the chunk size or the number of users asked for, decide what user i looks like.
BLOCK_SIZE = 1000
# Blocks written per transaction: 5,000 users, about 200,000 ratings in one COPY.
CHUNK_BLOCKS = 5

STARS = (1, 2, 3, 4, 5)


@dataclass(frozen=True)
class StarBucket:
    """Titles whose IMDb average is at least ``min_average`` (and below the bucket above) get
    ``stars`` with relative ``weights``."""

    min_average: float
    stars: tuple[int, ...]
    weights: tuple[float, ...]


@dataclass(frozen=True)
class Persona:
    name: str
    label: str
    likes: tuple[str, ...] = ()
    dislikes: tuple[str, ...] = ()
    share: float = 1.0


# The seed's rule, highest bucket first. The last bucket catches everything below.
DEFAULT_STAR_BUCKETS = (
    StarBucket(8.0, (3, 4, 5), (10, 40, 50)),
    StarBucket(7.0, (2, 3, 4, 5), (5, 35, 45, 15)),
    StarBucket(6.0, (1, 2, 3, 4), (5, 30, 40, 25)),
    StarBucket(0.0, (1, 2, 3), (40, 40, 20)),
)

# The seed's personas (likes), with dislikes added so affinity can push stars down as well as up.
DEFAULT_PERSONAS = (
    Persona(
        "action_fan", "Action fan", ("Action", "Adventure", "Thriller"), ("Romance", "Musical", "Documentary"), 0.18
    ),
    Persona("drama_lover", "Drama lover", ("Drama", "Romance", "Biography"), ("Horror", "Sci-Fi", "Action"), 0.17),
    Persona("comedy_fan", "Comedy fan", ("Comedy", "Family", "Animation"), ("Horror", "War", "Film-Noir"), 0.18),
    Persona("scifi_geek", "Sci-fi geek", ("Sci-Fi", "Fantasy", "Horror"), ("Romance", "Musical", "Biography"), 0.13),
    Persona("crime_fan", "Crime fan", ("Drama", "Crime", "War"), ("Family", "Animation", "Musical"), 0.14),
    Persona("casual_viewer", "Casual viewer", (), (), 0.20),
)


@dataclass(frozen=True)
class GeneratorConfig:
    star_buckets: tuple[StarBucket, ...] = DEFAULT_STAR_BUCKETS
    personas: tuple[Persona, ...] = DEFAULT_PERSONAS
    mean_ratings: float = 40.0
    ratings_sigma: float = 1.0
    min_ratings: int = 5
    max_ratings: int = 1500
    popularity_exponent: float = 0.75
    liked_choice_weight: float = 5.0
    disliked_choice_weight: float = 0.3
    affinity_strength: tuple[float, float] = (0.5, 1.0)
    user_bias_sd: float = 0.3
    excluded_title_types: tuple[str, ...] = ("tvEpisode", "videoGame")
    # Not part of the taste model: 100 votes keeps obscure titles out but leaves thousands of
    # classic films in the bundled 1894-1957 sample.
    min_votes: int = 100

    @classmethod
    def from_dict(cls, data: dict) -> GeneratorConfig:
        """Defaults overridden by ``data`` (the JSON shape of ``asdict``); unknown keys are errors."""
        if not isinstance(data, dict):
            raise ValidationError("The generator configuration must be a JSON object.")
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValidationError(
                f"Unknown generator setting(s): {', '.join(unknown)}. Known: {', '.join(sorted(known))}."
            )
        values = dict(data)
        try:
            if "star_buckets" in values:
                values["star_buckets"] = tuple(
                    StarBucket(
                        float(b["min_average"]),
                        tuple(int(s) for s in b["stars"]),
                        tuple(float(w) for w in b["weights"]),
                    )
                    for b in values["star_buckets"]
                )
            if "personas" in values:
                values["personas"] = tuple(
                    Persona(
                        str(p["name"]),
                        str(p.get("label", p["name"])),
                        tuple(p.get("likes", ())),
                        tuple(p.get("dislikes", ())),
                        float(p.get("share", 1.0)),
                    )
                    for p in values["personas"]
                )
            for key in ("affinity_strength", "excluded_title_types"):
                if key in values:
                    values[key] = tuple(values[key])
        except (KeyError, TypeError, ValueError) as error:
            raise ValidationError(f"Malformed generator setting: {error!r}")
        config = replace(cls(), **values)
        config.validate()
        return config

    @classmethod
    def from_json(cls, path: str | Path) -> GeneratorConfig:
        try:
            data = json.loads(Path(path).read_text())
        except (OSError, ValueError) as error:
            raise ValidationError(f"Cannot read generator configuration {path}: {error}")
        return cls.from_dict(data)

    def as_dict(self) -> dict:
        return asdict(self)

    def validate(self) -> None:
        errors = []
        buckets = self.star_buckets
        if not buckets:
            errors.append("star_buckets: at least one bucket is needed.")
        thresholds = [b.min_average for b in buckets]
        if thresholds != sorted(thresholds, reverse=True) or len(set(thresholds)) != len(thresholds):
            errors.append("star_buckets: min_average must be strictly decreasing (highest bucket first).")
        for bucket in buckets:
            if not bucket.stars or len(bucket.stars) != len(bucket.weights):
                errors.append(f"star_buckets {bucket.min_average}: one weight per star is needed.")
            if any(s not in STARS for s in bucket.stars) or len(set(bucket.stars)) != len(bucket.stars):
                errors.append(f"star_buckets {bucket.min_average}: stars must be distinct values from 1 to 5.")
            if any(w < 0 for w in bucket.weights) or sum(bucket.weights) <= 0:
                errors.append(f"star_buckets {bucket.min_average}: weights must be non-negative, not all zero.")
        if not self.personas:
            errors.append("personas: at least one persona is needed.")
        names = [p.name for p in self.personas]
        if len(set(names)) != len(names) or any(not n or len(n) > 32 for n in names):
            errors.append("personas: names must be unique, 1 to 32 characters.")
        if any(p.share < 0 for p in self.personas) or sum(p.share for p in self.personas) <= 0:
            errors.append("personas: shares must be non-negative, not all zero.")
        if not (1 <= self.min_ratings <= self.max_ratings):
            errors.append("min_ratings must be at least 1 and at most max_ratings.")
        if not (self.min_ratings <= self.mean_ratings < self.max_ratings):
            errors.append("mean_ratings must lie between min_ratings and max_ratings.")
        if self.ratings_sigma <= 0:
            errors.append("ratings_sigma must be positive.")
        if self.popularity_exponent < 0 or self.liked_choice_weight <= 0 or self.disliked_choice_weight <= 0:
            errors.append("popularity_exponent must be >= 0 and the choice weights > 0.")
        if len(self.affinity_strength) != 2 or not (0 <= self.affinity_strength[0] <= self.affinity_strength[1]):
            errors.append("affinity_strength must be [low, high] with 0 <= low <= high.")
        if self.user_bias_sd < 0:
            errors.append("user_bias_sd must be >= 0.")
        if self.min_votes < 0:
            errors.append("min_votes must be >= 0.")
        if errors:
            raise ValidationError(errors)


# --- the taste model (pure numpy, no database) ------------------------------------------------


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


# --- the database side -----------------------------------------------------------------------


@dataclass
class GenerationReport:
    seed: int
    users_requested: int
    users_created: int = 0
    users_existing: int = 0
    ratings_created: int = 0
    titles_in_pool: int = 0
    seconds: float = 0.0
    fast_path: bool = False

    def as_dict(self) -> dict:
        return asdict(self)


ProgressCallback = Callable[[int, int, str], None]


def synthetic_title_pool(*, config: GeneratorConfig) -> TitlePool:
    """The titles in play: rated on IMDb, enough votes, an accepted type, not removed. Ordered by
    ``tconst`` so the same catalog always gives the same pool."""
    with connection.cursor() as cursor:
        cursor.execute(
            """SELECT tconst, average_rating, num_votes, genres FROM catalog_title
               WHERE removed_at IS NULL AND average_rating IS NOT NULL AND num_votes >= %s
                 AND NOT (title_type = ANY(%s)) ORDER BY tconst""",
            [config.min_votes, list(config.excluded_title_types)],
        )
        rows = cursor.fetchall()
    return TitlePool.build(rows, config)


def synthetic_users_generate(
    *,
    users: int,
    seed: int,
    min_votes: int | None = None,
    config: GeneratorConfig | None = None,
    writers: int = 2,
    skip_row_triggers: bool = True,
    chunk_blocks: int = CHUNK_BLOCKS,
    progress: ProgressCallback | None = None,
) -> GenerationReport:
    """Create synthetic users ``seed:0 .. seed:users-1`` that do not exist yet, with their ratings.

    Validates everything before writing. Commits one chunk of users (with all their ratings) at a
    time, so an interrupted run keeps whole users and the next run completes it. ``writers``
    chunks are generated and written at once, each on its own database connection (Postgres
    maintains the rating table's indexes on one core per connection); inside a caller's
    transaction everything runs on the caller's connection instead, which alone sees its rows.
    """
    started = time.monotonic()
    config = config or GeneratorConfig()
    if min_votes is not None:
        config = replace(config, min_votes=min_votes)
    config.validate()
    if not isinstance(users, int) or isinstance(users, bool) or users < 1:
        raise ValidationError("The number of users must be a positive whole number.")
    if users > 10_000_000:
        raise ValidationError("At most 10,000,000 synthetic users per run.")
    if not isinstance(seed, int) or isinstance(seed, bool) or not (0 <= seed < 2**63):
        raise ValidationError("The seed must be a whole number from 0 to 2^63-1.")
    if not isinstance(writers, int) or not (1 <= writers <= 8):
        raise ValidationError("writers must be from 1 to 8.")
    if not isinstance(chunk_blocks, int) or chunk_blocks < 1:
        raise ValidationError("chunk_blocks must be a positive whole number.")

    pool = synthetic_title_pool(config=config)
    if len(pool) == 0:
        raise ValidationError(
            f"No titles to rate: none has an IMDb rating and at least {config.min_votes} votes. "
            "Import the IMDb data first, or lower --min-votes."
        )
    report = GenerationReport(seed=seed, users_requested=users, titles_in_pool=len(pool))
    writer = _ChunkWriter(seed=seed, users=users, pool=pool, config=config, skip_row_triggers=skip_row_triggers)
    blocks = math.ceil(users / BLOCK_SIZE)
    chunks = [range(first, min(first + chunk_blocks, blocks)) for first in range(0, blocks, chunk_blocks)]
    if progress:
        progress(0, users, f"{len(pool):,} titles in play; generating {users:,} users")
    done = 0

    def account(chunk: range, created: int, ratings: int, fast: bool) -> None:
        nonlocal done
        done += min(users, chunk.stop * BLOCK_SIZE) - chunk.start * BLOCK_SIZE
        report.users_created += created
        report.ratings_created += ratings
        report.fast_path = report.fast_path or fast
        if progress:
            progress(done, users, f"{done:,} of {users:,} users; {report.ratings_created:,} ratings written")

    if writers == 1 or len(chunks) == 1 or connection.in_atomic_block:
        for chunk in chunks:
            account(chunk, *writer.write(chunk))
    else:
        with ThreadPoolExecutor(max_workers=writers, thread_name_prefix="synthetic-writer") as executor:
            futures = {executor.submit(writer.write_on_own_connection, chunk): chunk for chunk in chunks}
            try:
                for future in as_completed(futures):
                    account(futures[future], *future.result())
            except BaseException:
                for future in futures:
                    future.cancel()
                raise
    if report.users_created:
        with connection.cursor() as cursor:
            # Fresh statistics: plans over the rating table (foreign-key checks, the recommender's
            # exports) go wrong when the planner still thinks it is empty.
            cursor.execute("ANALYZE accounts_user, ratings_rating")
    report.users_existing = users - report.users_created
    report.seconds = round(time.monotonic() - started, 3)
    return report


class _ChunkWriter:
    """Generates a chunk of blocks and writes it in one transaction: new users, then their ratings."""

    def __init__(self, *, seed: int, users: int, pool: TitlePool, config: GeneratorConfig, skip_row_triggers: bool):
        self.seed, self.users, self.pool, self.config = seed, users, pool, config
        self.skip_row_triggers = skip_row_triggers
        # Each title's COPY tail for each star, built once: "tt0000001\t4\n".
        self.tails = np.array([f"{tconst}\t{star}\n" for tconst in pool.tconst for star in STARS], dtype=object)

    def write_on_own_connection(self, chunk: range) -> tuple[int, int, bool]:
        try:
            return self.write(chunk)
        finally:
            connection.close()  # this thread's connection; the thread may be reused or end

    def write(self, chunk: range) -> tuple[int, int, bool]:
        blocks = [block_generate(seed=self.seed, block=b, pool=self.pool, config=self.config) for b in chunk]
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute("SET LOCAL jit = off")  # small statements: JIT would only add compile time
            new_users = self._users_insert(cursor, blocks)
            if not new_users:
                return 0, 0, False
            fast = self.skip_row_triggers and _triggers_skip(cursor)
            index_to_id = {int(external_id.split(":")[1]): user_id for user_id, external_id in new_users}
            first = blocks[0].first_index
            # Per user of the chunk (position = index - first): its id, 0 if it existed already.
            user_ids = np.array(
                [
                    index_to_id.get(first + position, 0)
                    for position in range(sum(block.persona.shape[0] for block in blocks))
                ]
            )
            user = np.concatenate([block.first_index - first + block.rating_user for block in blocks])
            title = np.concatenate([block.rating_title for block in blocks])
            stars = np.concatenate([block.rating_stars for block in blocks])
            rows = np.flatnonzero(user_ids[user] > 0)
            # In title order the three title indexes are updated page after page, not all over.
            rows = rows[np.argsort(title[rows], kind="stable")]
            # created_at and updated_at as "now": the transaction's time, like auto_now_add, and
            # Postgres reads that word twice as fast as a written-out timestamp.
            prefixes = np.array([f"now\tnow\t{user_id}\t" for user_id in user_ids.tolist()], dtype=object)
            lines = prefixes[user[rows]] + self.tails[title[rows] * len(STARS) + stars[rows] - 1]
            # Bytes, not a StringIO: that would hold the text at 4 bytes a character.
            body = io.BytesIO("".join(lines.tolist()).encode())
            del lines
            cursor.copy_expert(
                "COPY ratings_rating (created_at, updated_at, user_id, title_id, score) FROM STDIN", body, 1 << 20
            )
            ratings = rows.size
            if fast:
                # The per-row foreign-key triggers were off: check the same references once per
                # title instead. The users were inserted above in this transaction.
                cursor.execute("SET LOCAL session_replication_role = DEFAULT")
                wanted = self.pool.tconst[np.unique(title[rows])].tolist()
                cursor.execute(
                    "SELECT count(*) FROM (SELECT 1 FROM catalog_title WHERE tconst = ANY(%s) FOR KEY SHARE) t",
                    [wanted],
                )
                found = cursor.fetchone()[0]
                if found != len(wanted):
                    raise ValidationError(
                        f"{len(wanted) - found} title(s) left the catalog during generation; "
                        "nothing of this chunk was written."
                    )
        return len(new_users), int(ratings), fast

    def _users_insert(self, cursor, blocks: list[Block]) -> list[tuple[int, str]]:
        """COPY the blocks' users into a staging table, insert those not there yet; (id, external_id) of the new."""
        lines = []
        for block in blocks:
            for offset, persona in enumerate(block.persona.tolist()):
                index = block.first_index + offset
                if index >= self.users:
                    break
                # An unusable password in Django's own format ("!" + random), as make_password(None).
                lines.append(
                    f"synthetic:{self.seed}:{index}\t{UNUSABLE_PASSWORD_PREFIX}{secrets.token_urlsafe(30)}\t"
                    f"{self.seed}:{index}\t{self.config.personas[persona].name}\n"
                )
        cursor.execute(
            "CREATE TEMP TABLE IF NOT EXISTS synthetic_user_stage "
            "(username text, password text, external_id text, persona text) ON COMMIT DELETE ROWS"
        )
        # Emptied at commit, but a caller's transaction may have used it already.
        cursor.execute("TRUNCATE synthetic_user_stage")
        cursor.copy_expert("COPY synthetic_user_stage FROM STDIN", io.StringIO("".join(lines)), 1 << 20)
        cursor.execute(
            """INSERT INTO accounts_user (password, is_superuser, username, first_name, last_name, email, is_staff,
                   is_active, date_joined, kind, persona, external_id, favourite_genres)
               SELECT password, false, username, '', '', '', false, true, now(), %s, persona, external_id, '[]'::jsonb
               FROM synthetic_user_stage ORDER BY length(external_id), external_id
               ON CONFLICT DO NOTHING RETURNING id, external_id""",
            [User.Kind.SYNTHETIC],
        )
        return cursor.fetchall()


def _triggers_skip(cursor) -> bool:
    """Skip the per-row foreign-key triggers for this transaction when the role may (superuser, or
    ``GRANT SET ON PARAMETER session_replication_role``): they cost more than writing the rows. The
    caller then checks the references itself, once per title. Anyone else keeps the triggers."""
    cursor.execute("SAVEPOINT synthetic_replica")
    try:
        cursor.execute("SET LOCAL session_replication_role = replica")
    except DatabaseError:  # permission denied: back to the savepoint, triggers stay on
        cursor.execute("ROLLBACK TO SAVEPOINT synthetic_replica")
        return False
    cursor.execute("RELEASE SAVEPOINT synthetic_replica")
    return True


# --- removal and counts ----------------------------------------------------------------------


def _raters(kind: str):
    return User.objects.filter(kind=kind)


def synthetic_users_count() -> dict:
    users = _raters(User.Kind.SYNTHETIC)
    return {"users": users.count(), "ratings": Rating.objects.filter(user__kind=User.Kind.SYNTHETIC).count()}


@transaction.atomic
def synthetic_users_remove(*, dry_run: bool = False) -> dict:
    """Delete every synthetic user and everything of theirs; with ``dry_run`` only count.

    Their ratings, watchlist and "not interested" rows go set-based (millions of rows); Django's
    collector then deletes the users and anything else that cascades from them.
    """
    counts = synthetic_users_count()
    if dry_run:
        return counts
    with connection.cursor() as cursor:
        # Deleting the users runs one small foreign-key check per user and referencing table at
        # commit; compiling each with JIT would cost far more than running it.
        cursor.execute("SET LOCAL jit = off")
        for model in (Rating, WatchlistItem, NotInterested):
            table = model._meta.db_table
            cursor.execute(
                f"DELETE FROM {table} WHERE user_id IN (SELECT id FROM accounts_user WHERE kind = %s)",
                [User.Kind.SYNTHETIC],
            )
    _raters(User.Kind.SYNTHETIC).delete()
    return counts
