"""The generated rows of each file, block by block, in id order (text with a final newline).

Each writer walks the title blocks (or the person blocks) from the first to the last, asks the
plan for each block's skeleton, draws what only its file needs from its own seeded stream, and
yields the block's lines. Nothing outlives a block but the per-series episode counters.
"""

from __future__ import annotations

import json
from collections.abc import Iterator

import numpy as np

from .plan import BLOCK, EPISODE, SERIES, SHORTS, TYPES, Plan, seeded
from .scripts import MODERN_REGIONS, REGION_SCRIPTS
from .text import Words, block_titles

NULL = "\\N"
CATEGORY_ORDER = {
    name: rank
    for rank, name in enumerate(
        "self actor actress director writer producer composer cinematographer editor "
        "production_designer casting_director archive_footage archive_sound".split()
    )
}
EPISODE_RUNTIMES = (22, 24, 25, 30, 42, 44, 45, 50, 60)
TAIL_REGIONS = tuple(MODERN_REGIONS) + tuple(REGION_SCRIPTS)
LATIN = ("LATIN", NULL)


def _skeletons(plan: Plan):
    counters = plan.counters_new()
    for block in range(plan.blocks):
        yield block, plan.skeleton(block, counters)


def title_basics(plan: Plan, words: Words) -> Iterator[str]:
    real = plan.real
    for block, skeleton in _skeletons(plan):
        rng = seeded(plan.seed, 20, block)
        size = len(skeleton.types)
        primary, original = block_titles(plan, words, skeleton)
        genres = real.genres.draw(rng, size)
        movie_runtimes = real.runtimes["movie"].draw(rng, size)
        short_runtimes = real.runtimes["short"].draw(rng, size)
        episode_runtimes = rng.choice(EPISODE_RUNTIMES, size=size).tolist()
        runtime_null = (rng.random(size) < 0.3).tolist()
        end_years = (skeleton.years + rng.geometric(0.25, size=size)).tolist()
        running = (rng.random(size) < 0.45).tolist()
        lines = []
        for position in range(size):
            kind = int(skeleton.types[position])
            year = int(skeleton.years[position])
            end = NULL
            if kind in SERIES and year and not running[position]:
                end = str(min(end_years[position], 2025))
            if runtime_null[position]:
                runtime = NULL
            elif kind == EPISODE:
                runtime = str(episode_runtimes[position])
            elif kind in SHORTS:
                runtime = short_runtimes[position]
            else:
                runtime = movie_runtimes[position]
            lines.append(
                f"{plan.tconst(skeleton.start + position)}\t{TYPES[kind]}\t{primary[position]}\t{original[position]}\t"
                f"{int(skeleton.adult[position])}\t{year or NULL}\t{end}\t{runtime}\t{genres[position]}\n"
            )
        yield "".join(lines)


def title_crew(plan: Plan, words: Words) -> Iterator[str]:
    for block, skeleton in _skeletons(plan):
        rng = seeded(plan.seed, 21, block)
        size = len(skeleton.types)
        episode = skeleton.types == EPISODE
        directors = np.where(episode, rng.random(size) < 0.65, 1 + (rng.random(size) < 0.1)).astype(np.int64)
        directors[~episode & (rng.random(size) < 0.05)] = 0
        writers = np.minimum(rng.geometric(0.45, size=size) - 1, 8)
        people = [plan.nconst(person) for person in plan.people_draw(rng, int(directors.sum() + writers.sum()))]
        lines = []
        used = 0
        for position in range(size):
            directing = people[used : used + directors[position]]
            used += directors[position]
            writing = people[used : used + writers[position]]
            used += writers[position]
            lines.append(
                f"{plan.tconst(skeleton.start + position)}\t{','.join(directing) or NULL}\t{','.join(writing) or NULL}\n"
            )
        yield "".join(lines)


def title_episode(plan: Plan, words: Words) -> Iterator[str]:
    for _, skeleton in _skeletons(plan):
        lines = []
        for number, position in enumerate(skeleton.episode_positions.tolist()):
            series = int(skeleton.episode_series[number])
            parent = plan.tconst(int(plan.series_index[series]))
            if plan.series_numbered[series]:
                per_season = int(plan.series_per_season[series])
                episode = int(skeleton.episode_numbers[number])
                numbers = f"{episode // per_season + 1}\t{episode % per_season + 1}"
            else:
                numbers = f"{NULL}\t{NULL}"
            lines.append(f"{plan.tconst(skeleton.start + position)}\t{parent}\t{numbers}\n")
        yield "".join(lines)


def title_ratings(plan: Plan, words: Words) -> Iterator[str]:
    for block, skeleton in _skeletons(plan):
        rng = seeded(plan.seed, 22, block)
        rated = np.flatnonzero(skeleton.rated).tolist()
        pairs = plan.real.ratings.draw(rng, len(rated))
        jitter = np.exp(rng.normal(0.0, 0.35, size=len(rated))).tolist()
        lines = [
            f"{plan.tconst(skeleton.start + position)}\t{average}\t{max(5, round(votes * factor))}\n"
            for position, (average, votes), factor in zip(rated, pairs, jitter, strict=True)
        ]
        yield "".join(lines)


def title_akas(plan: Plan, words: Words) -> Iterator[str]:
    real = plan.real
    for block, skeleton in _skeletons(plan):
        rng = seeded(plan.seed, 23, block)
        primary, original = block_titles(plan, words, skeleton)
        counts = np.maximum(skeleton.aka_counts, 1)
        total = int(counts.sum())
        owner = np.repeat(np.arange(len(counts)), counts)
        ordering = np.arange(total) - np.repeat(np.cumsum(counts) - counts, counts) + 1
        regions = real.aka_regions.draw(rng, total)
        modern = np.flatnonzero(rng.random(total) < 0.15).tolist()
        for position, region in zip(modern, rng.choice(MODERN_REGIONS, size=len(modern)).tolist(), strict=True):
            regions[position] = region
        tail_rows = np.flatnonzero(skeleton.tail[owner]).tolist()
        for row in tail_rows:  # the big titles are shown all over the world
            regions[row] = TAIL_REGIONS[(int(ordering[row]) * 7 + int(owner[row])) % len(TAIL_REGIONS)]
        kinds = real.aka_types.draw(rng, total)
        attributes = real.aka_attributes.draw(rng, total)
        choice = rng.random(total)
        scripts = [REGION_SCRIPTS.get(region, LATIN)[0] for region in regions]
        owners = owner.tolist()
        titles = [primary[position] for position in owners]
        languages = [NULL] * total
        latin = []
        scripted = []
        for row, (script, chosen) in enumerate(zip(scripts, choice.tolist(), strict=True)):
            if script != "LATIN" and chosen < 0.85:
                scripted.append(row)
                if chosen < 0.25:
                    languages[row] = REGION_SCRIPTS[regions[row]][1]
            elif chosen >= 0.6:
                latin.append(row)
        for row, title in zip(latin, words.latin_titles(rng, words.word_counts(rng, len(latin))), strict=True):
            titles[row] = title
        for row, title in zip(scripted, words.script_titles(rng, [scripts[row] for row in scripted]), strict=True):
            titles[row] = title
        tconsts = [plan.tconst(skeleton.start + position) for position in range(len(counts))]
        orderings = ordering.tolist()
        lines = []
        for row, position in enumerate(owners):
            tconst = tconsts[position]
            if orderings[row] == 1:
                lines.append(f"{tconst}\t1\t{original[position]}\t{NULL}\t{NULL}\toriginal\t{NULL}\t1\n")
            else:
                lines.append(
                    f"{tconst}\t{orderings[row]}\t{titles[row]}\t{regions[row]}\t{languages[row]}\t{kinds[row]}\t"
                    f"{attributes[row]}\t0\n"
                )
        yield "".join(lines)


def title_principals(plan: Plan, words: Words) -> Iterator[str]:
    real = plan.real
    rank_of = np.array([CATEGORY_ORDER.get(role[0], 99) for role in real.principal_roles.values])
    for block, skeleton in _skeletons(plan):
        rng = seeded(plan.seed, 24, block)
        counts = skeleton.principal_counts
        total = int(counts.sum())
        owner = np.repeat(np.arange(len(counts)), counts)
        role_index = real.principal_roles.indices(rng, total)
        # cast first, then crew, as IMDb orders them
        order = np.lexsort((rank_of[role_index], owner))
        roles = [real.principal_roles.values[index] for index in role_index[order].tolist()]
        ordering = (np.arange(total) - np.repeat(np.cumsum(counts) - counts, counts) + 1).tolist()
        people = [plan.nconst(person) for person in plan.people_draw(rng, total).tolist()]
        invented = (rng.random(total) < 0.6).tolist()
        characters = real.characters.draw(rng, total)
        names = words.names(rng, total)
        tconsts = [plan.tconst(skeleton.start + position) for position in range(len(counts))]
        lines = []
        for row, position in enumerate(owner.tolist()):
            category, job, has_characters = roles[row]
            if not has_characters:
                character = NULL
            elif invented[row] and category in ("actor", "actress"):
                character = _json_list(names[row])
            else:
                character = characters[row]
            lines.append(f"{tconsts[position]}\t{ordering[row]}\t{people[row]}\t{category}\t{job}\t{character}\n")
        yield "".join(lines)


def _json_list(text: str) -> str:
    if '"' in text or "\\" in text or not text.isprintable():
        return json.dumps([text], ensure_ascii=False, separators=(",", ":"))
    return f'["{text}"]'


def name_basics(plan: Plan, words: Words) -> Iterator[str]:
    real = plan.real
    for block in range(-(-plan.people // BLOCK)):
        rng = seeded(plan.seed, 25, block)
        start = block * BLOCK
        size = min(BLOCK, plan.people - start)
        names = words.names(rng, size)
        professions = real.professions.draw(rng, size)
        births = (2005 - np.floor(rng.exponential(30.0, size=size))).astype(np.int64)
        born = (rng.random(size) < 0.3) & (births > 1820)
        deaths = births + rng.integers(30, 96, size=size)
        died = born & (deaths <= 2025) & (rng.random(size) < 0.8)
        known = rng.integers(0, 5, size=size)
        known[rng.random(size) < 0.03] = 0
        titles = rng.integers(0, max(1, plan.titles), size=int(known.sum())).tolist()
        lines = []
        used = 0
        for position in range(size):
            birth = str(births[position]) if born[position] else NULL
            death = str(deaths[position]) if died[position] else NULL
            count = int(known[position]) if plan.titles else 0
            known_for = ",".join(plan.tconst(title) for title in titles[used : used + count]) or NULL
            used += count
            lines.append(
                f"{plan.nconst(start + position)}\t{names[position]}\t{birth}\t{death}\t{professions[position]}\t{known_for}\n"
            )
        yield "".join(lines)


WRITERS = {
    "title.basics": title_basics,
    "title.akas": title_akas,
    "title.crew": title_crew,
    "title.episode": title_episode,
    "title.principals": title_principals,
    "title.ratings": title_ratings,
    "name.basics": name_basics,
}
