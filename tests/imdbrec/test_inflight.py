"""Requests in flight (imdbrec/inflight.py): one address gets at most CLIENT_MAX_IN_FLIGHT
requests computed at once, the expensive actions run a few at a time site-wide and one at a time
per member; a request beyond that gets a clear 429 at once, costing no database query.

A CSV export is a streamed response: it stays in flight until its body has been sent (the test
client sends it when the content is read), which is how these tests hold a place."""

import threading
import time

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from imdbrec.inflight import in_flight_count, slots_acquire
from ratings.models import Rating
from tests.factories import make_title

pytestmark = pytest.mark.django_db

EXPORT = reverse("ratings:history") + "?format=csv"
OTHER_ADDRESS = {"REMOTE_ADDR": "203.0.113.9"}


@pytest.fixture
def rated_member(member):
    for number in range(3):
        Rating.objects.create(user=member, title=make_title(primary_title=f"Film {number}"), score=4)
    return member


def _logged_in(user, **defaults) -> Client:
    client = Client(**defaults)
    client.force_login(user)
    return client


def _downloaded(response) -> bytes:
    assert response.status_code == 200, response.status_code
    return b"".join(response.streaming_content)


def test_a_second_export_of_one_member_is_refused_while_the_first_is_sent(rated_member, user_factory):
    client = _logged_in(rated_member)
    first = client.get(EXPORT)
    assert first.status_code == 200 and in_flight_count(f"export:member:{rated_member.pk}") == 1

    refused = client.get(EXPORT, **OTHER_ADDRESS)  # another address: still the same member
    assert refused.status_code == 429 and int(refused["Retry-After"]) >= 1
    assert "One of your exports is still being prepared" in refused.content.decode()
    # Another member (on another address) exports meanwhile.
    other = user_factory()
    assert b"tconst" in _downloaded(_logged_in(other, REMOTE_ADDR="203.0.113.20").get(EXPORT))

    assert b"Film 0" in _downloaded(first)  # sent: its place is given back
    assert in_flight_count(f"export:member:{rated_member.pk}") == 0
    assert b"Film 0" in _downloaded(client.get(EXPORT))


def test_exports_site_wide_are_capped_with_a_clear_message(rated_member, user_factory, settings):
    settings.ACTION_MAX_IN_FLIGHT = {**settings.ACTION_MAX_IN_FLIGHT, "export": 1}
    first = _logged_in(rated_member).get(EXPORT)
    assert first.status_code == 200
    other = _logged_in(user_factory(), REMOTE_ADDR="203.0.113.21")
    refused = other.get(EXPORT)
    assert refused.status_code == 429
    assert "The site is busy with other exports just now" in refused.content.decode()
    assert other.get(reverse("ratings:history")).status_code == 200  # the page itself is not an export
    _downloaded(first)
    _downloaded(other.get(EXPORT))


def test_a_script_gets_the_message_as_short_text(rated_member):
    client = _logged_in(rated_member)
    first = client.get(EXPORT)
    refused = client.get(EXPORT, HTTP_X_REQUESTED_WITH="XMLHttpRequest")
    assert refused.status_code == 429 and refused["Content-Type"].startswith("text/plain")
    assert refused.content.decode().startswith("One of your exports")
    _downloaded(first)


def test_an_import_while_another_of_the_member_is_read_is_refused_before_its_body(rated_member):
    """Two uploads at once from one member: the second is refused before the CSRF check would
    parse its body (no CSRF token here: it would be a 403 otherwise)."""
    held = _logged_in(rated_member).get(EXPORT)  # another action: does not count
    assert held.status_code == 200
    slots, _ = slots_acquire({f"import:member:{rated_member.pk}": 1})  # an upload of theirs being read
    try:
        client = Client(enforce_csrf_checks=True)
        client.force_login(rated_member)
        refused = client.post(reverse("ratings:import"), {"file": "x"})
        assert refused.status_code == 429
        assert "One of your imports is still being prepared" in refused.content.decode()
    finally:
        slots.release()
    _downloaded(held)


def test_one_address_gets_its_turn_or_a_429_after_waiting(rated_member, user_factory, settings):
    settings.CLIENT_MAX_IN_FLIGHT = 1
    settings.CLIENT_WAIT_SECONDS = 0.3
    first = _logged_in(rated_member).get(EXPORT)  # one request of 127.0.0.1 in flight
    started = time.monotonic()
    refused = Client().get(reverse("catalog:title_list"))
    waited = time.monotonic() - started
    assert refused.status_code == 429 and waited >= 0.3
    assert "Too many requests at once from your address" in refused.content.decode()
    assert Client().get(reverse("catalog:title_list"), **OTHER_ADDRESS).status_code == 200
    _downloaded(first)
    assert Client().get(reverse("catalog:title_list")).status_code == 200


def test_a_waiting_request_is_served_when_the_place_frees(rated_member, settings):
    settings.CLIENT_MAX_IN_FLIGHT = 1
    settings.CLIENT_WAIT_SECONDS = 5
    slots, _ = slots_acquire({"address:127.0.0.1": 1})
    timer = threading.Timer(0.3, slots.release)
    timer.start()
    started = time.monotonic()
    assert Client().get(reverse("catalog:title_list")).status_code == 200
    assert 0.25 <= time.monotonic() - started < 5
    timer.join()


def test_an_address_that_keeps_its_places_full_is_paced(settings):
    """A request that had to wait keeps its place CLIENT_PACE_SECONDS after its answer; one that
    did not wait gives it back at once."""
    settings.CLIENT_MAX_IN_FLIGHT = 1
    settings.CLIENT_WAIT_SECONDS = 5
    settings.CLIENT_PACE_SECONDS = 0.5
    address = "address:127.0.0.1"
    assert Client().get(reverse("catalog:title_list")).status_code == 200
    assert in_flight_count(address) == 0  # within its limit: not paced

    slots, _ = slots_acquire({address: 1})
    timer = threading.Timer(0.2, slots.release)
    timer.start()
    assert Client().get(reverse("catalog:title_list")).status_code == 200  # waited for its turn
    answered = time.monotonic()
    timer.join()
    assert in_flight_count(address) == 1  # its place is still taken...
    started = time.monotonic()
    assert Client().get(reverse("catalog:title_list")).status_code == 200  # ...so the next one waits
    assert time.monotonic() - started >= 0.5 - (started - answered) - 0.05
    time.sleep(0.6)
    assert in_flight_count(address) == 0  # and then it expires by itself


def test_no_request_waits_when_the_process_has_no_thread_to_spare(settings):
    settings.CLIENT_MAX_IN_FLIGHT = 1
    settings.CLIENT_WAIT_SECONDS = 5
    settings.CLIENT_MAX_WAITING = 0
    slots, _ = slots_acquire({"address:127.0.0.1": 1})
    try:
        started = time.monotonic()
        assert Client().get(reverse("catalog:title_list")).status_code == 429
        assert time.monotonic() - started < 2
    finally:
        slots.release()


def test_a_refused_request_costs_no_database_query(rated_member, settings):
    settings.RATE_LIMITS = {**settings.RATE_LIMITS, "export": {"ip": "1/h", "user": "10/h"}}
    client = _logged_in(rated_member)
    _downloaded(client.get(EXPORT))
    with CaptureQueriesContext(connection) as queries:
        refused = client.get(EXPORT)
    assert refused.status_code == 429 and "Too many exports" in refused.content.decode()
    assert len(queries) == 0, [query["sql"] for query in queries]


def test_the_limits_are_off_when_the_cache_is_down(rated_member, settings):
    """Fail open, as the rate limits: with Redis unreachable every request is served."""
    settings.CACHES = {
        **settings.CACHES,
        "default": {**settings.CACHES["default"], "LOCATION": "redis://127.0.0.1:1/0"},
    }
    client = _logged_in(rated_member)
    held = [client.get(EXPORT) for _ in range(3)]
    assert [response.status_code for response in held] == [200, 200, 200]
    for response in held:
        _downloaded(response)
