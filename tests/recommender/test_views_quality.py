"""Model quality on the profile: predictions against the ratings a user gave afterwards."""

import pytest
from django.test import RequestFactory
from django.urls import reverse

from accounts.models import User
from ratings.models import Rating
from ratings.services import rating_set
from recommender.models import Recommendation, RecommendationShown
from recommender.providers import quality_section
from recommender.quality.outcomes import quality_for_user, quality_overall
from tests.recommender.recsys_factories import numpy_run_train

# Every test only reads the world or writes inside its own transaction: one world for the module.
pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("world_module")]


def test_later_ratings_of_recommended_titles_are_compared_with_the_prediction(world):
    user = world["users"][1]
    User.objects.filter(pk=user.pk).update(kind=User.Kind.SITE)
    run = world["run"]
    recommended = list(Recommendation.objects.filter(run=run, user=user).order_by("rank")[:3])
    scores = [5, 2, 4]
    for row, score in zip(recommended, scores, strict=True):
        rating_set(user=user, title=world["by_tconst"][row.title_id], score=score)
    quality = quality_for_user(user=user)
    assert quality.count == 3
    expected_mae = sum(abs(row.predicted_rating - score) for row, score in zip(recommended, scores, strict=True)) / 3
    assert quality.mae == pytest.approx(expected_mae)
    assert quality.hit_rate == pytest.approx(2 / 3)
    assert {item.tconst for item in quality.matched} == {row.title_id for row in recommended}
    assert all(item.title is not None for item in quality.matched)

    # Ratings made before the run existed are not "later": they trained it.
    earlier = Rating.objects.filter(user=user).exclude(title_id__in=[row.title_id for row in recommended])
    assert earlier.exists()
    assert not {item.tconst for item in quality.matched} & set(earlier.values_list("title_id", flat=True))

    overall = quality_overall()
    assert overall[run.pk]["count"] == 3 and overall[run.pk]["users"] == 1
    assert overall[run.pk]["mae"] == pytest.approx(expected_mae)

    request = RequestFactory().get("/")
    request.user = user
    html = str(quality_section(request=request))
    assert f"{expected_mae:.2f}★" in html and "average miss" in html
    assert world["by_tconst"][recommended[0].title_id].primary_title in html


def test_the_latest_prediction_before_the_rating_is_used(world):
    user = world["users"][2]
    first_run = world["run"]
    row = Recommendation.objects.filter(run=first_run, user=user).order_by("rank").first()
    second_run = numpy_run_train(seed=21)
    Recommendation.objects.filter(run=second_run, user=user, title_id=row.title_id).delete()
    newer = Recommendation.objects.create(
        run=second_run, user=user, title_id=row.title_id, rank=999, score=1.0, predicted_rating=1.5, confidence=0.5
    )
    rating_set(user=user, title=world["by_tconst"][row.title_id], score=4)
    quality = quality_for_user(user=user)
    assert [(item.run_id, item.predicted) for item in quality.matched] == [(second_run.pk, newer.predicted_rating)]


def test_the_year_in_review_says_how_often_the_prediction_was_close(world):
    from recommender.providers import year_review_quality_section

    user = world["users"][1]
    User.objects.filter(pk=user.pk).update(kind=User.Kind.SITE)
    recommended = list(Recommendation.objects.filter(run=world["run"], user=user).order_by("rank")[:4])
    for row in recommended:
        rating_set(user=user, title=world["by_tconst"][row.title_id], score=5)
    close = sum(abs(row.predicted_rating - 5) <= 1.0 for row in recommended)
    request = RequestFactory().get("/")
    request.user = user
    year = Rating.objects.filter(user=user).latest("created_at").created_at.year
    html = str(year_review_quality_section(request=request, year=year))
    assert f"Of the <strong>4</strong> titles you rated in {year}" in html
    assert f'id="year-quality-close">{round(100 * close / 4)}%' in html
    assert "None of the titles" in str(year_review_quality_section(request=request, year=year - 5))


def test_a_new_members_rating_of_a_title_the_page_recommended_counts(world, client, user_factory):
    """A member who joined after the training has no ``Recommendation`` rows: their list is folded
    in live. The page records what it showed, so their later rating is compared with it."""
    member = user_factory(kind=User.Kind.SITE)
    persona = world["users"][0]
    for rating in Rating.objects.filter(user=persona).order_by("title_id")[:8]:
        rating_set(user=member, title=rating.title, score=rating.score)
    assert not Recommendation.objects.filter(user=member).exists()
    client.force_login(member)
    page = client.get(reverse("recommender:recommendations")).content.decode()
    shown = list(RecommendationShown.objects.filter(user=member).order_by("rank"))
    assert len(shown) == 20 and shown[0].rank == 1 and shown[0].run_id == world["run"].pk
    first = shown[0]
    assert f'data-tconst="{first.title_id}"' in page
    stats = client.get(reverse("ratings:stats")).content.decode()
    assert "Nothing to compare yet" in stats

    rating_set(user=member, title=world["by_tconst"][first.title_id], score=5)
    quality = quality_for_user(user=member)
    assert [(item.tconst, item.predicted, item.score) for item in quality.matched] == [
        (first.title_id, pytest.approx(first.predicted_rating), 5)
    ]
    stats = client.get(reverse("ratings:stats")).content.decode()
    assert "Nothing to compare yet" not in stats
    assert f"{abs(first.predicted_rating - 5):.2f}★" in stats and "average miss" in stats
    assert quality_overall()[world["run"].pk]["count"] == 1

    # Seeing the list again does not move the prediction after the rating: rated titles leave it.
    client.get(reverse("recommender:recommendations"), {"page": 1, "genre": ""})
    assert RecommendationShown.objects.get(user=member, title_id=first.title_id).shown_at == first.shown_at
