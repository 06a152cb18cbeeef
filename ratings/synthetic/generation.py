"""The taste model of the synthetic crowd: a block of users, their personas and personal tastes,
which titles each rates and how many stars, drawn from the block's own random stream. Pure numpy,
no database (ratings/synthetic/__init__.py describes the model)."""

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
    """The titles synthetic users may rate, with what the taste model needs: per persona and
    exposure class the choice weights, per title its year, runtime, type and people."""

    tconst: np.ndarray  # str objects
    average: np.ndarray
    num_votes: np.ndarray
    bucket: np.ndarray  # star bucket per title
    affinity: np.ndarray  # (personas, titles) int8: +1 liked genre, -1 disliked, 0 neither
    cdf: np.ndarray  # (personas, exposure classes, titles) cumulative choice weights
    log_weight: np.ndarray  # (personas, classes, titles) for exact top-k sampling of very heavy raters
    year: np.ndarray  # float, nan when unknown
    log_runtime: np.ndarray  # float, nan when unknown
    title_type: np.ndarray  # int index into type_names
    type_names: tuple[str, ...]
    # Credits, both ways: title -> people (CSR) and person -> titles (CSR, with per-class
    # cumulative exposure within each person's segment for drawing a favourite's title).
    credit_offsets: np.ndarray
    credit_people: np.ndarray
    people: np.ndarray  # nconst per person index
    person_offsets: np.ndarray
    person_titles: np.ndarray
    person_title_cdf: np.ndarray  # (classes, credits) cumulative over the whole array
    favourite_cdf: np.ndarray  # (personas, people) cumulative draw weights of favourites
    disliked_cdf: np.ndarray  # (personas, people) cumulative draw weights of disliked people

    def __len__(self) -> int:
        return len(self.tconst)

    @classmethod
    def build(cls, rows: list[tuple], config: GeneratorConfig, credits: list | tuple = ()) -> TitlePool:
        """``rows``: (tconst, average, votes, genres[, title_type, start_year, runtime_minutes]);
        ``credits``: (tconst, nconst) of the people in ``config.people_roles``."""
        tconst = np.array([row[0] for row in rows], dtype=object)
        average = np.array([float(row[1]) for row in rows], dtype=np.float64)
        votes = np.array([int(row[2]) for row in rows], dtype=np.float64)
        genre_sets = [frozenset(row[3] or ()) for row in rows]

        def extra(position: int) -> list:
            return [row[position] if len(row) > position else None for row in rows]

        types = [value or "movie" for value in extra(4)]
        type_names = tuple(sorted(set(types)))
        title_type = np.array([type_names.index(value) for value in types], dtype=np.int64)
        year = np.array([np.nan if value is None else float(value) for value in extra(5)], dtype=np.float64)
        runtime = np.array([np.nan if not value or value <= 0 else float(value) for value in extra(6)])
        log_runtime = np.log(runtime) if len(rows) else np.zeros(0)

        affinity = np.zeros((len(config.personas), len(rows)), dtype=np.int8)
        multiplier = np.ones((len(config.personas), len(rows)))
        for p, persona in enumerate(config.personas):
            likes, dislikes = frozenset(persona.likes), frozenset(persona.dislikes)
            liked = np.array([len(genres & likes) for genres in genre_sets], dtype=np.int64)
            disliked = np.array([len(genres & dislikes) for genres in genre_sets], dtype=np.int64)
            affinity[p] = (liked > 0).astype(np.int8) - (disliked > 0)
            if config.genre_weights_multiply:  # each liked (disliked) genre of the title counts
                multiplier[p] = config.liked_choice_weight**liked * config.disliked_choice_weight**disliked
            else:  # the seed's rule: a liked genre, a disliked one, or neither
                multiplier[p] = np.where(
                    affinity[p] > 0,
                    config.liked_choice_weight,
                    np.where(affinity[p] < 0, config.disliked_choice_weight, 1.0),
                )
        exponents = np.array(config.exposure_exponents)
        exposure = np.maximum(votes, 1.0)[None, :] ** exponents[:, None]  # (classes, titles)
        weight = multiplier[:, None, :] * exposure[None, :, :]
        cdf = np.cumsum(weight, axis=2) if len(rows) else weight

        # Credits: title -> people and person -> titles.
        index_of = {value: number for number, value in enumerate(tconst.tolist())}
        pairs = sorted({(index_of[t], n) for t, n in credits if t in index_of})
        people = np.array(sorted({n for _, n in pairs}), dtype=object)
        person_of = {value: number for number, value in enumerate(people.tolist())}
        credit_title = np.array([t for t, _ in pairs], dtype=np.int64)
        credit_person = np.array([person_of[n] for _, n in pairs], dtype=np.int64)
        credit_offsets = np.concatenate([[0], np.cumsum(np.bincount(credit_title, minlength=len(rows)))])
        by_person = np.lexsort((credit_title, credit_person))
        person_titles = credit_title[by_person]
        person_offsets = np.concatenate([[0], np.cumsum(np.bincount(credit_person, minlength=len(people)))])
        person_title_cdf = np.cumsum(exposure[:, person_titles], axis=1)
        # People's draw weights per persona: popularity and how much of their work the persona likes.
        credits_count = np.diff(person_offsets)
        eligible = credits_count >= config.favourite_min_titles
        segment = np.repeat(np.arange(len(people)), credits_count)
        popularity = np.bincount(segment, weights=exposure[1, person_titles], minlength=len(people))
        favourite_cdf = np.zeros((len(config.personas), len(people)))
        disliked_cdf = np.zeros((len(config.personas), len(people)))
        for p in range(len(config.personas)):
            taste = np.bincount(segment, weights=multiplier[p, person_titles], minlength=len(people)) / np.maximum(
                credits_count, 1
            )
            base = np.where(eligible, np.maximum(popularity, 1e-12) ** config.person_popularity_exponent, 0.0)
            favourite_cdf[p] = np.cumsum(base * taste**config.person_persona_exponent)
            disliked_cdf[p] = np.cumsum(base * np.maximum(taste, 1e-12) ** -config.person_persona_exponent)
        return cls(
            tconst=tconst,
            average=average,
            num_votes=votes.astype(np.int64),
            bucket=star_bucket_index(average, config.star_buckets),
            affinity=affinity,
            cdf=cdf,
            log_weight=np.log(weight),
            year=year,
            log_runtime=log_runtime,
            title_type=title_type,
            type_names=type_names,
            credit_offsets=credit_offsets,
            credit_people=credit_person,
            people=people,
            person_offsets=person_offsets,
            person_titles=person_titles,
            person_title_cdf=person_title_cdf,
            favourite_cdf=favourite_cdf,
            disliked_cdf=disliked_cdf,
        )


@dataclass
class Tastes:
    """Each user's personal tastes, beyond the persona (one row per user of a block)."""

    exposure: np.ndarray  # exposure class: 0 obscure, 1 typical, 2 popular
    favourites: np.ndarray  # (users, most favourites) person indices, -1 = none
    disliked: np.ndarray  # (users, most disliked) person indices, -1 = none
    era_year: np.ndarray  # favourite year, nan = none
    era_width: np.ndarray
    runtime: np.ndarray  # log of the favourite runtime, nan = none
    runtime_width: np.ndarray
    title_type: np.ndarray  # favourite title type (index into the pool's type_names)


@dataclass
class Block:
    """One block of generated users and their ratings (indices into the block and the pool)."""

    first_index: int
    persona: np.ndarray  # per user: index into config.personas
    rating_user: np.ndarray  # per rating: user index within the block
    rating_title: np.ndarray  # per rating: index into the pool
    rating_stars: np.ndarray
    tastes: Tastes | None = None


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
    tastes = _tastes_draw(rng, pool, config, persona)

    user, title = _titles_sample(rng, pool, config, persona, tastes, wanted)

    affinity = pool.affinity[persona[user], title].astype(np.float64)
    if len(pool.people) and config.person_star_shift:
        affinity += config.person_star_shift * (
            _credited(pool, user, title, tastes.favourites).astype(np.float64)
            - _credited(pool, user, title, tastes.disliked)
        )
    shift = strength[user] * affinity + bias[user]
    shift = np.floor(shift + rng.random(shift.shape[0])).astype(np.int8)
    stars = _stars_from_buckets(pool.bucket[title], _bucket_cdf(config.star_buckets), rng)
    stars = np.clip(stars + shift, 1, 5).astype(np.int8)
    return Block(
        first_index=block * size,
        persona=persona,
        rating_user=user,
        rating_title=title,
        rating_stars=stars,
        tastes=tastes,
    )


def _tastes_draw(rng: np.random.Generator, pool: TitlePool, config: GeneratorConfig, persona: np.ndarray) -> Tastes:
    size = persona.shape[0]
    shares = np.array(config.obscurity_shares, dtype=np.float64)
    exposure = np.asarray(rng.choice(3, size=size, p=shares / shares.sum()))

    def people_draw(cdf: np.ndarray, low_high: tuple[int, int]) -> np.ndarray:
        most = low_high[1]
        chosen = np.full((size, most), -1, dtype=np.int64)
        if not most or not len(pool.people):
            return chosen
        count = np.asarray(rng.integers(low_high[0], most + 1, size=size))
        draws = rng.random((size, most))
        for p in range(cdf.shape[0]):
            mine = np.flatnonzero(persona == p)
            if not mine.size or cdf[p, -1] <= 0:
                continue
            picks = np.searchsorted(cdf[p], draws[mine] * cdf[p, -1], side="right")
            chosen[mine] = np.minimum(picks, len(pool.people) - 1)
        chosen[np.arange(most)[None, :] >= count[:, None]] = -1
        # The same person drawn twice counts once.
        ordered = np.sort(chosen, axis=1)
        repeat = np.zeros_like(chosen, dtype=bool)
        repeat[:, 1:] = (ordered[:, 1:] == ordered[:, :-1]) & (ordered[:, 1:] >= 0)
        ordered[repeat] = -1
        return np.sort(ordered, axis=1)  # -1 first, then the people: the valid ones are a row's tail

    favourites = people_draw(pool.favourite_cdf, config.favourite_people)
    disliked = people_draw(pool.disliked_cdf, config.disliked_people)
    # A favourite is never also disliked.
    disliked[(disliked[:, :, None] == favourites[:, None, :]).any(axis=2)] = -1
    disliked.sort(axis=1)
    # Favourite era, runtime and type: those of a title the persona typically watches.
    reference = np.empty(size, dtype=np.int64)
    for p in range(pool.cdf.shape[0]):
        mine = np.flatnonzero(persona == p)
        if mine.size and len(pool):
            cdf = pool.cdf[p, 1]
            reference[mine] = np.minimum(
                np.searchsorted(cdf, rng.random(mine.size) * cdf[-1], side="right"), len(pool) - 1
            )
    reference = np.clip(reference, 0, max(len(pool) - 1, 0))
    era_width = np.asarray(rng.uniform(config.era_width_years[0], config.era_width_years[1], size))
    runtime_width = np.asarray(rng.uniform(config.runtime_width[0], config.runtime_width[1], size))
    return Tastes(
        exposure=exposure,
        favourites=favourites,
        disliked=disliked,
        era_year=pool.year[reference] if len(pool) else np.full(size, np.nan),
        era_width=era_width,
        runtime=pool.log_runtime[reference] if len(pool) else np.full(size, np.nan),
        runtime_width=runtime_width,
        title_type=pool.title_type[reference] if len(pool) else np.zeros(size, dtype=np.int64),
    )


def _credited(pool: TitlePool, user: np.ndarray, title: np.ndarray, people: np.ndarray) -> np.ndarray:
    """Per (user, title) pair: is one of the user's ``people`` (a -1 padded row each) credited on it?

    The users' people's titles (a few dozen per user) become sorted (user, title) keys, and each
    pair is looked up in them: no credits of the pairs' titles are expanded."""
    rows, slots = np.nonzero(people >= 0)
    if not rows.size or not user.shape[0]:
        return np.zeros(user.shape[0], dtype=bool)
    persons = people[rows, slots]
    counts = pool.person_offsets[persons + 1] - pool.person_offsets[persons]
    total = int(counts.sum())
    if not total:
        return np.zeros(user.shape[0], dtype=bool)
    starts = np.repeat(pool.person_offsets[persons] - (np.cumsum(counts) - counts), counts)
    n_titles = np.int64(len(pool))
    keys = np.unique(
        np.repeat(rows, counts).astype(np.int64) * n_titles + pool.person_titles[starts + np.arange(total)]
    )
    wanted = user.astype(np.int64) * n_titles + title
    position = np.minimum(np.searchsorted(keys, wanted), keys.shape[0] - 1)
    return keys[position] == wanted


def _acceptance(
    pool: TitlePool, config: GeneratorConfig, tastes: Tastes, user: np.ndarray, title: np.ndarray
) -> np.ndarray:
    """The chance that a user offered a title (by exposure and persona) watches it: era, runtime,
    title type and disliked people. At most 1, so it thins a stream without bending the rest."""
    chance = np.ones(user.shape[0])
    if not user.shape[0]:
        return chance
    with np.errstate(invalid="ignore"):
        years = (pool.year[title] - tastes.era_year[user]) / tastes.era_width[user]
        era = config.era_floor + (1 - config.era_floor) * np.exp(-0.5 * years**2)
        chance *= np.where(np.isnan(era), 1.0, era)
        minutes = (pool.log_runtime[title] - tastes.runtime[user]) / tastes.runtime_width[user]
        runtime = config.runtime_floor + (1 - config.runtime_floor) * np.exp(-0.5 * minutes**2)
        chance *= np.where(np.isnan(runtime), 1.0, runtime)
    chance *= np.where(pool.title_type[title] == tastes.title_type[user], 1.0, config.other_type_acceptance)
    # Only the users with a disliked person need the credits looked at.
    has_disliked = np.asarray((tastes.disliked >= 0).any(axis=1))
    someone = np.flatnonzero(has_disliked[user])
    disliked = _credited(pool, user[someone], title[someone], tastes.disliked)
    chance[someone[disliked]] *= config.disliked_person_acceptance
    return chance


def _titles_sample(
    rng: np.random.Generator,
    pool: TitlePool,
    config: GeneratorConfig,
    persona: np.ndarray,
    tastes: Tastes,
    wanted: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """For each user, ``wanted[u]`` distinct titles: first ``favourite_share`` of them among their
    favourite people's titles, then titles offered by exposure and persona and kept with the
    user's ``_acceptance``.

    Both are streams of draws with replacement, favourites first, keeping each title's first
    appearance: the first k distinct titles of such a stream are a weighted sample without
    replacement (successive sampling), and with k small next to the pool it costs little more than
    k draws. Users whose stream ran short get more draws appended; the rare user who wants most of
    a small pool is sampled with Gumbel top-k instead.
    """
    n_titles = len(pool)
    users = np.arange(persona.shape[0])
    owners, titles = [], []
    group = persona * 3 + tastes.exposure  # one choice distribution per persona and exposure class

    def offered(for_users: np.ndarray, counts: np.ndarray) -> None:
        """Draws by exposure and persona, thinned by the user's acceptance."""
        owner_parts, pick_parts = [], []
        for g in np.unique(group[for_users]):
            mine = group[for_users] == g
            cdf = pool.cdf[g // 3, g % 3]
            picks = np.searchsorted(cdf, rng.random(int(counts[mine].sum())) * cdf[-1], side="right")
            owner_parts.append(np.repeat(for_users[mine], counts[mine]))
            pick_parts.append(np.minimum(picks, n_titles - 1))
        owner, picks = np.concatenate(owner_parts), np.concatenate(pick_parts)
        keep = rng.random(picks.shape[0]) < _acceptance(pool, config, tastes, owner, picks)
        owners.append(owner[keep])
        titles.append(picks[keep])

    favourites = _favourites_draw(rng, pool, config, tastes, wanted)
    owners.append(favourites[0])
    titles.append(favourites[1])
    # Acceptance averages about a half: offer enough for most users to need no second round.
    offered(users, np.ceil(wanted * 2.5).astype(np.int64) + 8)
    for round_number in range(4):
        owner, title = _first_distinct(np.concatenate(owners), np.concatenate(titles), wanted, n_titles)
        got = np.bincount(owner, minlength=users.shape[0])
        short = np.flatnonzero(got < wanted)
        if not short.size:
            return owner, title
        if round_number == 3:
            break
        owners, titles = [owner], [title]
        offered(short, (wanted[short] - got[short]) * (8 << round_number) + 32)
    # Exact fallback for users wanting most of the pool: Gumbel top-k over every title.
    complete = ~np.isin(owner, short)
    owner_parts, title_parts = [owner[complete]], [title[complete]]
    everything = np.arange(n_titles)
    for u in short:
        chance = _acceptance(pool, config, tastes, np.full(n_titles, u), everything)
        keys = pool.log_weight[persona[u], tastes.exposure[u]] + np.log(chance) + rng.gumbel(size=n_titles)
        chosen = np.argpartition(-keys, wanted[u] - 1)[: wanted[u]]
        owner_parts.append(np.full(chosen.shape[0], u))
        title_parts.append(chosen)
    owner, title = np.concatenate(owner_parts), np.concatenate(title_parts)
    order = np.argsort(owner, kind="stable")
    return owner[order], title[order]


def _favourites_draw(
    rng: np.random.Generator, pool: TitlePool, config: GeneratorConfig, tastes: Tastes, wanted: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """(user, title) draws among each user's favourite people's titles, by exposure: about
    ``favourite_share`` of the titles the user wants, fewer when the favourites made few."""
    favourites = tastes.favourites
    if not favourites.shape[1] or not len(pool.people) or config.favourite_share <= 0:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    slots = (favourites >= 0).sum(axis=1)
    made = np.where(favourites >= 0, np.diff(pool.person_offsets)[np.maximum(favourites, 0)], 0).sum(axis=1)
    count = np.minimum(rng.binomial(wanted, config.favourite_share), made // 2)
    count = np.where(slots > 0, count, 0)
    draws = count * 2  # with replacement: repeats are dropped later
    owner = np.repeat(np.arange(wanted.shape[0]), draws)
    if not owner.shape[0]:
        return owner, owner.copy()
    slot = np.floor(rng.random(owner.shape[0]) * slots[owner]).astype(np.int64)
    # The k-th valid favourite of each row: favourites are sorted with -1 first.
    first_valid = favourites.shape[1] - slots
    person = favourites[owner, first_valid[owner] + slot]
    low, high = pool.person_offsets[person], pool.person_offsets[person + 1]
    cumulative = pool.person_title_cdf
    exposure = tastes.exposure[owner]
    base = np.where(low > 0, cumulative[exposure, np.maximum(low - 1, 0)], 0.0)
    top = cumulative[exposure, high - 1]
    target = base + rng.random(owner.shape[0]) * (top - base)
    position = np.empty(owner.shape[0], dtype=np.int64)
    for e in range(cumulative.shape[0]):
        mine = exposure == e
        position[mine] = np.searchsorted(cumulative[e], target[mine], side="right")
    position = np.clip(position, low, high - 1)
    return _first_distinct(owner, pool.person_titles[position], count, len(pool))


def _first_distinct(
    owner: np.ndarray, title: np.ndarray, limit: np.ndarray, n_titles: int
) -> tuple[np.ndarray, np.ndarray]:
    """Each user's first ``limit[u]`` distinct titles of a stream of draws, users in order and each
    user's titles in the order drawn."""
    order = np.argsort(owner, kind="stable")  # stable: each user's draws stay in the order made
    owner, title = owner[order], title[order]
    key = owner * n_titles + title
    key_order = np.argsort(key, kind="stable")
    first = np.ones(key.shape[0], dtype=bool)
    first[1:] = key[key_order][1:] != key[key_order][:-1]
    position = np.sort(key_order[first])
    owner, title = owner[position], title[position]
    starts = np.searchsorted(owner, np.arange(limit.shape[0]))
    rank = np.arange(owner.shape[0]) - starts[owner]
    keep = rank < limit[owner]
    return owner[keep], title[keep]
