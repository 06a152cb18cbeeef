"""More like this in linear time (recommender/spark/similar.py): the same scores as the quadratic
pass, pair by pair, and the same lists when the candidates cover every title."""

import numpy as np
import pyarrow as pa
import pytest

from bench.bench_similar import synthetic_inputs
from recommender.spark import scoring, similar
from recommender.spark.passes import content_value, side_value, similar_pass, similar_pass_quadratic


@pytest.fixture(scope="module")
def inputs():
    return synthetic_inputs(400, content_titles=300, seed=3, rank=8)


def _lists(batches) -> dict[int, tuple[list[int], list[float]]]:
    out = {}
    for batch in batches:
        for item, found, scores in zip(
            batch.column("item").to_pylist(),
            batch.column("similar").to_pylist(),
            batch.column("scores").to_pylist(),
            strict=True,
        ):
            out[item] = (found, scores)
    return out


def _both(side, catalog, *, pool: int, count: int = 12):
    batch = pa.RecordBatch.from_arrays([pa.array(side.ids.astype(np.int32))], names=["item"])
    arguments = {"side_value": side_value(side), "count": count, "min_support": 2}
    if catalog is not None:
        arguments["content_value"] = content_value(catalog)
    return (
        _lists(similar_pass([batch], pool=pool, **arguments)),
        _lists(similar_pass_quadratic([batch], **arguments)),
    )


@pytest.mark.parametrize("with_content", [True, False])
def test_with_every_title_a_candidate_the_lists_are_the_quadratic_ones(inputs, with_content):
    side, catalog = inputs
    linear, quadratic = _both(side, catalog if with_content else None, pool=len(side.ids))
    assert linear.keys() == quadratic.keys()
    differing = [item for item in quadratic if linear[item][0] != quadratic[item][0]]
    assert not differing, differing[:5]
    for item, (_, scores) in quadratic.items():
        np.testing.assert_allclose(linear[item][1], scores, rtol=1e-4, atol=1e-7)
    assert sum(len(found) for found, _ in linear.values()) > 10 * len(linear)  # lists are not empty


def test_with_a_small_pool_every_score_is_the_quadratic_score_of_that_pair(inputs):
    side, catalog = inputs
    linear, quadratic = _both(side, catalog, pool=20)
    unit = side.factors / np.maximum(np.linalg.norm(side.factors, axis=1, keepdims=True), 1e-12)
    every = np.arange(len(side.ids))
    rows = side.positions(list(linear)[:60])
    # Every pair scored by the quadratic version: its top "all titles" of each row.
    best, values, valid = scoring.similar_titles(rows, side, unit, every, len(every), min_support=2, catalog=catalog)
    kept = 0
    for position, row in enumerate(rows):
        score_of = dict(
            zip(
                side.ids[best[position][valid[position]]].tolist(),
                values[position][valid[position]].tolist(),
                strict=True,
            )
        )
        found, scores = linear[int(side.ids[row])]
        for item, score in zip(found, scores, strict=True):
            assert score == pytest.approx(score_of[item], rel=1e-4, abs=1e-7)
        # Best first, and never the title itself.
        assert scores == sorted(scores, reverse=True) and int(side.ids[row]) not in found
        kept += len(set(found) & set(quadratic[int(side.ids[row])][0]))
    # The candidates (neighbour lists, shared people, a pool of 20) find most of the quadratic lists.
    assert kept >= 0.8 * sum(len(quadratic[int(side.ids[row])][0]) for row in rows)


def test_candidates_are_bounded_by_the_lists_and_the_pool(inputs):
    side, catalog = inputs
    found = similar.Candidates(side, catalog, pool=20)
    linked = np.diff(found.linked_offsets)
    lists = sum(
        np.diff(offsets)
        for offsets in (
            lists.offsets for lists in (side.content_neighbours, side.star_neighbours, side.item_neighbours)
        )
        if len(offsets) == len(side.ids) + 1
    )
    assert (linked >= 1).any() and linked.sum() <= 2 * lists.sum()  # each list both ways, no more
    assert len(found.pool) == 20 and (np.diff(found.pool) > 0).all()
    assert set(side.support[found.pool]) >= {side.support.max()}
