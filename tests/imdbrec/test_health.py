import time

import pytest
from django.core.cache import cache
from django.urls import reverse

from imdbrec import health
from imdbrec.health import health_snapshot_forget
from tests.helpers import wait_for

TOKEN = "monitoring-token-for-tests-0123456789"


@pytest.fixture
def fresh_health(settings):
    """No report left from another test; the report for monitoring is behind ``TOKEN``."""
    settings.HEALTH_TOKEN = TOKEN
    health_snapshot_forget()
    yield
    health_snapshot_forget()


def _report(client):
    return client.get("/health/", HTTP_AUTHORIZATION=f"Bearer {TOKEN}")


@pytest.mark.celery_worker
def test_health_is_200_when_everything_is_up(client, celery_worker_process, fresh_health):
    response = _report(client)
    body = response.json()
    assert response.status_code == 200, body
    assert body["ok"] is True
    assert body["components"]["database"]["ok"]
    assert body["components"]["redis"]["ok"]
    assert "spark" in body["components"]["celery"]["queues"]
    assert body["components"]["spark"]["pyspark"] is True
    assert client.get("/health/").json() == {"status": "ok"}


def test_health_names_redis_and_celery_when_the_broker_is_wrong(client, db, settings, fresh_health):
    settings.CELERY_BROKER_URL = "redis://127.0.0.1:1/0"
    # The first report of a process may still be "not checked yet" when the machine is slow.
    wait_for(lambda: "components" in _report(client).json(), timeout=30, what="the first report")
    response = _report(client)
    assert response.status_code == 503
    body = response.json()
    assert "redis" in body["failing"] and "celery" in body["failing"]
    assert "database" not in body["failing"]
    assert "Connection" in body["components"]["redis"]["error"]


def test_public_health_says_only_ok_or_unavailable(client, db, settings, fresh_health):
    """Without the token (or with a wrong one) nobody learns versions, host names or URLs."""
    for headers in ({}, {"HTTP_AUTHORIZATION": "Bearer wrong"}, {"HTTP_AUTHORIZATION": TOKEN}):
        response = client.get("/health/", **headers)
        assert response.json() in ({"status": "ok"}, {"status": "unavailable"}), response.content
        assert response.status_code == (200 if response.json()["status"] == "ok" else 503)
        assert b"PostgreSQL" not in response.content and b"redis://" not in response.content
    settings.HEALTH_TOKEN = ""  # no token configured: no report for anyone
    assert set(client.get("/health/", HTTP_AUTHORIZATION="Bearer ").json()) == {"status"}


def test_requests_answer_from_the_report_without_running_the_checks(client, db, settings, fresh_health):
    """With no worker, one run of the checks takes over a second (Celery inspect waits 1 s for
    replies); 20 requests in the report's lifetime take a fraction of that and see one report."""
    settings.HEALTH_FRESH_SECONDS = 60
    wait_for(lambda: "components" in _report(client).json(), timeout=30, what="the first report")
    first = _report(client).json()
    # Twenty requests all see the one report: none of them ran the checks (which cost a second
    # each, a Celery inspect waiting for replies).
    checked = {_report(client).json()["checked_at"] for _ in range(20)}
    assert checked == {first["checked_at"]}
    assert first["components"]["celery"]["ms"] >= 1000  # what each request used to cost


def test_a_stale_report_is_refreshed_in_the_background(client, db, settings, fresh_health):
    settings.HEALTH_FRESH_SECONDS = 0.2
    wait_for(lambda: "components" in _report(client).json(), timeout=30, what="the first report")
    old = _report(client).json()
    assert old["components"]["redis"]["ok"]
    settings.CELERY_BROKER_URL = "redis://127.0.0.1:1/0"  # Redis "goes away" for the checks
    answer = _report(client).json()  # stale: answered from a report made before, a refresh starts
    assert answer["components"]["redis"]["ok"]
    wait_for(lambda: _report(client).status_code == 503, timeout=10, what="the refreshed report")
    assert client.get("/health/").json() == {"status": "unavailable"}


def test_only_the_lock_holder_refreshes(client, db, settings, fresh_health):
    """While another process holds the refresh lock, a stale report is served as it is."""
    settings.HEALTH_FRESH_SECONDS = 0.2
    checked_at = _report(client).json()["checked_at"]
    assert cache.add(health.LOCK_KEY, "another process", timeout=30)
    try:
        time.sleep(0.3)
        for _ in range(5):
            assert _report(client).json()["checked_at"] == checked_at
            time.sleep(0.1)
    finally:
        cache.delete(health.LOCK_KEY)
    wait_for(lambda: _report(client).json()["checked_at"] > checked_at, timeout=10, what="a refresh")


def test_system_page_shows_the_details(client, staff_user, settings, fresh_health):
    client.force_login(staff_user)
    url = reverse("system:index")
    # The page answers at once from whatever report there is: none yet ("Checked not yet": a slow
    # CI machine can take longer than the few seconds a page waits for the first checks), or one a
    # refresher left from an earlier test; a stale one is refreshed in the background.
    settings.HEALTH_FRESH_SECONDS = 0.5
    assert client.get(url).status_code == 200
    wait_for(lambda: b"PostgreSQL" in client.get(url).content, timeout=60, what="a report with the details")
    response = client.get(url)
    assert b"Checked" in response.content and b"s ago" in response.content


def test_system_page_is_staff_only(client, user_factory, staff_user):
    url = reverse("system:index")
    assert client.get(url).status_code == 302  # anonymous: to the login page
    user = user_factory()
    client.force_login(user)
    assert client.get(url).status_code == 403
    client.force_login(staff_user)
    response = client.get(url)
    assert response.status_code == 200
    assert b"Health" in response.content


def test_unknown_page_renders_the_404_template(client, db):
    response = client.get("/no/such/page/")
    assert response.status_code == 404
    assert b"nothing here" in response.content
