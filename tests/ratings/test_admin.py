"""Admin pages for ratings, watchlist and not-interested rows: list, search, filters."""

import pytest

from ratings.models import NotInterested, Rating, WatchlistItem

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_client_logged_in(client, staff_user):
    client.force_login(staff_user)
    return client


def test_rating_admin_search_and_filters(admin_client_logged_in, user_factory, title_factory):
    alice, bob = user_factory(username="alice"), user_factory(username="bob", kind="synthetic")
    heat, up = title_factory(primary_title="Heat"), title_factory(primary_title="Up", title_type="short")
    Rating.objects.create(user=alice, title=heat, score=5)
    Rating.objects.create(user=bob, title=up, score=2)

    def listed(query):
        response = admin_client_logged_in.get("/admin/ratings/rating/", query)
        assert response.status_code == 200
        return sorted(str(rating) for rating in response.context["cl"].result_list)

    assert len(listed({})) == 2
    assert listed({"q": "alice"}) == [f"alice → {heat.tconst}: 5"]
    assert listed({"q": "Up"}) == [f"bob → {up.tconst}: 2"]
    assert listed({"q": heat.tconst}) == [f"alice → {heat.tconst}: 5"]
    assert listed({"score": "2"}) == [f"bob → {up.tconst}: 2"]
    assert listed({"user_kind": "synthetic"}) == [f"bob → {up.tconst}: 2"]
    assert listed({"title_type": "movie"}) == [f"alice → {heat.tconst}: 5"]
    change = admin_client_logged_in.get(f"/admin/ratings/rating/{Rating.objects.get(user=alice).pk}/change/")
    assert change.status_code == 200


@pytest.mark.parametrize(("model", "path"), [(WatchlistItem, "watchlistitem"), (NotInterested, "notinterested")])
def test_list_admins(admin_client_logged_in, user_factory, title_factory, model, path):
    user = user_factory(username="carol")
    model.objects.create(user=user, title=title_factory(primary_title="Ran"))
    model.objects.create(user=user_factory(username="dave"), title=title_factory(primary_title="Kes"))
    response = admin_client_logged_in.get(f"/admin/ratings/{path}/", {"q": "carol"})
    assert response.status_code == 200
    assert [item.title.primary_title for item in response.context["cl"].result_list] == ["Ran"]
