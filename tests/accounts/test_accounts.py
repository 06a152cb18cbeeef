"""Accounts through the test client on the real Postgres: sign up with Django's password
validators, log in and out, throttling by django-axes, password change and reset by email, the
profile, deleting an account (with its ratings and recommender rows), and the user admin."""

import re

import pytest
from django.core import mail
from django.urls import reverse

from accounts.models import User
from ratings.models import Rating, WatchlistItem
from recommender.models import ModelRun, Recommendation, UserFactor
from tests.factories import make_title

pytestmark = pytest.mark.django_db

GOOD_PASSWORD = "plum-Harbour-417"


def signup(client, **overrides):
    data = {
        "username": "newcomer",
        "email": "newcomer@example.com",
        "password1": GOOD_PASSWORD,
        "password2": GOOD_PASSWORD,
        **overrides,
    }
    return client.post(reverse("accounts:signup"), data)


# --- sign up --------------------------------------------------------------------------------------


def test_signup_creates_a_site_user_and_logs_in(client):
    response = signup(client)
    assert response.status_code == 302 and response["Location"] == reverse("recommender:onboarding")
    user = User.objects.get(username="newcomer")
    assert user.kind == User.Kind.SITE
    assert user.email == "newcomer@example.com"
    assert user.check_password(GOOD_PASSWORD) and user.password != GOOD_PASSWORD
    assert "Welcome, newcomer" in client.get(reverse("home")).content.decode()
    assert client.get(reverse("accounts:profile")).status_code == 200


def test_signup_goes_to_a_safe_next_only(client):
    response = signup(client, next="/titles/")
    assert response["Location"] == "/titles/"
    client.logout()
    response = signup(client, username="other", email="other@example.com", next="https://evil.example/")
    assert response["Location"] == reverse("recommender:onboarding")


@pytest.mark.parametrize(
    "overrides, message",
    [
        ({"password1": "short", "password2": "short"}, "too short"),
        ({"password1": "password123", "password2": "password123"}, "too common"),
        ({"password1": "83749201847", "password2": "83749201847"}, "entirely numeric"),
        ({"password1": "newcomer-1", "password2": "newcomer-1"}, "too similar to the username"),
        ({"password2": "something-else-9"}, "didn’t match"),
        ({"email": ""}, "This field is required"),
        ({"email": "not-an-email"}, "valid email"),
        ({"username": "bad name!"}, "Enter a valid username"),
    ],
)
def test_signup_refuses_bad_input_and_writes_nothing(client, overrides, message):
    response = signup(client, **overrides)
    assert response.status_code == 200
    assert message in response.content.decode()
    assert not User.objects.exists()


def test_signup_refuses_taken_username_and_email_with_one_message(client, user_factory):
    """Taken name, taken address (in another case), both: one answer, which does not say which."""
    from accounts.services import SIGNUP_TAKEN_MESSAGE

    user_factory(username="newcomer", email="someone@example.com")
    answers = [
        signup(client, email="fresh@example.com"),
        signup(client, username="NEWCOMER", email="fresh@example.com"),
        signup(client, username="fresh", email="SOMEONE@example.com"),
        signup(client, email="someone@example.com"),
    ]
    for response in answers:
        assert response.status_code == 200
        html = response.content.decode()
        assert SIGNUP_TAKEN_MESSAGE.replace("'", "&#x27;") in html
        assert "already exists" not in html and "already uses" not in html
    assert User.objects.count() == 1


def test_signup_page_for_a_signed_in_user_redirects(client, user_factory):
    client.force_login(user_factory())
    assert client.get(reverse("accounts:signup")).status_code == 302


# --- log in, log out, throttling ----------------------------------------------------------------


def test_login_and_logout(client, user_factory):
    user = user_factory(username="walker")
    response = client.post(reverse("login"), {"username": "walker", "password": user.raw_password})
    assert response.status_code == 302 and response["Location"] == reverse("home")
    html = client.get(reverse("home")).content.decode()
    assert "walker" in html and 'action="/accounts/logout/"' in html
    # Logging out is a POST; a GET (a link, a prefetch) must not log anyone out.
    assert client.get(reverse("logout")).status_code == 405
    assert client.get(reverse("accounts:profile")).status_code == 200
    response = client.post(reverse("logout"))
    assert response.status_code == 302
    assert client.get(reverse("accounts:profile")).status_code == 302


def test_login_redirects_back_to_next(client, user_factory):
    user = user_factory(username="walker")
    response = client.get(reverse("accounts:profile"))
    assert response["Location"] == f"{reverse('login')}?next=/accounts/profile/"
    response = client.post(
        f"{reverse('login')}?next=/accounts/profile/",
        {"username": "walker", "password": user.raw_password, "next": "/accounts/profile/"},
    )
    assert response["Location"] == "/accounts/profile/"


def test_wrong_password_is_refused_with_a_message(client, user_factory):
    user_factory(username="walker")
    response = client.post(reverse("login"), {"username": "walker", "password": "wrong-password-1"})
    assert response.status_code == 200
    assert "Please enter a correct username and password" in response.content.decode()


def test_synthetic_and_movielens_users_cannot_log_in(client):
    for kind in (User.Kind.SYNTHETIC, User.Kind.MOVIELENS):
        user = User.objects.create_user(username=f"rater-{kind}", password=GOOD_PASSWORD, kind=kind)
        response = client.post(reverse("login"), {"username": user.username, "password": GOOD_PASSWORD})
        assert response.status_code == 200, kind
        assert "_auth_user_id" not in client.session


def test_five_failed_logins_lock_the_account_out(client, user_factory, settings):
    assert settings.AXES_FAILURE_LIMIT == 5
    user = user_factory(username="target")
    for attempt in range(4):
        response = client.post(reverse("login"), {"username": "target", "password": f"guess-{attempt}"})
        assert response.status_code == 200, attempt
    response = client.post(reverse("login"), {"username": "target", "password": "guess-5"})
    assert response.status_code == 429
    assert "Too many failed logins" in response.content.decode()
    # Locked: even the right password is refused now.
    response = client.post(reverse("login"), {"username": "target", "password": user.raw_password})
    assert response.status_code == 429
    assert "_auth_user_id" not in client.session
    # Another account from the same address is not locked (username + IP pairs).
    other = user_factory(username="bystander")
    response = client.post(reverse("login"), {"username": "bystander", "password": other.raw_password})
    assert response.status_code == 302


def test_a_successful_login_resets_the_failure_count(client, user_factory):
    user = user_factory(username="forgetful")
    for attempt in range(4):
        client.post(reverse("login"), {"username": "forgetful", "password": f"guess-{attempt}"})
    assert client.post(reverse("login"), {"username": "forgetful", "password": user.raw_password}).status_code == 302
    client.post(reverse("logout"))
    for attempt in range(4):
        assert (
            client.post(reverse("login"), {"username": "forgetful", "password": f"again-{attempt}"}).status_code == 200
        )


# --- passwords ----------------------------------------------------------------------------------


def test_password_change(client, user_factory):
    user = user_factory(username="changer")
    client.force_login(user)
    page = client.get(reverse("password_change"))
    assert page.status_code == 200 and "Change your password" in page.content.decode()
    response = client.post(
        reverse("password_change"),
        {"old_password": user.raw_password, "new_password1": "short", "new_password2": "short"},
    )
    assert "too short" in response.content.decode()
    response = client.post(
        reverse("password_change"),
        {"old_password": user.raw_password, "new_password1": GOOD_PASSWORD, "new_password2": GOOD_PASSWORD},
    )
    assert response.status_code == 302
    user.refresh_from_db()
    assert user.check_password(GOOD_PASSWORD)
    assert "Password changed" in client.get(response["Location"]).content.decode()


def test_password_reset_by_email(client, user_factory):
    user_factory(username="amnesiac", email="amnesiac@example.com")
    response = client.post(reverse("password_reset"), {"email": "AMNESIAC@example.com"})
    assert response.status_code == 302
    assert len(mail.outbox) == 1
    message = mail.outbox[0]
    assert message.to == ["amnesiac@example.com"]
    assert message.subject == "Reset your imdbrec password"
    link = re.search(r"https?://[^/]+(/accounts/reset/\S+/)", message.body).group(1)
    form_page = client.get(link, follow=True)
    assert "Choose a new password" in form_page.content.decode()
    response = client.post(
        form_page.redirect_chain[-1][0], {"new_password1": GOOD_PASSWORD, "new_password2": GOOD_PASSWORD}
    )
    assert response.status_code == 302
    response = client.post(reverse("login"), {"username": "amnesiac", "password": GOOD_PASSWORD})
    assert response.status_code == 302
    # The link works once.
    assert "no longer works" in client.get(link, follow=True).content.decode()


def test_password_reset_for_an_unknown_address_sends_nothing_and_says_the_same(client):
    response = client.post(reverse("password_reset"), {"email": "nobody@example.com"})
    assert response.status_code == 302
    assert mail.outbox == []
    assert "Check your email" in client.get(response["Location"]).content.decode()


# --- profile ------------------------------------------------------------------------------------


def test_profile_requires_login(client):
    response = client.get(reverse("accounts:profile"))
    assert response.status_code == 302 and response["Location"].startswith(reverse("login"))


def test_profile_shows_sections_and_saves_details(client, user_factory):
    user = user_factory(username="profiled", email="old@example.com")
    client.force_login(user)
    html = client.get(reverse("accounts:profile")).content.decode()
    assert "<h1>profiled</h1>" in html
    assert f'href="{reverse("ratings:history")}?format=csv"' in html
    assert reverse("accounts:delete") in html
    assert "Your ratings" in html  # the ratings app's section (ratings/_profile_summary.html)
    response = client.post(
        reverse("accounts:profile"),
        {
            "email": "new@example.com",
            "favourite_genres": ["Comedy", "Film-Noir"],
            "current_password": user.raw_password,
        },
    )
    assert response.status_code == 302
    user.refresh_from_db()
    assert user.email == "new@example.com" and user.favourite_genres == ["Comedy", "Film-Noir"]
    response = client.post(reverse("accounts:profile"), {"email": "nope", "favourite_genres": ["Cooking"]})
    assert response.status_code == 200
    user.refresh_from_db()
    assert user.email == "new@example.com"


def test_profile_shows_the_sections_the_apps_above_register(client, user_factory, monkeypatch):
    """Ratings and the recommender register theirs in ``ready()``; a provider giving None is skipped."""
    from accounts.extensions import profile_sections
    from ratings.providers import profile_summary_section
    from recommender.providers import controls_section, quality_section, taste_section

    assert profile_sections._providers == [profile_summary_section, controls_section, quality_section, taste_section]
    monkeypatch.setattr(profile_sections, "_providers", [lambda *, request: None, profile_summary_section])
    client.force_login(user_factory())
    response = client.get(reverse("accounts:profile"))
    assert response.status_code == 200
    assert [t.name for t in response.templates if t.name.endswith("_profile_summary.html")]


# --- delete my account --------------------------------------------------------------------------


@pytest.fixture
def leaver(user_factory):
    user = user_factory(username="leaver")
    title = make_title(primary_title="Kept Title")
    Rating.objects.create(user=user, title=title, score=4)
    WatchlistItem.objects.create(user=user, title=make_title())
    run = ModelRun.objects.create(status=ModelRun.Status.SUCCEEDED)
    Recommendation.objects.create(
        run=run, user_id=user.pk, title=title, rank=1, score=1.0, predicted_rating=4.0, confidence=0.5
    )
    UserFactor.objects.create(run=run, user_id=user.pk, factors=[0.1, 0.2])
    return user


def test_delete_page_offers_the_export_first(client, leaver):
    client.force_login(leaver)
    html = client.get(reverse("accounts:delete")).content.decode()
    export_link = f'href="{reverse("ratings:export")}"'
    assert export_link in html
    assert html.index(export_link) < html.index("Delete my account for good")
    export = client.get(reverse("ratings:export"))
    assert export.status_code == 200 and export["Content-Type"] == "application/zip"


def test_delete_needs_the_password_and_the_tick(client, leaver):
    client.force_login(leaver)
    response = client.post(reverse("accounts:delete"), {"password": "wrong-password-1", "confirm": "on"})
    assert "That is not your password" in response.content.decode()
    response = client.post(reverse("accounts:delete"), {"password": leaver.raw_password})
    assert response.status_code == 200
    assert User.objects.filter(pk=leaver.pk).exists()
    assert Rating.objects.filter(user_id=leaver.pk).count() == 1


def test_delete_removes_the_user_and_their_data_and_logs_out(client, leaver, user_factory):
    bystander = user_factory(username="bystander")
    kept_rating = Rating.objects.create(user=bystander, title=make_title(), score=2)
    client.force_login(leaver)
    response = client.post(reverse("accounts:delete"), {"password": leaver.raw_password, "confirm": "on"})
    assert response.status_code == 302 and response["Location"] == reverse("home")
    assert not User.objects.filter(pk=leaver.pk).exists()
    assert not Rating.objects.filter(user_id=leaver.pk).exists()
    assert not WatchlistItem.objects.filter(user_id=leaver.pk).exists()
    assert not Recommendation.objects.filter(user_id=leaver.pk).exists()
    assert not UserFactor.objects.filter(user_id=leaver.pk).exists()
    assert Rating.objects.filter(pk=kept_rating.pk).exists()
    assert "_auth_user_id" not in client.session
    assert "were deleted" in client.get(reverse("home")).content.decode()


def test_delete_requires_login(client):
    assert client.post(reverse("accounts:delete"), {"password": "x", "confirm": "on"}).status_code == 302


# --- admin --------------------------------------------------------------------------------------


def test_user_admin_filters_by_kind_and_persona(client, staff_user, django_assert_max_num_queries):
    for n in range(3):
        User.objects.create_user(
            username=f"noir-{n}", kind=User.Kind.SYNTHETIC, persona="noir-buff", external_id=f"seed1:{n}"
        )
    User.objects.create_user(username="kid-0", kind=User.Kind.SYNTHETIC, persona="family", external_id="seed1:9")
    User.objects.create_user(username="ml-1", kind=User.Kind.MOVIELENS, external_id="1")
    client.force_login(staff_user)
    url = reverse("admin:accounts_user_changelist")
    with django_assert_max_num_queries(12):
        html = client.get(url).content.decode()
    assert "noir-buff" in html and "MovieLens user" in html
    html = client.get(url, {"kind__exact": "synthetic", "persona": "noir-buff"}).content.decode()
    assert "noir-0" in html and "noir-2" in html and "kid-0" not in html and "ml-1" not in html
    html = client.get(url, {"q": "seed1:9"}).content.decode()
    assert "kid-0" in html and "noir-0" not in html
    assert (
        client.get(reverse("admin:accounts_user_change", args=[User.objects.get(username="kid-0").pk])).status_code
        == 200
    )
