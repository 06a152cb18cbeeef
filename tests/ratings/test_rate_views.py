"""The rate endpoint: AJAX fragment, plain-form redirect (no JavaScript), and every bad input."""

import re

import pytest
from django.test import Client

from ratings.models import Rating
from recommender.models import UserFoldIn
from tests.helpers import AJAX

pytestmark = pytest.mark.django_db


def rate_url(title) -> str:
    return f"/titles/{title.tconst}/rate/"


def star_values(html: str) -> list[str]:
    return re.findall(r'name="score" value="(\d)"', html)


def lit_values(html: str) -> list[str]:
    return re.findall(r'<label class="star on"[^>]*><input type="radio" name="score" value="(\d)"', html)


def test_ajax_rating_returns_the_re_rendered_control(member_client, member, title_factory):
    title = title_factory(primary_title="Stalker")
    response = member_client.post(rate_url(title), {"score": "4", "next": "/titles/"}, **AJAX)
    assert response.status_code == 200
    html = response.content.decode()
    assert html.strip().startswith('<form class="stars"')
    assert star_values(html) == ["1", "2", "3", "4", "5"]  # one radio group, in reading order
    assert lit_values(html) == ["1", "2", "3", "4"]
    assert 'value="4" class="star-input" checked' in html
    assert 'name="remove" value="1"' in html
    assert 'name="next" value="/titles/"' in html  # later plain posts still return to the original page
    assert "csrfmiddlewaretoken" in html
    assert Rating.objects.get(user=member, title=title).score == 4


def test_ajax_change_and_remove(member_client, member, title_factory):
    title = title_factory()
    member_client.post(rate_url(title), {"score": "2"}, **AJAX)
    html = member_client.post(rate_url(title), {"score": "5"}, **AJAX).content.decode()
    assert lit_values(html) == ["1", "2", "3", "4", "5"]
    assert Rating.objects.get(user=member, title=title).score == 5
    html = member_client.post(rate_url(title), {"remove": "1"}, **AJAX).content.decode()
    assert lit_values(html) == []
    assert 'name="remove"' not in html
    assert not Rating.objects.filter(user=member).exists()


def test_empty_score_removes(member_client, member, title_factory):
    title = title_factory()
    member_client.post(rate_url(title), {"score": "3"}, **AJAX)
    response = member_client.post(rate_url(title), {"score": ""}, **AJAX)
    assert response.status_code == 200
    assert not Rating.objects.filter(user=member).exists()


def test_plain_post_without_javascript_redirects_back_with_a_message(member_client, member, title_factory):
    title = title_factory(primary_title="Solaris")
    response = member_client.post(rate_url(title), {"score": "3", "next": "/me/ratings/?sort=title"}, follow=True)
    assert response.redirect_chain == [("/me/ratings/?sort=title", 302)]
    assert Rating.objects.get(user=member, title=title).score == 3
    page = response.content.decode()
    assert "You rated Solaris (2000) 3 stars." in page
    # The history page shows the control lit up to 3 for this title.
    assert 'value="3" class="star-input" checked><span class="sr-only">Rate Solaris, 3 of 5</span>' in page


def test_plain_post_goes_to_the_title_page_without_next(member_client, title_factory):
    title = title_factory()
    response = member_client.post(rate_url(title), {"score": "1"})
    assert response.status_code == 302
    assert response["Location"] == title.get_absolute_url()


def test_plain_remove_post(member_client, member, title_factory):
    title = title_factory()
    member_client.post(rate_url(title), {"score": "1"})
    response = member_client.post(rate_url(title), {"remove": "1", "next": "/me/ratings/"})
    assert response.status_code == 302 and response["Location"] == "/me/ratings/"
    assert not Rating.objects.exists()


@pytest.mark.parametrize("next_url", ["https://evil.example/", "//evil.example/x", "javascript:alert(1)"])
def test_next_cannot_leave_the_site(member_client, title_factory, next_url):
    title = title_factory()
    response = member_client.post(rate_url(title), {"score": "2", "next": next_url})
    assert response["Location"] == title.get_absolute_url()


@pytest.mark.parametrize("score", ["0", "6", "2.5", "4.0", "-1", "abc", "★", "1e1", " 3"])
@pytest.mark.parametrize("ajax", [True, False])
def test_bad_scores_are_400_with_a_message_and_store_nothing(member_client, member, title_factory, score, ajax):
    title = title_factory()
    response = member_client.post(rate_url(title), {"score": score}, **(AJAX if ajax else {}))
    assert response.status_code == 400
    text = response.content.decode()
    assert "1 to 5" in text and "Nothing was saved" in text
    if ajax:
        assert response["Content-Type"].startswith("text/plain")
    assert not Rating.objects.exists()
    assert not UserFoldIn.objects.filter(user=member).exists()


def test_bad_score_leaves_an_existing_rating_alone(member_client, member, title_factory):
    title = title_factory()
    member_client.post(rate_url(title), {"score": "4"}, **AJAX)
    assert member_client.post(rate_url(title), {"score": "7"}, **AJAX).status_code == 400
    assert Rating.objects.get(user=member, title=title).score == 4


def test_post_without_score_or_remove_is_400(member_client, title_factory):
    response = member_client.post(rate_url(title_factory()), {}, **AJAX)
    assert response.status_code == 400
    assert "remove=1" in response.content.decode()
    assert not Rating.objects.exists()


@pytest.mark.parametrize("ajax", [True, False])
def test_unknown_title_is_404_with_a_message(member_client, ajax):
    response = member_client.post("/titles/tt9999999/rate/", {"score": "3"}, **(AJAX if ajax else {}))
    assert response.status_code == 404
    assert "tt9999999" in response.content.decode()
    assert not Rating.objects.exists()


def test_missing_csrf_token_is_403_and_stores_nothing(member, title_factory):
    client = Client(enforce_csrf_checks=True)
    client.force_login(member)
    title = title_factory()
    response = client.post(rate_url(title), {"score": "5"}, **AJAX)
    assert response.status_code == 403
    assert "CSRF" in response.content.decode() or "security" in response.content.decode().lower()
    assert not Rating.objects.exists()


def test_csrf_token_from_the_control_is_accepted(member, title_factory):
    """What site.js does: post the form's fields, token included, with the header."""
    client = Client(enforce_csrf_checks=True)
    client.force_login(member)
    title = title_factory()
    page = client.get("/me/ratings/")  # sets the CSRF cookie
    assert page.status_code == 200
    html = client.post(rate_url(title), {"score": "1"}, **AJAX)  # no token yet
    assert html.status_code == 403
    token = client.cookies["csrftoken"].value
    response = client.post(rate_url(title), {"score": "2", "csrfmiddlewaretoken": token}, **AJAX)
    assert response.status_code == 200
    assert Rating.objects.get(user=member).score == 2


def test_get_is_not_allowed(member_client, title_factory):
    assert member_client.get(rate_url(title_factory())).status_code == 405


def test_anonymous_plain_post_is_sent_to_log_in(client, title_factory):
    title = title_factory()
    response = client.post(rate_url(title), {"score": "4"})
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/")
    assert not Rating.objects.exists()


def test_anonymous_ajax_post_is_403_with_a_message(client, title_factory):
    response = client.post(rate_url(title_factory()), {"score": "4"}, **AJAX)
    assert response.status_code == 403
    assert "Log in" in response.content.decode()
    assert not Rating.objects.exists()


def test_rating_marks_the_recommender_stale(member_client, member, title_factory):
    UserFoldIn.objects.create(user=member, stale=False)
    member_client.post(rate_url(title_factory()), {"score": "5"}, **AJAX)
    assert UserFoldIn.objects.get(user=member).stale is True


def test_stars_partial_for_anonymous_users_links_to_log_in(rf, title_factory):
    from django.contrib.auth.models import AnonymousUser
    from django.template.loader import render_to_string

    request = rf.get("/titles/")
    request.user = AnonymousUser()
    html = render_to_string("includes/_stars.html", {"title": title_factory(), "user_score": None}, request=request)
    assert "<form" not in html
    assert 'href="/accounts/login/?next=/titles/"' in html


def test_stars_partial_unrated(rf, member, title_factory):
    from django.template.loader import render_to_string

    request = rf.get("/titles/")
    request.user = member
    html = render_to_string("includes/_stars.html", {"title": title_factory(), "user_score": None}, request=request)
    assert star_values(html) == ["1", "2", "3", "4", "5"]
    assert lit_values(html) == []
    assert " checked" not in html and 'stars-save">Save rating<' in html  # without JavaScript: pick, then save
    assert 'name="remove"' not in html
    assert 'name="next" value="/titles/"' in html
