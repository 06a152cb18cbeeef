"""Rate limits (imdbrec/ratelimits.py, django-ratelimit) per address and per member: a 429 with a
message and Retry-After over the limit, other addresses and members unaffected."""

import pytest
from django.core import mail
from django.test import Client
from django.urls import reverse

from tests.factories import make_title

pytestmark = pytest.mark.django_db

OTHER_ADDRESS = {"REMOTE_ADDR": "203.0.113.9"}


@pytest.fixture
def limits(settings):
    """Small limits for the test; each test has fresh counters (tests/conftest.py)."""

    def set_limits(action: str, **rates):
        settings.RATE_LIMITS = {**settings.RATE_LIMITS, action: rates}

    return set_limits


def _assert_refused(response, words: str):
    assert response.status_code == 429, response.status_code
    assert int(response["Retry-After"]) >= 1
    assert words in response.content.decode()


def test_search_is_limited_per_address(client, limits):
    limits("search", ip="3/m")
    for _ in range(3):
        assert client.get(reverse("catalog:search"), {"q": "casablanca"}).status_code == 200
    _assert_refused(client.get(reverse("catalog:search"), {"q": "casablanca"}), "Too many searches")
    assert client.get(reverse("catalog:search"), {"q": "casablanca"}, **OTHER_ADDRESS).status_code == 200
    assert client.get(reverse("catalog:title_list")).status_code == 200  # browsing is not limited


def test_search_is_limited_per_member(member_client, limits):
    limits("search", ip="100/m", user="2/m")
    for _ in range(2):
        assert member_client.get(reverse("catalog:search"), {"q": "a"}).status_code == 200
    _assert_refused(member_client.get(reverse("catalog:search"), {"q": "a"}, **OTHER_ADDRESS), "Too many")
    assert Client().get(reverse("catalog:search"), {"q": "a"}).status_code == 200  # a visitor on that address


def test_the_script_answer_is_short_text(client, limits):
    limits("search", ip="1/m")
    client.get(reverse("catalog:search"))
    response = client.get(reverse("catalog:search"), HTTP_X_REQUESTED_WITH="XMLHttpRequest")
    assert response.status_code == 429 and response["Content-Type"].startswith("text/plain")


def test_imports_are_limited_per_member_and_the_form_is_not(member_client, limits):
    limits("import", ip="100/h", user="2/h")
    url = reverse("ratings:import")
    for _ in range(2):
        assert member_client.post(url, {}).status_code == 400  # no file: a form error, counted
    _assert_refused(member_client.post(url, {}), "Too many imports")
    assert member_client.get(url).status_code == 200


def test_exports_are_limited_and_the_history_page_is_not(member_client, limits):
    limits("export", ip="100/h", user="2/h")
    url = reverse("ratings:history")
    for _ in range(2):
        response = member_client.get(url, {"format": "csv"})
        assert response.status_code == 200
        b"".join(response.streaming_content)  # downloaded: the export is no longer in flight
    _assert_refused(member_client.get(url, {"format": "csv"}), "Too many exports")
    assert member_client.get(url).status_code == 200


def test_signups_are_limited_per_address(client, limits):
    limits("signup", ip="2/h")
    url = reverse("accounts:signup")
    for number in range(2):
        data = {"username": f"newcomer{number}", "email": f"n{number}@example.com"}
        client.post(url, {**data, "password1": "a-Long-pass-2024", "password2": "a-Long-pass-2024"})
        client.logout()
    _assert_refused(client.post(url, {"username": "third"}), "Too many sign-ups")
    assert client.get(url).status_code == 200
    assert client.post(url, {"username": "x"}, **OTHER_ADDRESS).status_code == 200  # form errors


def test_password_resets_are_limited_per_address_and_per_email(client, user_factory, limits):
    member = user_factory(email="reset-me@example.com")
    limits("password-reset", ip="2/h", email="1/h")
    url = reverse("password_reset")
    assert client.post(url, {"email": member.email}).status_code == 302
    _assert_refused(client.post(url, {"email": member.email}, **OTHER_ADDRESS), "Too many password reset")
    assert len(mail.outbox) == 1
    assert client.post(url, {"email": "someone@example.com"}).status_code == 302
    _assert_refused(client.post(url, {"email": "third@example.com"}), "Too many password reset")


def test_failed_logins_are_limited_per_address_across_user_names(client, member, limits):
    """One password tried against many accounts from one address: django-axes locks one name from one
    address; this limit counts the failures of every name from the address."""
    limits("login-failures", ip="3/15m")
    url = reverse("login")
    for number in range(3):
        assert client.post(url, {"username": f"victim{number}", "password": "Summer2024!"}).status_code == 200
    _assert_refused(client.post(url, {"username": "victim9", "password": "Summer2024!"}), "Too many failed logins")
    # Even the right password from that address waits; another address logs in.
    _assert_refused(client.post(url, {"username": member.username, "password": "x"}), "Too many failed logins")
    assert client.get(url).status_code == 200


def test_successful_logins_do_not_count(client, user_factory, limits):
    limits("login-failures", ip="1/15m")
    user = user_factory(password="right-Pass-2024")
    for _ in range(3):
        assert (
            client.post(reverse("login"), {"username": user.username, "password": "right-Pass-2024"}).status_code == 302
        )
        client.logout()


def test_the_limits_are_off_when_the_cache_is_down(client, settings, limits):
    """Fail open: with Redis unreachable the site answers (without limits), as for its other cached parts."""
    settings.CACHES = {
        **settings.CACHES,
        "down": {**settings.CACHES["default"], "LOCATION": "redis://127.0.0.1:1/0"},
    }
    settings.RATELIMIT_USE_CACHE = "down"
    limits("search", ip="1/m")
    for _ in range(3):
        assert client.get(reverse("catalog:search"), {"q": "x"}).status_code == 200


def test_a_title_page_is_never_limited(client, limits):
    limits("search", ip="1/m")
    title = make_title()
    for _ in range(5):
        assert client.get(title.get_absolute_url()).status_code == 200


def test_behind_a_proxy_the_last_forwarded_address_counts(client, limits, settings):
    settings.CLIENT_IP_HEADER = "HTTP_X_FORWARDED_FOR"
    limits("search", ip="1/m")
    search = reverse("catalog:search")
    assert client.get(search, HTTP_X_FORWARDED_FOR="1.1.1.1, 198.51.100.7").status_code == 200
    # The client can prepend anything; the proxy's own entry (the last) decides.
    _assert_refused(client.get(search, HTTP_X_FORWARDED_FOR="9.9.9.9, 198.51.100.7"), "Too many")
    assert client.get(search, HTTP_X_FORWARDED_FOR="198.51.100.8").status_code == 200
    # A forged, broken header is no 500: the connecting address counts instead.
    for junk in ("not-an-address", "", "1.2.3.4, ", "::1::"):
        assert client.get(search, HTTP_X_FORWARDED_FOR=junk).status_code in (200, 429)


def test_an_upload_over_the_limit_is_refused_before_its_body_is_read(member, limits):
    """The limit is checked before the CSRF check (which parses the whole multipart body): a
    request over it gets the 429 even without a CSRF token."""
    limits("import", ip="100/h", user="1/h")
    client = Client(enforce_csrf_checks=True)
    client.force_login(member)
    assert client.post(reverse("ratings:import"), {}).status_code == 403  # counted, then CSRF refuses
    _assert_refused(client.post(reverse("ratings:import"), {}), "Too many imports")


def test_the_pages_computed_per_member_are_limited(member_client, limits):
    limits("stats", user="2/m", ip="100/m")
    for _ in range(2):
        assert member_client.get(reverse("ratings:stats")).status_code == 200
    _assert_refused(member_client.get(reverse("ratings:stats")), "Too many views of your statistics")
    limits("recommendations", user="1/m", ip="100/m")
    assert member_client.get(reverse("recommender:recommendations")).status_code == 200
    _assert_refused(member_client.get(reverse("recommender:recommendations")), "Too many views of your recommendations")
