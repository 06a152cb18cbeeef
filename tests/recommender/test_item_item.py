"""The ranking score's item-item term (recommender/DESIGN.md §1): pruned EASE lists fitted in the
job, stored per title, and the live fold-in and the explanations reading them exactly as the job."""

from __future__ import annotations

import numpy as np
import pytest

from ratings.models import Rating
from recommender.models import ModelRun, Recommendation, TitleFactor
from recommender.serving import explanations, foldin, ranking, run_model
from recommender.spark import scoring
from recommender.spark.item_item import ITEM_MIN_SUPPORT, item_neighbours_fit
from tests.recommender.test_training import TEST_PARAMS, world_create


def _pairs(seed: int = 3, users: int = 40, items: int = 25):
    """(user, item) ids: each user rates 2-8 distinct titles, the low ids more often."""
    rng = np.random.default_rng(seed)
    weights = 1.0 / np.arange(1, items + 1)
    pairs = [
        (user, int(item))
        for user in range(users)
        for item in rng.choice(items, size=int(rng.integers(2, 9)), replace=False, p=weights / weights.sum())
    ]
    users_, items_ = np.array(pairs, dtype=np.int64).T
    return users_ + 500, items_ * 7 + 11  # ids that are not positions


def test_item_neighbours_are_the_largest_positive_ease_weights_of_the_most_rated_titles():
    users, items = _pairs()
    lists = item_neighbours_fit(users, items, max_titles=15, lam=5.0, count=4)
    ids, support = np.unique(items, return_counts=True)
    chosen = np.sort(np.lexsort((ids, -support))[:15])
    assert (support[chosen] >= ITEM_MIN_SUPPORT).all()
    np.testing.assert_array_equal(lists.sources, ids[chosen])
    # EASE by the book on the chosen titles: B = I − P diagMat(1/diag P), P = (XᵀX + λI)⁻¹.
    user_ids = np.unique(users)
    matrix = np.zeros((len(user_ids), len(chosen)))
    keep = np.isin(items, ids[chosen])
    matrix[np.searchsorted(user_ids, users[keep]), np.searchsorted(ids[chosen], items[keep])] = 1.0
    inverse = np.linalg.inv(matrix.T @ matrix + 5.0 * np.eye(len(chosen)))
    weights = np.eye(len(chosen)) - inverse / np.diag(inverse)[None, :]
    for source in range(len(chosen)):
        low, high = lists.offsets[source], lists.offsets[source + 1]
        targets = np.searchsorted(ids[chosen], lists.targets[low:high])
        row = weights[source].copy()
        row[source] = -np.inf
        expected = np.argsort(-row, kind="stable")[:4]
        expected = expected[row[expected] > 0]
        np.testing.assert_array_equal(targets, expected)
        np.testing.assert_allclose(lists.weights[low:high], row[expected], rtol=1e-5)
    assert (lists.weights > 0).all() and len(lists.targets) > 0
    # Off: no lists at all.
    assert len(item_neighbours_fit(users, items, max_titles=0, lam=5.0, count=4).targets) == 0


def test_the_item_term_is_each_rating_spread_over_its_titles_list():
    users, items = _pairs()
    lists = item_neighbours_fit(users, items, max_titles=20, lam=5.0, count=6)
    side = scoring.ItemSide.build(
        ids=np.unique(items),
        factors=np.ones((len(np.unique(items)), 2)),
        rating_factors=np.ones((len(np.unique(items)), 2)),
        bias=np.zeros(len(np.unique(items))),
        support=np.ones(len(np.unique(items)), np.int64),
    ).with_item_neighbours(lists.sources, lists.offsets, lists.targets, lists.weights)
    model = {"item_weight": 1.5, "item_activity_exponent": 0.5, "activity_reference": 4.0}
    segment = np.array([0, 0, 0, 1, 1], dtype=np.int64)
    rows = side.positions(np.unique(items)[[0, 3, 5, 1, 2]])
    term = scoring.item_scores(
        segment,
        rows,
        2,
        neighbours=side.item_neighbours,
        titles=len(side.ids),
        model=model,
    )
    expected = np.zeros((2, len(side.ids)))
    for user, row in zip(segment, rows, strict=True):
        g = 1.5 * (4.0 / (segment == user).sum()) ** 0.5
        source = np.searchsorted(lists.sources, side.ids[row])
        if source < len(lists.sources) and lists.sources[source] == side.ids[row]:
            low, high = lists.offsets[source], lists.offsets[source + 1]
            for target, weight in zip(lists.targets[low:high], lists.weights[low:high], strict=True):
                expected[user, side.positions([target])[0]] += g * weight
    np.testing.assert_allclose(term, expected, rtol=1e-5, atol=1e-7)
    assert np.abs(expected).sum() > 0
    # The job's sum of neighbour terms is this term when there is no content side.
    both = scoring.neighbour_terms(
        segment,
        rows,
        np.full(5, 4.0),
        2,
        content=side.content_neighbours,
        items=side.item_neighbours,
        titles=len(side.ids),
        model=model,
        support=side.support,
    )
    np.testing.assert_array_equal(both, term)
    assert (
        scoring.item_scores(
            segment,
            rows,
            2,
            neighbours=side.item_neighbours,
            titles=len(side.ids),
            model={**model, "item_weight": 0},
        )
        is None
    )


@pytest.mark.spark
@pytest.mark.django_db(transaction=True)
def test_the_job_stores_the_lists_and_the_live_list_and_explanations_read_them_exactly(settings, tmp_path):
    from recommender.training.pipeline import model_run_train
    from recommender.training.runs import model_run_create

    settings.RECOMMENDER_EXCHANGE_DIR = str(tmp_path / "exchange")
    world = world_create()
    params = {**TEST_PARAMS, "holdout_fraction": 0.0, "item_lambda": 3.0, "item_n": 6, "item_max_titles": 20}
    run = model_run_train(run_id=model_run_create(params=params, triggered_by="test").pk)
    assert run.status == ModelRun.Status.SUCCEEDED, run.error
    run_model.run_model_forget()

    # The rows are the pruned EASE of the training ratings (no holdout here: all of them).
    pairs = np.array(
        [(user, int(title[2:])) for user, title in Rating.objects.values_list("user_id", "title_id")], dtype=np.int64
    )
    lists = item_neighbours_fit(pairs[:, 0], pairs[:, 1], max_titles=20, lam=3.0, count=6)
    stored = {
        int(tconst[2:]): (targets, weights)
        for tconst, targets, weights in TitleFactor.objects.filter(run=run, item_neighbours__len__gt=0).values_list(
            "title_id", "item_neighbours", "item_neighbour_weights"
        )
    }
    assert sorted(stored) == sorted(lists.sources[np.diff(lists.offsets) > 0].tolist())
    for source, (targets, weights) in stored.items():
        at = int(np.searchsorted(lists.sources, source))
        low, high = lists.offsets[at], lists.offsets[at + 1]
        assert targets == lists.targets[low:high].tolist()
        np.testing.assert_allclose(weights, lists.weights[low:high], rtol=1e-6)
    assert run.params["model"]["item_weight"] == 2.0

    # Every member's live list (their fold-in and item-item term from their ratings) is the list the
    # job stored, with the same scores: the term is in both, computed by the same function.
    model = run_model.run_model_get(run=run)
    assert len(model.item_neighbours.rows) == sum(len(targets) for targets, _ in stored.values())
    lifted = 0
    for user in world["users"]:
        live = ranking.recommendation_list_live(user=user, limit=10)
        rows = list(Recommendation.objects.filter(run=run, user=user).order_by("rank").values_list("title_id", "score"))
        assert [item.tconst for item in live.items] == [tconst for tconst, _ in rows][: len(live.items)]
        np.testing.assert_allclose(
            [item.score for item in live.items], [score for _, score in rows][: len(live.items)], rtol=1e-4, atol=1e-5
        )
        ratings = foldin.user_ratings(user=user)
        positions = [item.position for item in live.items]
        item_only = foldin.content_term(model=model, ratings=ratings)
        without = {**model.params, "item_weight": 0.0}
        model.params, saved = without, model.params
        try:
            content_only = foldin.content_term(model=model, ratings=ratings)
        finally:
            model.params = saved
        difference = item_only[positions] - (content_only[positions] if content_only is not None else 0.0)
        lifted += int(np.abs(difference).max() > 1e-4)

        # The explanation's brackets add up to that score, and what it cites contributed most.
        matrix, tconsts, _ = explanations.contributions(model=model, ratings=ratings, positions=positions)
        np.testing.assert_allclose(
            matrix.sum(axis=1) + model.popularity[positions], [item.score for item in live.items], rtol=1e-4, atol=1e-5
        )
        found = explanations.explanations_for(model=model, ratings=ratings, positions=positions, with_titles=False)
        for row, explanation in zip(matrix, found, strict=True):
            if explanation.kind in ("ratings", "person"):
                cited = [reason.tconst for reason in explanation.reasons]
                uncited = [value for tconst, value in zip(tconsts, row, strict=True) if tconst not in cited]
                named_floor = min(row[tconsts.index(tconst)] for tconst in cited)
                assert all(
                    value <= named_floor or ratings[t] < explanations.NAMED_MIN_STARS
                    for t, value in zip(tconsts, row, strict=True)
                    if t not in cited
                ), uncited
    assert lifted >= len(world["users"]) // 2  # the term moved most members' scores
