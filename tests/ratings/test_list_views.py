"""Watchlist and "not interested": toggles (plain posts) and their pages."""

import pytest

from ratings.models import NotInterested, Rating, WatchlistItem
from tests.helpers import AJAX

pytestmark = pytest.mark.django_db


def test_watchlist_add_and_remove_by_plain_post(member_client, member, title_factory):
    title = title_factory(primary_title="Ikiru")
    response = member_client.post(f"/titles/{title.tconst}/watchlist/", {"next": "/titles/"}, follow=True)
    assert response.redirect_chain == [("/titles/", 302)]
    assert "Added Ikiru (2000) to your watchlist." in response.content.decode()
    assert WatchlistItem.objects.filter(user=member, title=title).exists()
    member_client.post(f"/titles/{title.tconst}/watchlist/", {"action": "add"})
    assert WatchlistItem.objects.filter(user=member).count() == 1
    response = member_client.post(f"/titles/{title.tconst}/watchlist/", {"action": "remove"})
    assert response.status_code == 302 and response["Location"] == title.get_absolute_url()
    assert not WatchlistItem.objects.exists()


def test_not_interested_add_and_remove(member_client, member, title_factory):
    title = title_factory()
    member_client.post(f"/titles/{title.tconst}/watchlist/", {"action": "add"})
    member_client.post(f"/titles/{title.tconst}/not-interested/", {"action": "add"})
    assert NotInterested.objects.filter(user=member, title=title).exists()
    assert not WatchlistItem.objects.exists()
    response = member_client.post(f"/titles/{title.tconst}/not-interested/", {"action": "remove"}, **AJAX)
    assert response.status_code == 200 and "may be recommended to you again" in response.content.decode()
    assert not NotInterested.objects.exists()


@pytest.mark.parametrize("path", ["watchlist", "not-interested"])
def test_list_toggles_reject_bad_input(member_client, client, title_factory, path):
    title = title_factory()
    assert member_client.post(f"/titles/tt9999999/{path}/", {}).status_code == 404
    response = member_client.post(f"/titles/{title.tconst}/{path}/", {"action": "explode"})
    assert response.status_code == 400 and "Unknown action" in response.content.decode()
    assert member_client.get(f"/titles/{title.tconst}/{path}/").status_code == 405
    client.logout()
    assert client.post(f"/titles/{title.tconst}/{path}/", {}).status_code == 302
    assert not WatchlistItem.objects.exists() and not NotInterested.objects.exists()


def test_watchlist_page_lists_only_my_titles_with_stars_and_toggles(member_client, member, user_factory, title_factory):
    mine, rated, theirs = (
        title_factory(primary_title="Mine"),
        title_factory(primary_title="Rated too"),
        title_factory(primary_title="Theirs"),
    )
    WatchlistItem.objects.create(user=member, title=mine)
    WatchlistItem.objects.create(user=member, title=rated)
    Rating.objects.create(user=member, title=rated, score=2)
    WatchlistItem.objects.create(user=user_factory(), title=theirs)
    page = member_client.get("/me/watchlist/").content.decode()
    assert "Mine" in page and "Rated too" in page and "Theirs" not in page
    assert "2 titles you want to watch" in page
    assert page.count('class="stars"') == 2
    assert page.count('name="score" value="2" class="star-input" checked') == 1
    assert "✓ On watchlist" in page


def test_not_interested_page(member_client, member, title_factory):
    title = title_factory(primary_title="Boring")
    NotInterested.objects.create(user=member, title=title)
    page = member_client.get("/me/not-interested/").content.decode()
    assert "Boring" in page and "Undo not interested" in page


def test_empty_list_pages(member_client):
    assert "Your watchlist is empty" in member_client.get("/me/watchlist/").content.decode()
    assert "Nothing here" in member_client.get("/me/not-interested/").content.decode()


@pytest.mark.parametrize("path", ["/me/ratings/", "/me/stats/", "/me/watchlist/", "/me/not-interested/", "/me/import/"])
def test_profile_pages_need_a_login(client, path):
    response = client.get(path)
    assert response.status_code == 302 and response["Location"].startswith("/accounts/login/")


def test_watchlist_button_partial(rf, member, title_factory):
    from django.template.loader import render_to_string

    request = rf.get("/titles/")
    request.user = member
    title = title_factory()
    html = render_to_string("includes/_watchlist_button.html", {"title": title, "in_watchlist": False}, request=request)
    assert f'action="/titles/{title.tconst}/watchlist/"' in html and 'value="add"' in html
    assert f'action="/titles/{title.tconst}/not-interested/"' in html
    html = render_to_string(
        "includes/_watchlist_button.html",
        {"title": title, "in_watchlist": True, "hide_not_interested": True},
        request=request,
    )
    assert 'value="remove"' in html and "not-interested" not in html
