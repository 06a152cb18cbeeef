"""The star model's neighbourhood term (recommender/DESIGN.md §2): the neighbour lists the job
computes, the term on made-up numbers, and the whole thing through the real pipeline (Spark job,
write-back, the site's live predictions)."""

from __future__ import annotations

import numpy as np
import pytest

from accounts.models import User
from ratings.services import rating_set
from recommender.models import ModelRun, Recommendation, TitleFactor
from recommender.serving import foldin, ranking, run_model
from recommender.spark import scoring
from recommender.spark.neighbours import star_neighbours
from recommender.spark.params import params_resolve
from tests.recommender import recsys_factories

MODEL = {"global_mean": 3.5, "star_neighbour_weight": 1.5, "star_neighbour_reg": 1.0, "scale_min": 1, "scale_max": 5}


def _params(**overrides) -> dict:
    return params_resolve({"star_neighbour_min_support": 3, "star_neighbour_shrink": 0.0, **overrides})


def _ratings():
    """Six users, titles 10..14: 11 moves with 10, 12 against it, 13 half with it; 14 rated twice."""
    z10 = np.array([1.0, -1.0, 0.5, -0.5, 2.0, -2.0])
    columns = {
        10: z10,
        11: 0.9 * z10 + np.array([0.1, -0.1, 0.0, 0.2, -0.1, 0.0]),
        12: -z10,
        13: 0.5 * z10 + np.array([0.8, 0.3, -0.9, 0.4, -0.2, 0.6]),
    }
    users, items, residuals = [], [], []
    for item, values in columns.items():
        users += list(range(6))
        items += [item] * 6
        residuals += list(values)
    users += [0, 1]
    items += [14, 14]
    residuals += [1.0, -1.0]
    return np.array(users), np.array(items), np.array(residuals)


def test_neighbours_are_the_positively_correlated_titles_with_enough_ratings():
    users, items, residuals = _ratings()
    item_ids, item_index = np.unique(items, return_inverse=True)
    found = star_neighbours(users, item_index, residuals, item_ids=item_ids, users=6, params=_params())
    lists = {
        int(owner): dict(
            zip(
                found.neighbours[found.offsets[k] : found.offsets[k + 1]].tolist(),
                found.scores[found.offsets[k] : found.offsets[k + 1]].tolist(),
                strict=True,
            )
        )
        for k, owner in enumerate(found.owners)
    }
    # 14 has two ratings (fewer than 3): no list, and no one's neighbour; 12 is against 10: left out.
    assert set(lists) == {10, 11, 12, 13}
    assert 14 not in {n for neighbours in lists.values() for n in neighbours}
    assert 12 not in lists[10] and 10 not in lists[12] and 10 not in lists[10]
    assert list(lists[10]) == [11, 13]  # best first
    z = residuals[:24].reshape(4, 6)  # rows: titles 10..13, every user rated each
    norms = {item: np.sqrt((residuals[items == item] ** 2).sum()) for item in (10, 11)}
    expected = z[0] @ z[1] / (norms[10] * norms[11])
    assert lists[10][11] == pytest.approx(expected, rel=1e-6)
    # The shrinkage by common raters: n / (n + shrink) with n = 6.
    shrunk = star_neighbours(
        users, item_index, residuals, item_ids=item_ids, users=6, params=_params(star_neighbour_shrink=6.0)
    )
    assert shrunk.scores[0] == pytest.approx(found.scores[0] / 2, rel=1e-6)
    # The list length is capped; with no weight there are no lists at all.
    capped = star_neighbours(
        users, item_index, residuals, item_ids=item_ids, users=6, params=_params(star_neighbour_n=1)
    )
    assert np.diff(capped.offsets).max() == 1
    assert not len(
        star_neighbours(
            users, item_index, residuals, item_ids=item_ids, users=6, params=_params(star_neighbour_weight=0.0)
        )
    )


def _side() -> scoring.ItemSide:
    side = scoring.ItemSide.build(
        ids=np.array([100, 101, 102, 103, 104]),
        factors=np.zeros((5, 2)),
        rating_factors=np.array([[0.5, 0.0], [0.0, 1.0], [1.0, 1.0], [0.2, 0.1], [0.0, 0.0]]),
        bias=np.array([0.1, -0.2, 0.3, 0.0, 0.0]),
        support=np.array([9, 9, 9, 9, 9]),
    )
    # 100's neighbours: 101 (0.6), 102 (0.2), 103 (0.4); 104 has none.
    return side.with_star_neighbours(
        np.array([100, 101]), np.array([0, 3, 4]), np.array([101, 102, 103, 100]), np.array([0.6, 0.2, 0.4, 0.5])
    )


def test_the_neighbourhood_term_is_the_shrunk_mean_of_the_rated_neighbours_residuals():
    side = _side()
    vectors, bias = np.array([[1.0, -1.0], [0.0, 0.0]]), np.array([0.2, -0.1])
    # user 0 rated 101 and 102; user 1 (one rating) only 103.
    segment, rows, stars = np.array([0, 0, 1]), np.array([1, 2, 3]), np.array([4.0, 2.0, 5.0])
    residuals = scoring.rating_residuals(
        segment, rows, stars, vectors, bias, title_bias=side.bias, rating_factors=side.rating_factors, model=MODEL
    )
    assert residuals[0] == pytest.approx(4.0 - (3.5 + 0.2 - 0.2 + (0.0 - 1.0)))
    term = scoring.neighbour_stars(
        np.array([0, 1, 0, 0, 1]),
        np.array([0, 0, 4, -1, 1]),
        segment,
        rows,
        residuals,
        2,
        offsets=side.star_neighbours.offsets,
        neighbour_rows=side.star_neighbours.rows,
        neighbour_scores=side.star_neighbours.scores,
        titles=5,
        model=MODEL,
    )
    assert term[0] == pytest.approx(1.5 * (0.6 * residuals[0] + 0.2 * residuals[1]) / (0.8 + 1.0))
    assert term[1] == pytest.approx(1.5 * 0.4 * residuals[2] / (0.4 + 1.0))
    # A title without neighbours, a title the run does not know, neighbours the user never rated: 0.
    assert term[2] == term[3] == term[4] == 0.0
    # Through the predicted stars, clipped like the rest.
    stars = scoring.stars_predict(vectors[0], bias[0], np.array([0]), side, MODEL, neighbour=term[:1])
    assert stars[0] == pytest.approx(np.clip(3.5 + 0.2 + 0.1 + 0.5 + term[0], 1, 5))
    # Without a weight the term is off.
    off = scoring.neighbour_stars(
        np.array([0]),
        np.array([0]),
        segment,
        rows,
        residuals,
        2,
        offsets=side.star_neighbours.offsets,
        neighbour_rows=side.star_neighbours.rows,
        neighbour_scores=side.star_neighbours.scores,
        titles=5,
        model={**MODEL, "star_neighbour_weight": 0.0},
    )
    assert off[0] == 0.0


def test_the_lists_follow_their_titles_when_the_catalog_joins():
    side = _side().with_content(
        np.array([99, 100, 105]), np.array([0, 0, 0, 0]), np.zeros(0, np.int64), np.zeros(0, np.float32)
    )
    lists = {
        int(side.ids[row]): side.ids[
            side.star_neighbours.rows[side.star_neighbours.offsets[row] : side.star_neighbours.offsets[row + 1]]
        ].tolist()
        for row in range(len(side.ids))
    }
    assert lists == {99: [], 100: [101, 102, 103], 101: [100], 102: [], 103: [], 104: [], 105: []}


# --- through the real pipeline ---------------------------------------------------------------------

TRAIN = {
    "rank": 8,
    "iterations": 6,
    "rating_rank": 4,
    "rating_iterations": 6,
    "holdout_fraction": 0.0,
    "similar_n": 5,
    "top_n": 30,
    "eval_max_users": 0,
    "star_neighbour_min_support": 3,
    "star_neighbour_n": 10,
}


@pytest.mark.spark
@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_the_job_writes_the_lists_and_the_sites_stars_equal_the_jobs(recommender_caches, user_factory, settings):
    from recommender.training.pipeline import model_run_train
    from recommender.training.runs import model_run_create

    settings.RECOMMENDER_EXCHANGE_DIR = str(settings.RECOMMENDER_MODEL_CACHE_DIR.parent / "exchange")
    titles = recsys_factories.titles_create()
    recsys_factories.persona_users_create(titles=titles, users_per_persona=12)
    single = user_factory(kind=User.Kind.SITE)  # one rating only
    rating_set(user=single, title=titles[0], score=4)
    run = model_run_train(run_id=model_run_create(params=TRAIN, triggered_by="test").pk)
    assert run.status == ModelRun.Status.SUCCEEDED, run.error
    run_model.run_model_forget()

    rows = {
        row.title_id: row
        for row in TitleFactor.objects.filter(run=run).only(
            "title_id", "support", "star_neighbours", "star_neighbour_scores"
        )
    }
    with_lists = [row for row in rows.values() if row.star_neighbours]
    assert with_lists and len(with_lists) <= len(rows)
    for row in with_lists:  # titles with enough ratings, at most star_neighbour_n, never themselves
        assert row.support >= 3 and len(row.star_neighbours) <= 10
        assert int(row.title_id[2:]) not in row.star_neighbours
        assert all(score > 0 for score in row.star_neighbour_scores)
    assert all(not row.star_neighbours for row in rows.values() if row.support < 3)

    model = run_model.run_model_get(run=run)
    assert len(model.star_neighbours.rows) == sum(len(row.star_neighbours) for row in with_lists)
    checked = 0
    others = Recommendation.objects.filter(run=run).exclude(user=single).values_list("user_id", flat=True)
    members = list(User.objects.filter(pk__in=others.distinct()).order_by("pk")[:6]) + [single]
    for member in members:
        vectors = foldin.user_vectors_solve(model=model, ratings=foldin.user_ratings(user=member))
        stored = list(Recommendation.objects.filter(run=run, user=member).order_by("rank"))
        assert stored, member
        positions = np.array([model.index[row.title_id] for row in stored])
        live = ranking.stars_for(model=model, vectors=vectors, positions=positions)
        np.testing.assert_allclose(live, [row.predicted_rating for row in stored], atol=2e-5)
        checked += len(stored)
        if member.pk != single.pk:
            # The term is on: without it, some of this member's stars differ.
            vectors.rated_positions = None
            bare = ranking.stars_for(model=model, vectors=vectors, positions=positions)
            assert np.abs(bare - live).max() > 1e-4
    assert checked


@pytest.mark.parametrize(
    "override, message",
    [
        ({"star_neighbour_weight": -1}, "star_neighbour_weight must be between"),
        ({"star_neighbour_n": 2.5}, "star_neighbour_n must be a whole number"),
        ({"star_neighbour_min_support": 0}, "star_neighbour_min_support must be between"),
        ({"star_neighbour_reg": "1"}, "star_neighbour_reg must be a number"),
    ],
)
def test_bad_neighbourhood_parameters_are_refused(override, message):
    from recommender.spark.params import ParamsError

    with pytest.raises(ParamsError, match=message):
        params_resolve(override)
