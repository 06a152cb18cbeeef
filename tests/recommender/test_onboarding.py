"""Cold start: genre picks, groups of well-known titles, progress, fallback, the unlock."""

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse

from accounts.models import User
from ratings.services import rating_set
from recommender.serving import onboarding
from tests.factories import make_title
from tests.recommender.recsys_factories import titles_create

pytestmark = pytest.mark.django_db


@pytest.fixture
def catalog(db, recommender_caches):
    return titles_create()


def test_genres_are_stored_and_bad_picks_change_nothing(catalog, user_factory):
    user = user_factory()
    assert onboarding.onboarding_genres_set(user=user, genres=["Horror", "Comedy", "Horror", " "]) == [
        "Horror",
        "Comedy",
    ]
    user.refresh_from_db()
    assert user.favourite_genres == ["Horror", "Comedy"]
    with pytest.raises(ValidationError, match="Unknown genre: Opera"):
        onboarding.onboarding_genres_set(user=user, genres=["Drama", "Opera"])
    with pytest.raises(ValidationError, match="at most"):
        onboarding.onboarding_genres_set(user=user, genres=onboarding.genre_choices()[:9] + ["Drama"] * 0)
    user.refresh_from_db()
    assert user.favourite_genres == ["Horror", "Comedy"]


def test_groups_put_picked_genres_first_and_leave_out_what_the_user_rated(catalog, user_factory):
    user = user_factory(favourite_genres=["Horror"])
    groups = onboarding.onboarding_groups(user=user)
    assert groups and groups[0].genre == "Horror"
    shown = [title.tconst for group in groups for title in group.titles]
    assert len(shown) == len(set(shown)), "a title appears in one group only"
    for group in groups:
        assert all(
            group.genre in title.genres and (title.start_year // 10) * 10 == group.decade for title in group.titles
        )
        votes = [title.num_votes for title in group.titles]
        assert votes == sorted(votes, reverse=True), "best known first"
    first = groups[0].titles[0]
    rating_set(user=user, title=first, score=4)
    again = [title.tconst for group in onboarding.onboarding_groups(user=user) for title in group.titles]
    assert first.tconst not in again


def test_groups_offer_only_titles_the_active_model_knows(world, user_factory):
    unknown = make_title(
        "tt9999998",
        primary_title="Unknown to the model",
        start_year=1999,
        genres=["Horror"],
        average_rating=9.0,
        num_votes=10_000_000,
    )
    user = user_factory(favourite_genres=["Horror"])
    shown = {title.tconst for group in onboarding.onboarding_groups(user=user, count=50) for title in group.titles}
    assert shown and unknown.tconst not in shown
    from recommender.models import TitleFactor

    assert shown <= set(TitleFactor.objects.filter(run=world["run"]).values_list("title_id", flat=True))


def test_progress_counts_down_to_the_unlock(catalog, user_factory):
    user = user_factory()
    progress = onboarding.onboarding_progress(user=user)
    assert (progress.rated, progress.remaining, progress.unlocked) == (0, 5, False)
    assert progress.message == "Rate 5 more titles to unlock recommendations."
    for title in catalog[:4]:
        rating_set(user=user, title=title, score=3)
    assert onboarding.onboarding_progress(user=user).message == "Rate 1 more title to unlock recommendations."
    rating_set(user=user, title=catalog[4], score=3)
    assert onboarding.onboarding_progress(user=user).unlocked


def test_fallback_is_popular_in_picked_genres_by_weighted_rating(catalog, user_factory):
    # A perfect score from a handful of votes must not beat a well-loved classic.
    make_title(
        "tt9999997", primary_title="Five Votes", start_year=2000, genres=["Horror"], average_rating=10.0, num_votes=120
    )
    user = user_factory(favourite_genres=["Horror", "Sci-Fi"])
    titles = onboarding.popular_in_genres(user=user, limit=10)
    assert titles and all({"Horror", "Sci-Fi"} & set(title.genres) for title in titles)
    weights = [title.weighted_rating for title in titles]
    assert weights == sorted(weights, reverse=True)
    assert titles[0].tconst != "tt9999997"
    rating_set(user=user, title=titles[0], score=5)
    assert titles[0].tconst not in [title.tconst for title in onboarding.popular_in_genres(user=user)]


def test_cold_start_flow_through_the_pages(world, client, user_factory):
    """A new user: onboarding with genres, rating five titles, the progress endpoint, then a
    personal recommendations page."""
    user = user_factory(kind=User.Kind.SITE)
    client.force_login(user)
    page = client.get(reverse("recommender:recommendations"))
    assert page.status_code == 200 and "Rate 5 more titles to unlock" in page.content.decode()

    response = client.post(reverse("recommender:onboarding"), {"genres": ["Horror", "Sci-Fi"]})
    assert response.status_code == 302
    user.refresh_from_db()
    assert user.favourite_genres == ["Horror", "Sci-Fi"]
    response = client.post(reverse("recommender:onboarding"), {"genres": ["Nonsense"]})
    assert response.status_code == 200 and "Select a valid choice" in response.content.decode()

    page = client.get(reverse("recommender:onboarding")).content.decode()
    assert "Horror of the" in page and 'class="stars"' in page
    groups = onboarding.onboarding_groups(user=user)
    to_rate = [title for group in groups for title in group.titles if group.genre in ("Horror", "Sci-Fi")][:5]
    assert len(to_rate) == 5
    for n, title in enumerate(to_rate):
        progress = client.get(reverse("recommender:onboarding_progress")).json()
        assert progress == {
            "progress": n / 5,
            "message": onboarding.onboarding_progress(user=user).message,
            "done": False,
            "rated": n,
            "remaining": 5 - n,
        }
        assert client.post(reverse("ratings:rate", args=[title.tconst]), {"score": 5}).status_code == 302
    assert client.get(reverse("recommender:onboarding_progress")).json()["done"] is True

    page = client.get(reverse("recommender:recommendations")).content.decode()
    assert "Predicted" in page and "Because you rated" in page
    assert "to unlock" not in page
