"""Nobody where they don't belong: a user cannot read or change another user's ratings, watchlist,
profile or recommendations by putting ids in URLs or forms; every personal page is login-only.

The site has no URL with a user id in it: personal pages are ``/me/…`` and act on
``request.user``. These tests try the ids anyway, in every place a client could put them.
"""

from __future__ import annotations

import re

import pytest
from django.test import Client

from accounts.models import User
from ratings.models import NotInterested, Rating, WatchlistItem
from ratings.services import not_interested_add, rating_set, watchlist_add
from tests.factories import make_title

TCONST = re.compile(r"/titles/(tt\d+)/")
PERSONAL_PAGES = (
    "/me/ratings/",
    "/me/stats/",
    "/me/watchlist/",
    "/me/not-interested/",
    "/me/import/",
    "/accounts/profile/",
    "/accounts/delete/",
    "/recommendations/",
    "/onboarding/",
    "/onboarding/progress/",
    # /communities/ itself is a public overview (totals only); a community's page needs a login.
    "/communities/1/",
    "/accounts/password_change/",
)


@pytest.fixture
def alice_and_bob(db, user_factory):
    secret, shared = make_title("tt0980001", primary_title="Alice Only Secret Film"), make_title("tt0980002")
    alice = user_factory(username="alice", email="alice@example.com", password="alice-Own-pass-731")
    bob = user_factory(username="bob", email="bob@example.com", password="bob-Own-pass-482")
    rating_set(user=alice, title=secret, score=5)
    watchlist_add(user=alice, title=shared)
    not_interested_add(user=alice, title=make_title("tt0980003", primary_title="Alice Dislikes This"))
    clients = {}
    for user in (alice, bob):
        clients[user.username] = Client()
        clients[user.username].force_login(user)
    return {"alice": alice, "bob": bob, "secret": secret, "shared": shared, "clients": clients}


def _id_params(user: User) -> list[dict]:
    return [
        {"user": user.pk},
        {"user_id": user.pk},
        {"username": user.username},
        {"id": user.pk},
        {"pk": user.pk},
        {"owner": user.pk},
    ]


def test_personal_pages_need_a_login(db):
    anonymous = Client()
    for path in PERSONAL_PAGES:
        response = anonymous.get(path)
        assert response.status_code == 302 and "/accounts/login/" in response["Location"], path


def test_ids_in_the_query_string_do_not_show_another_users_lists(alice_and_bob):
    bob, alice = alice_and_bob["clients"]["bob"], alice_and_bob["alice"]
    for path in ("/me/ratings/", "/me/watchlist/", "/me/not-interested/", "/me/stats/", "/accounts/profile/"):
        for params in [{}] + _id_params(alice):
            body = bob.get(path, params).content.decode()
            assert "Alice Only Secret Film" not in body and "Alice Dislikes This" not in body, (path, params)
            assert "alice@example.com" not in body
    csv = b"".join(bob.get("/me/ratings/", {"format": "csv", "user": alice.pk}).streaming_content).decode()
    assert "tt0980001" not in csv
    # Alice sees her own.
    assert "Alice Only Secret Film" in alice_and_bob["clients"]["alice"].get("/me/ratings/").content.decode()


def test_ids_in_forms_do_not_change_another_users_data(alice_and_bob):
    bob_client, alice, bob = alice_and_bob["clients"]["bob"], alice_and_bob["alice"], alice_and_bob["bob"]
    secret, shared = alice_and_bob["secret"], alice_and_bob["shared"]
    forged = {"user": alice.pk, "user_id": alice.pk, "username": "alice", "owner": alice.pk}
    bob_client.post(f"/titles/{secret.tconst}/rate/", {"score": "1", **forged})
    bob_client.post(f"/titles/{secret.tconst}/rate/", {"remove": "1", **forged})
    bob_client.post(f"/titles/{shared.tconst}/watchlist/", {"action": "remove", **forged})
    bob_client.post("/titles/tt0980003/not-interested/", {"action": "remove", **forged})
    assert Rating.objects.get(user=alice, title=secret).score == 5
    assert WatchlistItem.objects.filter(user=alice, title=shared).exists()
    assert NotInterested.objects.filter(user=alice, title_id="tt0980003").exists()
    assert not Rating.objects.filter(user=bob).exists()  # the remove acted on Bob's (absent) rating

    # Profile: the form takes email and genres only; ids, names and flags in the post are ignored.
    response = bob_client.post(
        "/accounts/profile/",
        {
            "email": "bob2@example.com",
            "favourite_genres": ["Drama"],
            "id": alice.pk,
            "pk": alice.pk,
            "username": "alice",
            "is_staff": "on",
            "is_superuser": "on",
            "kind": "synthetic",
            "password": "x",
            "current_password": bob.raw_password,  # a new e-mail address needs one's own password
        },
    )
    assert response.status_code == 302
    alice.refresh_from_db()
    bob.refresh_from_db()
    assert alice.email == "alice@example.com" and alice.username == "alice"
    assert bob.email == "bob2@example.com" and bob.username == "bob"
    assert not bob.is_staff and not bob.is_superuser and bob.kind == User.Kind.SITE

    # Deleting "an account" deletes only one's own, and needs one's own password.
    response = bob_client.post("/accounts/delete/", {"password": alice.raw_password, "confirm": "on", "user": alice.pk})
    assert User.objects.filter(pk=bob.pk).exists() and User.objects.filter(pk=alice.pk).exists()
    response = bob_client.post("/accounts/delete/", {"password": bob.raw_password, "confirm": "on", "user": alice.pk})
    assert response.status_code == 302
    assert not User.objects.filter(pk=bob.pk).exists() and User.objects.filter(pk=alice.pk).exists()
    assert Rating.objects.filter(user=alice).count() == 1


def test_password_change_needs_the_old_password(alice_and_bob):
    bob_client, bob = alice_and_bob["clients"]["bob"], alice_and_bob["bob"]
    response = bob_client.post(
        "/accounts/password_change/",
        {"old_password": "wrong", "new_password1": "N3w-pass-phrase!", "new_password2": "N3w-pass-phrase!"},
    )
    assert response.status_code == 200
    bob.refresh_from_db()
    assert bob.check_password("bob-Own-pass-482")


def test_recommendations_are_the_signed_in_users_whatever_the_ids(world, user_factory):  # noqa: F811
    # Two users with opposite tastes in a trained model's world.
    titles = world["titles"]
    action = [title for title in titles if "Action" in title.genres][:8]
    drama = [title for title in titles if "Drama" in title.genres and "Action" not in title.genres][:8]
    alice, bob = user_factory(username="rec_alice"), user_factory(username="rec_bob")
    for title in action:
        rating_set(user=alice, title=title, score=5)
    for title in drama:
        rating_set(user=bob, title=title, score=5)
    alice_client, bob_client = Client(), Client()
    alice_client.force_login(alice)
    bob_client.force_login(bob)

    def listed(client, params=None):
        response = client.get("/recommendations/", params or {})
        assert response.status_code == 200
        return set(TCONST.findall(response.content.decode()))

    alice_list, bob_list = listed(alice_client), listed(bob_client)
    assert alice_list and bob_list and alice_list != bob_list
    for params in _id_params(alice):
        assert listed(bob_client, params) == bob_list, params
