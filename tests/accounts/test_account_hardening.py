"""Accounts against a hostile visitor or a stolen session (issue 20, part 4).

- One account per e-mail address (any case) and per user name, in the database: parallel
  sign-ups end with one account and form errors, never a second account or a 500.
- Sign-up and password reset do not say whether a name or an address has an account.
- A new e-mail address needs the current password; wrong passwords on the profile, delete and
  password-change forms count towards the same lockout as the login page.
- Login records are deleted after ``LOGIN_RECORDS_RETENTION_DAYS``; a deleted member's cached
  pages leave the cache; favourite genres are stored once each and bounded.
"""

from __future__ import annotations

import datetime as dt
import threading

import pytest
from axes.models import AccessAttempt, AccessFailureLog, AccessLog
from django.core import mail
from django.core.cache import cache
from django.db import IntegrityError, connection, transaction
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from accounts.models import User
from accounts.services import SIGNUP_TAKEN_MESSAGE, login_records_prune, user_delete, user_profile_update
from tests.accounts.test_accounts import GOOD_PASSWORD

THREADS = 8


def _signup_data(username: str, email: str) -> dict:
    return {"username": username, "email": email, "password1": GOOD_PASSWORD, "password2": GOOD_PASSWORD}


def _post_concurrently(datas: list[dict]) -> list[int]:
    barrier = threading.Barrier(len(datas))
    statuses: list[int] = [0] * len(datas)
    errors: list[BaseException] = []

    def run(index: int):
        try:
            client = Client(raise_request_exception=False)
            barrier.wait(timeout=10)
            response = client.post(reverse("accounts:signup"), datas[index])
            statuses[index] = response.status_code
            if response.status_code == 200:
                assert SIGNUP_TAKEN_MESSAGE.replace("'", "&#x27;") in response.content.decode()
        except BaseException as error:
            errors.append(error)
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(index,)) for index in range(len(datas))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not errors, errors
    return statuses


@pytest.mark.django_db(transaction=True)
def test_parallel_signups_with_one_email_make_one_account():
    datas = [
        _signup_data(f"racer{index}", "Same.Person@Example.com" if index % 2 else "same.person@example.com")
        for index in range(THREADS)
    ]
    statuses = _post_concurrently(datas)
    assert sorted(statuses) == [200] * (THREADS - 1) + [302], statuses
    assert User.objects.filter(email__iexact="same.person@example.com").count() == 1


@pytest.mark.django_db(transaction=True)
def test_parallel_signups_with_one_username_make_one_account_and_no_500():
    datas = [_signup_data("Racer" if index % 2 else "racer", f"racer{index}@example.com") for index in range(THREADS)]
    statuses = _post_concurrently(datas)
    assert sorted(statuses) == [200] * (THREADS - 1) + [302], statuses
    assert User.objects.filter(username__iexact="racer").count() == 1


def test_the_database_refuses_a_second_account_per_address_or_name(db):
    User.objects.create_user(username="first", email="Shared@Example.com")
    with pytest.raises(IntegrityError), transaction.atomic():
        User.objects.create_user(username="second", email="shared@example.COM")
    with pytest.raises(IntegrityError), transaction.atomic():
        User.objects.create_user(username="FIRST", email="")
    # Raters without an address (synthetic, MovieLens) are many.
    User.objects.create_user(username="robot-1", email="", kind=User.Kind.SYNTHETIC, external_id="s:1")
    User.objects.create_user(username="robot-2", email="", kind=User.Kind.SYNTHETIC, external_id="s:2")


def test_password_reset_says_the_same_for_known_and_unknown_addresses(client, user_factory):
    user_factory(username="known", email="known@example.com")
    known = client.post(reverse("password_reset"), {"email": "known@example.com"}, follow=True)
    unknown = client.post(reverse("password_reset"), {"email": "unknown@example.com"}, follow=True)
    assert known.redirect_chain == unknown.redirect_chain
    assert known.content == unknown.content
    assert len(mail.outbox) == 1


# --- e-mail change and the lockout ----------------------------------------------------------------


def test_changing_the_email_needs_the_password(client, user_factory):
    user = user_factory(username="owner", email="owner@example.com")
    client.force_login(user)
    profile = reverse("accounts:profile")
    response = client.post(profile, {"email": "thief@example.com"})
    assert (
        response.status_code == 200 and "Enter your password to change your e-mail address" in response.content.decode()
    )
    response = client.post(profile, {"email": "thief@example.com", "current_password": "not-the-password"})
    assert "That is not your password" in response.content.decode()
    user.refresh_from_db()
    assert user.email == "owner@example.com"
    # Same address (any case) with other genres: no password needed.
    assert client.post(profile, {"email": "OWNER@example.com", "favourite_genres": ["Drama"]}).status_code == 302
    response = client.post(profile, {"email": "new@example.com", "current_password": user.raw_password})
    assert response.status_code == 302
    user.refresh_from_db()
    assert user.email == "new@example.com"


def test_the_profile_does_not_take_another_accounts_address(client, user_factory):
    user_factory(username="taken", email="taken@example.com")
    user = user_factory(username="mover", email="mover@example.com")
    client.force_login(user)
    response = client.post(
        reverse("accounts:profile"), {"email": "TAKEN@example.com", "current_password": user.raw_password}
    )
    assert response.status_code == 200 and "This e-mail address cannot be used" in response.content.decode()
    user.refresh_from_db()
    assert user.email == "mover@example.com"


def _wrong_password_posts(client, user, form: str) -> list[int]:
    posts = {
        "delete": (reverse("accounts:delete"), lambda guess: {"password": guess, "confirm": "on"}),
        "password_change": (
            reverse("password_change"),
            lambda guess: {"old_password": guess, "new_password1": GOOD_PASSWORD, "new_password2": GOOD_PASSWORD},
        ),
        "email": (reverse("accounts:profile"), lambda guess: {"email": "x@example.com", "current_password": guess}),
    }
    path, data = posts[form]
    return [client.post(path, data(f"guess-{attempt}")).status_code for attempt in range(5)] + [
        client.post(path, data(user.raw_password)).status_code
    ]


@pytest.mark.parametrize("form", ["delete", "password_change", "email"])
def test_wrong_passwords_on_account_forms_count_towards_the_lockout(client, user_factory, settings, form):
    assert settings.AXES_FAILURE_LIMIT == 5
    user = user_factory(username="victim", email="victim@example.com")
    client.force_login(user)
    statuses = _wrong_password_posts(client, user, form)
    # Four refusals, the fifth locks out; then even the right password is refused.
    assert statuses == [200, 200, 200, 200, 429, 429], statuses
    assert AccessAttempt.objects.get(username="victim").failures_since_start >= 5
    user.refresh_from_db()
    assert user.email == "victim@example.com" and user.check_password(user.raw_password)
    assert User.objects.filter(pk=user.pk).exists()
    # The login page is locked for that account too.
    other = Client()
    response = other.post(reverse("login"), {"username": "victim", "password": user.raw_password})
    assert response.status_code == 429


# --- retention of login records -------------------------------------------------------------------


def test_login_records_are_deleted_after_the_retention_period(db, settings, user_factory):
    from accounts.tasks import login_records_prune_task

    settings.LOGIN_RECORDS_RETENTION_DAYS = 30
    now = timezone.now()
    for model in (AccessLog, AccessFailureLog, AccessAttempt):
        for age_days in (31, 29):
            extra = {"failures_since_start": 1} if model is AccessAttempt else {}
            row = model.objects.create(
                username=f"someone-{age_days}", ip_address="192.0.2.1", user_agent="Browser/1.0", path_info="/", **extra
            )
            model.objects.filter(pk=row.pk).update(attempt_time=now - dt.timedelta(days=age_days))
    assert login_records_prune(dry_run=True) == {"logins": 1, "failures": 1, "attempts": 1}
    assert AccessLog.objects.count() == 2
    assert login_records_prune_task.apply().get() == {"logins": 1, "failures": 1, "attempts": 1}
    for model in (AccessLog, AccessFailureLog, AccessAttempt):
        assert list(model.objects.values_list("username", flat=True)) == ["someone-29"]


def test_login_records_are_pruned_daily_by_beat(settings):
    entry = next(e for e in settings.CELERY_BEAT_SCHEDULE.values() if e["task"].endswith("login_records_prune_task"))
    assert entry["schedule"].hour == {4}


# --- a deleted member's cache entries -------------------------------------------------------------


def test_deleting_a_member_removes_their_cached_pages(db, user_factory, django_capture_on_commit_callbacks):
    from recommender.serving.page import page_cache_key

    leaver, stayer = user_factory(), user_factory()
    keys = {
        user.pk: [
            page_cache_key(user=user, fingerprint=("run", n), variant=f"page={n}", csrf_secret="s") for n in range(3)
        ]
        for user in (leaver, stayer)
    }
    for user_keys in keys.values():
        cache.set_many({key: "<rendered page>" for key in user_keys}, 600)
    leaver_id = leaver.pk
    with django_capture_on_commit_callbacks(execute=True):
        user_delete(user=leaver)
    assert cache.get_many(keys[leaver_id]) == {}
    assert len(cache.get_many(keys[stayer.pk])) == 3
    cache.delete_many(keys[stayer.pk])


# --- favourite genres -----------------------------------------------------------------------------


def test_favourite_genres_are_stored_once_each_and_bounded(client, user_factory):
    from django.core.exceptions import ValidationError

    user = user_factory(email="genres@example.com")
    client.force_login(user)
    response = client.post(reverse("accounts:profile"), {"email": user.email, "favourite_genres": ["Drama"] * 900})
    assert response.status_code == 200 and "Too many values" in response.content.decode()
    response = client.post(
        reverse("accounts:profile"), {"email": user.email, "favourite_genres": ["Drama", "Comedy", "Drama"]}
    )
    assert response.status_code == 302
    user.refresh_from_db()
    assert user.favourite_genres == ["Drama", "Comedy"]
    assert user_profile_update(user=user, email=user.email, favourite_genres=["Horror", "Horror"]).favourite_genres == [
        "Horror"
    ]
    with pytest.raises(ValidationError):
        user_profile_update(user=user, email=user.email, favourite_genres=["Drama"] * 900)
    with pytest.raises(ValidationError):
        user_profile_update(user=user, email=user.email, favourite_genres=["Cooking"])


def test_onboarding_genres_are_stored_once_each_and_bounded(client, user_factory):
    user = user_factory()
    client.force_login(user)
    response = client.post(reverse("recommender:onboarding"), {"genres": ["Drama"] * 900})
    assert response.status_code == 200
    user.refresh_from_db()
    assert user.favourite_genres == []
