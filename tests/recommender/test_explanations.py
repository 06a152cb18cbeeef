"""Explanations: the user's own ratings that contribute most to each recommendation's score."""

import numpy as np
import pytest

from accounts.models import User
from ratings.services import rating_set
from recommender.serving import explanations, foldin, ranking, run_model

# Every test only reads the world or writes inside its own transaction: one world for the module.
pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("world_module")]


def test_contributions_add_up_to_the_score(world):
    """Σ_j c_uj y_iᵀ A⁻¹ y_j is exactly x_u·y_i: the explanation decomposes the real score."""
    user = world["users"][4]
    model = run_model.run_model_get(run=world["run"])
    ratings = foldin.user_ratings(user=user)
    vectors = foldin.user_vectors_solve(model=model, ratings=ratings)
    positions = np.arange(model.size)
    matrix, tconsts, stars = explanations.contributions(model=model, ratings=ratings, positions=positions)
    assert sorted(tconsts) == sorted(ratings) and stars == [ratings[tconst] for tconst in tconsts]
    np.testing.assert_allclose(matrix.sum(axis=1), model.factors @ vectors.factors, rtol=1e-8, atol=1e-10)


def test_explanations_name_only_titles_the_user_rated_with_their_stars(world):
    user = world["users"][12]
    live = ranking.recommendation_list_live(user=user)
    ratings = live.state.ratings
    found = explanations.explanations_for(
        model=live.model, ratings=ratings, positions=[i.position for i in live.items[:20]]
    )
    assert len(found) == 20
    named = 0
    for explanation in found:
        assert len(explanation.reasons) <= explanations.MAX_REASONS
        for reason in explanation.reasons:
            assert reason.tconst in ratings
            assert reason.stars == ratings[reason.tconst]
            assert reason.title is not None and reason.title.tconst == reason.tconst
            assert reason.title.primary_title in explanation.text
            assert reason.star_string in explanation.text
            assert reason.share >= explanation.threshold
            assert reason.stars >= explanations.NAMED_MIN_STARS
            assert explanation.threshold <= explanations.MIN_SHARE
            named += 1
        for group in (explanation.reasons, explanation.others):
            contributions = [reason.contribution for reason in group]
            assert contributions == sorted(contributions, reverse=True)
        if explanation.reasons:
            # A bigger contributor left unnamed must be a low rating (named ones read "because you rated").
            weakest = explanation.reasons[-1].contribution
            for other in explanation.others:
                if other.contribution > weakest:
                    assert other.stars < explanations.NAMED_MIN_STARS
    assert named >= 20  # most recommendations have at least one named reason


def test_the_reason_is_the_rated_title_of_the_same_taste(world, user_factory):
    """A user who loves horror and once rated a comedy: horror recommendations are explained by
    horror ratings, not by the comedy."""
    user = user_factory(kind=User.Kind.SITE)
    horror = [title for title in world["titles"] if title.genres[0] == "Horror"]
    comedy = [title for title in world["titles"] if title.genres[0] == "Comedy"]
    for title in horror[:6]:
        rating_set(user=user, title=title, score=5)
    rating_set(user=user, title=comedy[0], score=3)
    live = ranking.recommendation_list_live(user=user)
    # Pure horror titles: a horror-biography title may fairly owe as much to the comedy-drama.
    horror_items = [item for item in live.items[:30] if world["by_tconst"][item.tconst].genres == ["Horror"]]
    assert horror_items
    found = explanations.explanations_for(
        model=live.model, ratings=live.state.ratings, positions=[item.position for item in horror_items]
    )
    for explanation in found:
        assert explanation.reasons
        assert explanation.reasons[0].tconst in {title.tconst for title in horror[:6]}


def test_no_ratings_known_to_the_model_means_no_named_reason(world):
    model = run_model.run_model_get(run=world["run"])
    found = explanations.explanations_for(model=model, ratings={"tt0000000": 5}, positions=[0, 1])
    assert [explanation.reasons for explanation in found] == [[], []]
    assert all(explanation.text for explanation in found)
