"""Time the "More like this" pass (``recommender.spark.passes.similar_pass``) against the number of
titles, on synthetic inputs shaped like a training run's: the linear pass and, up to
``--quadratic-max``, the quadratic one it replaced (``similar_pass_quadratic``).

    python bench/bench_similar.py --titles 10000,20000,40000 --quadratic-max 40000

Each size: ``--titles`` titles in the run, support Zipf-like (a few titles rated by thousands,
most by a handful), rank-32 ranking vectors, a content side of the ``--content`` most-rated titles
(capped as ``content_max_titles`` caps the real one: 1-3 of 20 genres, a director, a writer and
three leading actors drawn Zipf-like from a people pool, year, runtime, IMDb rating and votes),
their 50 content neighbours (computed, as the job does), 50 star-model neighbours for the
20,000 most-rated titles and 200 item-item ones for the 3,000 most-rated (random among the most
rated: only how many there are matters to the time). Prints titles, seconds and titles/s, and
for the sizes both ran, how many of each title's first 12 the two passes share.
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import time
from pathlib import Path

import numpy as np
import pyarrow as pa

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from recommender.spark import content, scoring  # noqa: E402
from recommender.spark.passes import content_value, side_value, similar_pass, similar_pass_quadratic  # noqa: E402

GENRES = [f"genre{number}" for number in range(20)]


def synthetic_inputs(titles: int, *, content_titles: int, seed: int = 1, rank: int = 32):
    """(ItemSide, Content) of a run of ``titles`` titles, the ``content_titles`` most rated with content."""
    rng = np.random.default_rng(seed)
    ids = np.arange(1, titles + 1, dtype=np.int64) * 7
    support = np.maximum(1, (5000 / (1 + rng.permutation(titles)) ** 0.9 * rng.uniform(0.5, 1.5, titles))).astype(
        np.int64
    )
    side = scoring.ItemSide.build(
        ids=ids,
        factors=rng.normal(size=(titles, rank)).astype(np.float32),
        rating_factors=rng.normal(size=(titles, 8)).astype(np.float32),
        bias=rng.normal(0, 0.3, titles),
        support=support,
    )
    by_support = np.lexsort((ids, -support))
    with_content = np.sort(ids[by_support[: min(content_titles, titles)]])
    size = len(with_content)
    genre_frequency = 1.0 / np.arange(1, len(GENRES) + 1)
    genre_frequency /= genre_frequency.sum()
    genres = [list(rng.choice(GENRES, size=rng.integers(1, 4), replace=False, p=genre_frequency)) for _ in range(size)]
    people_pool = max(size // 2, 10)
    zipf = np.minimum(rng.zipf(1.6, size=(size, 5)), people_pool) - 1
    people_item = np.repeat(with_content, 5)
    people_person = (zipf + np.array([0, 1, 2, 3, 4]) * people_pool).ravel()
    people_weight = np.tile(np.array([1.0, 0.6, 0.7, 0.7, 0.7], np.float32), size)
    votes = support[np.searchsorted(ids, with_content)] * rng.uniform(5, 50, size)
    catalog = content.content_build(
        ids=with_content,
        kind=rng.choice(["movie", "tvSeries", "short"], size=size, p=[0.8, 0.15, 0.05]),
        year=rng.integers(1920, 2025, size).astype(float),
        runtime=rng.integers(20, 200, size).astype(float),
        rating=np.round(rng.uniform(3, 9, size), 1),
        votes=votes,
        genres=genres,
        people_item=people_item,
        people_person=people_person,
        people_weight=people_weight,
    )
    offsets, found, values = content.neighbours_of(catalog, np.arange(size), 50)
    side = side.with_content(catalog.ids, offsets, catalog.ids[found], values)

    def random_lists(owners: int, length: int):
        chosen = np.sort(ids[by_support[: min(owners, titles)]])
        targets = ids[by_support[rng.integers(0, min(owners * 2, titles), size=len(chosen) * length)]]
        return chosen, np.arange(len(chosen) + 1) * length, targets, np.ones(len(targets), np.float32)

    side = side.with_star_neighbours(*random_lists(20_000, 50))
    side = side.with_item_neighbours(*random_lists(3_000, 200))
    return side, catalog


def _lists(batches) -> dict[int, list[int]]:
    out: dict[int, list[int]] = {}
    for batch in batches:
        for item, similar in zip(batch.column("item").to_pylist(), batch.column("similar").to_pylist(), strict=True):
            out[item] = similar
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--titles", default="10000,20000,40000", help="comma-separated run sizes")
    parser.add_argument("--content", type=int, default=30_000, help="titles with content (content_max_titles)")
    parser.add_argument("--quadratic-max", type=int, default=20_000, help="largest size the old pass runs at")
    parser.add_argument("--count", type=int, default=20)
    parser.add_argument("--json", help="write the figures here")
    options = parser.parse_args()
    figures = []
    print(f"{'titles':>9} {'pass':>10} {'seconds':>9} {'titles/s':>10} {'first 12 kept':>14}")
    for titles in (int(value) for value in options.titles.split(",")):
        side, catalog = synthetic_inputs(titles, content_titles=options.content)
        batch = pa.RecordBatch.from_arrays([pa.array(side.ids.astype(np.int32))], names=["item"])
        arguments = {"side_value": side_value(side), "count": options.count, "min_support": 2}
        arguments["content_value"] = content_value(catalog)
        started = time.process_time()
        linear = _lists(similar_pass([batch], **arguments))
        linear_seconds = time.process_time() - started
        row = {"titles": titles, "content_titles": len(catalog), "linear_cpu_seconds": round(linear_seconds, 2)}
        print(f"{titles:>9,} {'linear':>10} {linear_seconds:>9.2f} {titles / linear_seconds:>10,.0f}")
        if titles <= options.quadratic_max:
            started = time.process_time()
            quadratic = _lists(similar_pass_quadratic([batch], **arguments))
            quadratic_seconds = time.process_time() - started
            kept = sum(len(set(linear[item][:12]) & set(quadratic[item][:12])) for item in quadratic)
            shown = sum(min(len(quadratic[item]), 12) for item in quadratic)
            row.update(quadratic_cpu_seconds=round(quadratic_seconds, 2), first12_kept=kept, first12_total=shown)
            print(
                f"{titles:>9,} {'quadratic':>10} {quadratic_seconds:>9.2f} {titles / quadratic_seconds:>10,.0f}"
                f" {kept / max(shown, 1):>13.1%}"
            )
        figures.append(row)
    print(f"peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB; CPU seconds of this process")
    if options.json:
        Path(options.json).write_text(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
