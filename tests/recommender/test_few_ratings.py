"""Titles with few ratings in the ranking (recommender/DESIGN.md §11): the content term counts more
for a title whose ratings say little (``scoring.content_lift``), in the job, in the live list and
in the explanations alike."""

from __future__ import annotations

import numpy as np
import pytest

from catalog.models import Title
from ratings.models import Rating
from recommender.models import ModelRun, Recommendation
from recommender.serving import explanations, foldin, ranking, run_model
from recommender.spark import content, scoring
from tests.recommender.test_training import GENRES, TEST_PARAMS, world_create


def test_the_lift_is_whole_for_a_title_no_one_rated_and_fades_with_its_ratings():
    model = {"content_few_weight": 3.0, "content_vector_prior": 2.0}
    lift = scoring.content_lift(np.array([0, 1, 4, 98]), model)
    np.testing.assert_allclose(lift, [4.0, 3.0, 2.0, 1.06], rtol=1e-6)
    assert scoring.content_lift(np.array([0, 5]), {**model, "content_few_weight": 0.0}) is None  # older runs


def test_the_content_term_of_a_title_with_few_ratings_is_lifted_and_nothing_else_is():
    catalog = content.content_build(
        ids=[1, 2, 3, 4],
        kind=["movie"] * 4,
        year=[1950, 1951, 1952, 1953],
        runtime=[100, 100, 100, 100],
        rating=[7.5, 7.5, 7.5, 7.5],
        votes=[50_000, 40_000, 30_000, 200],
        genres=[["Film-Noir"], ["Film-Noir"], ["Film-Noir"], ["Film-Noir"]],
        people_item=[1, 2, 3, 4],
        people_person=[7, 7, 7, 7],
        people_weight=[1.0] * 4,
    )
    offsets, rows, values = content.neighbours_of(catalog, np.arange(4), 3)
    side = scoring.ItemSide.build(
        ids=[1, 2, 3, 4],
        factors=np.ones((4, 2)),
        rating_factors=np.ones((4, 2)),
        bias=np.zeros(4),
        support=[90, 90, 90, 1],
    ).with_content(catalog.ids, offsets, catalog.ids[rows], values)
    model = {
        "scale_min": 1.0,
        "scale_max": 5.0,
        "content_weight": 4.0,
        "content_prior": 5.0,
        "content_vector_prior": 2.0,
    }
    rated = side.positions([1])
    plain = scoring.side_content_scores(np.zeros(1, np.int64), rated, np.array([5.0]), 1, side, model)[0]
    lifted = scoring.side_content_scores(
        np.zeros(1, np.int64), rated, np.array([5.0]), 1, side, {**model, "content_few_weight": 3.0}
    )[0]
    two, three, rare = side.positions([2, 3, 4])
    np.testing.assert_allclose(lifted[[two, three]], plain[[two, three]] * (1 + 3.0 * 2 / 92), rtol=1e-5)
    np.testing.assert_allclose(lifted[rare], plain[rare] * 3.0, rtol=1e-5)  # rated once: 1 + 3 · 2/3
    assert plain[rare] < plain[two] and lifted[rare] > lifted[two]  # the rare one passes the known ones


def _scores(model, ratings: dict[str, int]) -> np.ndarray:
    """The member's ranking score of every title, from the training's own equations."""
    vectors = foldin.user_vectors_solve(model=model, ratings=ratings)
    term = vectors.content if vectors.content is not None else 0.0
    return model.factors @ vectors.factors + model.popularity + term


@pytest.mark.spark
@pytest.mark.django_db(transaction=True)
def test_a_title_rated_once_reaches_its_genres_fans_and_the_live_list_is_the_jobs(settings, tmp_path):
    from recommender.training.pipeline import model_run_train
    from recommender.training.runs import model_run_create

    settings.RECOMMENDER_EXCHANGE_DIR = str(tmp_path / "exchange")
    world = world_create(users_per_genre=8)
    fans = {genre: [user for user in world["users"] if user.persona == genre] for genre in GENRES}
    newcomers = {}
    for index, genre in enumerate(GENRES):
        newcomers[genre] = Title.objects.create(
            tconst=f"tt{8_300_000 + index:07d}",
            title_type="movie",
            primary_title=f"{genre} newcomer",
            genres=[genre],
            start_year=1994,
            num_votes=3000,
        )
        Rating.objects.create(user=fans[genre][0], title=newcomers[genre], score=5)  # its only rating
    params = {**TEST_PARAMS, "holdout_fraction": 0.0, "top_n": 5, "content_few_weight": 3.0}
    run = model_run_train(run_id=model_run_create(params=params, triggered_by="test").pk)
    assert run.status == ModelRun.Status.SUCCEEDED, run.error
    assert run.params["model"]["content_few_weight"] == 3.0
    run_model.run_model_forget()
    model = run_model.run_model_get(run=run)

    reached, better = 0, 0
    for genre in GENRES:
        newcomer = newcomers[genre].tconst
        assert model.support[model.index[newcomer]] == 1
        for user in fans[genre][1:]:
            stored = list(
                Recommendation.objects.filter(run=run, user=user).order_by("rank").values_list("title_id", "score")
            )
            live = ranking.recommendation_list_live(user=user, limit=5)
            # The member's live list is what the job stored: the lift is in both, by the same function.
            assert [item.tconst for item in live.items] == [tconst for tconst, _ in stored]
            np.testing.assert_allclose(
                [item.score for item in live.items], [s for _, s in stored], rtol=1e-4, atol=1e-5
            )
            reached += newcomer in [tconst for tconst, _ in stored]

            # The explanation's brackets add up to the lifted score.
            ratings = foldin.user_ratings(user=user)
            positions = [item.position for item in live.items]
            matrix, _, _ = explanations.contributions(model=model, ratings=ratings, positions=positions)
            np.testing.assert_allclose(
                matrix.sum(axis=1) + model.popularity[positions],
                [item.score for item in live.items],
                rtol=1e-4,
                atol=1e-5,
            )

            # Without the lift the newcomer ranks lower among the titles the member has not rated.
            unrated = np.setdiff1d(np.arange(model.size), [model.index[t] for t in ratings])
            position = model.index[newcomer]

            def rank(scores: np.ndarray, position=position, unrated=unrated) -> int:
                return int((scores[unrated] > scores[position]).sum())

            lifted = rank(_scores(model, ratings))
            model.params, saved = {**model.params, "content_few_weight": 0.0}, model.params
            try:
                plain = rank(_scores(model, ratings))
            finally:
                model.params = saved
            better += lifted < plain
    fans_count = sum(len(users) - 1 for users in fans.values())
    assert reached >= fans_count // 2, (reached, fans_count)
    assert better >= fans_count // 2, (better, fans_count)
