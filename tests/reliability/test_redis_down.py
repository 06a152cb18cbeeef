"""Redis unavailable: pages that do not need it keep working; actions that queue work say at once
that the background system is unavailable (no hang, no 500, nothing half-recorded); nothing is
lost when Redis returns: work queued before the outage still runs, ratings made during it stay.

The light tests run in-process against a Redis address where nothing listens; the heavy one runs
gunicorn and a Celery worker against a private redis-server that it kills and restarts.
"""

from __future__ import annotations

import re
import subprocess
import time

import pytest
from django.contrib.messages import get_messages
from django.core.cache import cache
from django.test import Client, override_settings

from imdbrec.queueing import BACKGROUND_UNAVAILABLE, BackgroundUnavailable, broker_ping, enqueue
from ratings.models import Rating
from tests.factories import make_title
from tests.helpers import wait_for
from tests.reliability.conftest import MEMBER, STAFF
from tests.reliability.http import Browser, page_messages
from tests.reliability.procs import free_port

DEAD = f"redis://127.0.0.1:{free_port(8790)}/0"  # a port in our range where nothing listens


@pytest.fixture
def redis_gone(settings):
    """Cache, broker and result backend all pointed at a Redis that is not there."""
    with override_settings(
        CACHES={
            "default": {
                "BACKEND": "imdbrec.cache.ResilientRedisCache",
                "LOCATION": DEAD,
                "OPTIONS": {"socket_connect_timeout": 1, "socket_timeout": 1},
            }
        },
        CELERY_BROKER_URL=DEAD,
        CELERY_RESULT_BACKEND=DEAD,
    ):
        yield


def test_the_cache_degrades_to_a_miss(redis_gone):
    started = time.monotonic()
    assert cache.get("anything", "fallback") == "fallback"
    cache.set("key", "value")  # dropped, no error
    assert cache.get_many(["a", "b"]) == {} and cache.delete("key") is False and cache.add("k", 1) is False
    with pytest.raises(ValueError):
        cache.incr("counter")
    assert time.monotonic() - started < 3


def test_pages_work_without_redis(redis_gone, user_factory, staff_user):
    title = make_title("tt0970001", primary_title="Served Without Redis", average_rating=8.0, num_votes=5000)
    member = Client()
    member.force_login(user_factory(username="no_redis_member", favourite_genres=["Drama"]))
    for path in (
        "/",
        "/titles/",
        f"/titles/{title.tconst}/",
        "/search/?q=served",
        "/me/ratings/",
        "/me/stats/",
        "/recommendations/",
        "/onboarding/",
        "/communities/",
        "/accounts/profile/",
    ):
        started = time.monotonic()
        response = member.get(path)
        assert response.status_code == 200, path
        assert time.monotonic() - started < 5, path
    assert member.post(f"/titles/{title.tconst}/rate/", {"score": "4"}).status_code == 302
    assert Rating.objects.filter(title=title, score=4).exists()
    staff = Client()
    staff.force_login(staff_user)
    response = staff.get("/system/")
    assert response.status_code == 200  # the system page reports Redis down instead of failing


def test_enqueue_fails_fast_with_a_clear_message(redis_gone):
    from catalog.tasks import import_run_execute_task

    started = time.monotonic()
    with pytest.raises(BackgroundUnavailable) as raised:
        broker_ping()
    with pytest.raises(BackgroundUnavailable):
        enqueue(import_run_execute_task, 1)
    assert time.monotonic() - started < 5
    assert str(raised.value) == BACKGROUND_UNAVAILABLE
    assert "unavailable" in str(raised.value) and "try again" in str(raised.value).lower()


STAFF_ACTIONS = {
    # path: form data that would start background work
    "/system/catalog/import/": {"source": "sample"},
    "/system/ratings/synthetic/generate/": {"users": "3", "seed": "1"},
    "/system/ratings/synthetic/remove/": {},
    "/system/recommender/train/": {"rank": "8"},
}


def _staff_actions() -> dict:
    from django.urls import Resolver404, resolve

    actions = {}
    for path, data in STAFF_ACTIONS.items():
        try:
            resolve(path)
        except Resolver404:
            continue
        actions[path] = data
    return actions


def test_staff_actions_say_the_background_system_is_unavailable(redis_gone, staff_user):
    from catalog.models import ImportRun

    client = Client()
    client.force_login(staff_user)
    assert _staff_actions(), "no action to try"
    for path, data in _staff_actions().items():
        started = time.monotonic()
        response = client.post(path, data)
        elapsed = time.monotonic() - started
        assert response.status_code == 302, path
        assert elapsed < 5, f"{path} took {elapsed:.1f} s"
        text = " ".join(str(message) for message in get_messages(response.wsgi_request))
        assert "background system is unavailable" in text, (path, text)
    # Nothing half-recorded: no import run waits for a message that was never sent.
    assert not ImportRun.objects.filter(status__in=[ImportRun.Status.QUEUED, ImportRun.Status.RUNNING]).exists()


@pytest.mark.reliability
def test_redis_killed_and_restarted_under_a_real_server(
    private_postgres, private_database, private_redis, site_factory
):
    database = private_database.rsplit("/", 1)[1]
    site = site_factory(private_database, private_redis.url(0))
    site.create_users()
    server = site.gunicorn(workers=2, threads=2)
    staff, member = Browser(server.url, timeout=30), Browser(server.url, timeout=30)
    staff.login(*STAFF)
    member.login(*MEMBER)
    tconsts = private_postgres.psql(
        "SELECT tconst FROM catalog_title ORDER BY num_votes DESC LIMIT 3", database=database
    ).split()

    # Queued while Redis is up, no worker yet: the message must survive Redis going away.
    response = staff.post("/system/catalog/import/", {"source": "sample"})
    assert response.status == 302
    queued_before = int(private_postgres.psql("SELECT max(id) FROM catalog_importrun", database=database))

    private_redis.kill()
    pages = [
        "/",
        "/titles/",
        f"/titles/{tconsts[0]}/",
        "/search/?q=the",
        "/me/ratings/",
        "/recommendations/",
        "/onboarding/",
    ]
    for path in pages:
        response = member.get(path)
        assert response.status == 200, path
        assert response.seconds < 5, f"{path}: {response.seconds:.1f} s"
    assert member.post(f"/titles/{tconsts[1]}/rate/", {"score": "3"}).status == 302
    response = staff.get("/system/")
    assert response.status == 200 and response.seconds < 10

    for path, data in STAFF_ACTIONS.items():
        response = staff.post(path, data)
        assert response.status == 302, (path, response.status)
        assert response.seconds < 5, f"{path} took {response.seconds:.1f} s with Redis down"
        shown = page_messages(staff.get(response.location).body)
        assert any("background system is unavailable" in message for message in shown), (path, shown)
    states = private_postgres.psql(
        f"SELECT id || ':' || status FROM catalog_importrun WHERE id >= {queued_before} ORDER BY id", database=database
    )
    assert states.split() == [f"{queued_before}:queued"], f"only the run queued before the outage waits: {states}"

    private_redis.start()  # same directory: the append-only file brings the queue back
    queued = subprocess.run(
        ["redis-cli", "-p", str(private_redis.port), "LLEN", "default"], capture_output=True, text=True
    ).stdout.strip()
    assert queued == "1", f"the queued import's message did not survive the Redis restart (LLEN default = {queued})"
    worker = site.worker(queues="default")
    wait_for(
        lambda: (
            private_postgres.psql(f"SELECT status FROM catalog_importrun WHERE id = {queued_before}", database=database)
            == "succeeded"
        ),
        timeout=120,
        what="queued import ran",
    )
    # And new work is accepted again.
    response = staff.post("/system/ratings/synthetic/generate/", {"users": "2", "seed": "5"})
    shown = page_messages(staff.get(response.location).body)
    assert not any("unavailable" in message for message in shown), shown
    assert member.post(f"/titles/{tconsts[2]}/rate/", {"score": "5"}).status == 302
    rows = private_postgres.psql(
        "SELECT r.title_id || ':' || r.score FROM ratings_rating r JOIN accounts_user u ON u.id = r.user_id "
        f"WHERE u.username = '{MEMBER[0]}'",
        database=database,
    ).split()
    assert sorted(rows) == sorted([f"{tconsts[1]}:3", f"{tconsts[2]}:5"])
    wait_for(
        lambda: re.search(r"synthetic_users_generate_task\[[^\]]+\] succeeded", worker.log_text()),
        timeout=120,
        what="synthetic users generated",
    )
