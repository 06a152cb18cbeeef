"""Postgres restarted while the site serves: requests fail cleanly (the 500 page, never a
traceback or a hung request) and the site recovers by itself when the database is back, without
restarting gunicorn. Nothing acknowledged before the outage is lost.

A private Postgres cluster is restarted, never the shared one.
"""

from __future__ import annotations

import threading
import time

import pytest

from tests.helpers import wait_for
from tests.reliability.conftest import MEMBER, STAFF
from tests.reliability.http import Browser

pytestmark = pytest.mark.reliability

ERROR_PAGE = "500 — something went wrong on our side"


def _assert_clean_500(response, what: str):
    assert response.status == 500, f"{what}: {response.status}"
    assert ERROR_PAGE in response.body, f"{what}: not the 500 page"
    assert "Traceback" not in response.body and "OperationalError" not in response.body, what


def test_pages_fail_cleanly_and_recover_when_postgres_restarts(
    private_postgres, private_database, private_redis, site_factory
):
    site = site_factory(private_database, private_redis.url(0))
    site.create_users()
    tconsts = private_postgres.psql(
        "SELECT tconst FROM catalog_title ORDER BY num_votes DESC LIMIT 3", database=private_database.rsplit("/", 1)[1]
    ).split()
    server = site.gunicorn(workers=2, threads=2)
    member = Browser(server.url, timeout=20)
    member.login(*MEMBER)
    pages = ["/", "/titles/", f"/titles/{tconsts[0]}/", "/search/?q=the", "/me/ratings/", "/recommendations/"]
    for path in pages:
        assert member.get(path).status == 200, path
    assert member.post(f"/titles/{tconsts[0]}/rate/", {"score": "4"}).status == 302  # acknowledged before

    private_postgres.stop("fast")
    for path in pages:
        response = member.get(path)
        _assert_clean_500(response, path)
        assert response.seconds < 8, f"{path} took {response.seconds:.1f} s with the database down"
    response = member.post(f"/titles/{tconsts[1]}/rate/", {"score": "2"})
    _assert_clean_500(response, "rating while down")
    # /health/ answers from a report refreshed in the background every few seconds.
    wait_for(lambda: member.get("/health/").status == 503, timeout=15, what="/health/ saying 503")
    assert member.get("/health/").body.strip() == '{"status": "unavailable"}'  # the details are for staff

    private_postgres.start()
    # No gunicorn restart: the next requests reconnect (CONN_HEALTH_CHECKS drops dead connections).
    wait_for(lambda: member.get("/").status == 200, timeout=15, what="site answering again")
    for path in pages:
        assert member.get(path).status == 200, path  # the session (in Postgres) survived too
    assert member.post(f"/titles/{tconsts[2]}/rate/", {"score": "5"}).status == 302
    rows = private_postgres.psql(
        "SELECT r.title_id || ':' || r.score FROM ratings_rating r JOIN accounts_user u ON u.id = r.user_id "
        f"WHERE u.username = '{MEMBER[0]}' ORDER BY r.title_id",
        database=private_database.rsplit("/", 1)[1],
    ).split()
    # Acknowledged before and after: there. Refused during the outage: absent (the user saw the error).
    assert sorted(rows) == sorted([f"{tconsts[0]}:4", f"{tconsts[2]}:5"])


def test_requests_during_a_restart_under_load_fail_cleanly_then_all_succeed(
    private_postgres, private_database, private_redis, site_factory
):
    # Six visitors from one address, back to back: the rate limits (search: 60/m per address) would
    # answer 429, which this test is not about; the load benchmarks turn them off the same way.
    site = site_factory(private_database, private_redis.url(0), RATELIMIT_ENABLE="false")
    server = site.gunicorn(workers=2, threads=4)
    statuses: list[tuple[float, int, bool]] = []
    stop = threading.Event()

    def visitor(number: int):
        browser = Browser(server.url, timeout=20)
        paths = ["/", "/titles/", "/search/?q=love", "/titles/?sort=-votes"]
        index = number
        while not stop.is_set():
            response = browser.get(paths[index % len(paths)])
            index += 1
            clean = response.status == 200 or (response.status == 500 and ERROR_PAGE in response.body)
            statuses.append((time.monotonic(), response.status, clean))

    threads = [threading.Thread(target=visitor, args=(n,)) for n in range(6)]
    for thread in threads:
        thread.start()
    time.sleep(2)
    restarted_at = time.monotonic()
    private_postgres.restart(down_seconds=2)
    back_at = time.monotonic()
    time.sleep(4)
    stop.set()
    for thread in threads:
        thread.join(30)

    assert all(clean for _at, _status, clean in statuses), "a response was neither a page nor the clean 500 page"
    during = [status for at, status, _clean in statuses if restarted_at <= at <= back_at]
    after = [status for at, status, _clean in statuses if at > back_at + 2]
    assert 500 in during, "the outage was not observed (test did not test anything)"
    assert after and set(after) == {200}, f"not recovered: {after[-20:]}"


def _run_state(postgres, database: str, run_id: int) -> str:
    try:
        return postgres.psql(f"SELECT status FROM catalog_importrun WHERE id = {run_id}", database=database)
    except RuntimeError:  # the database is down right now
        return ""


def test_a_task_retries_while_postgres_is_down(private_postgres, private_database, private_redis, site_factory):
    database = private_database.rsplit("/", 1)[1]
    site = site_factory(private_database, private_redis.url(0))
    site.create_users()
    server = site.gunicorn(workers=1, threads=2)
    staff = Browser(server.url, timeout=30)
    staff.login(*STAFF)
    assert staff.post("/system/catalog/import/", {"source": "sample"}).status == 302
    run_id = int(private_postgres.psql("SELECT max(id) FROM catalog_importrun", database=database))

    private_postgres.stop("fast")
    worker = site.worker(queues="default")  # takes the task; its first query fails
    wait_for(lambda: "Retry in" in worker.log_text(), timeout=60, what="the task scheduling a retry")
    time.sleep(3)
    private_postgres.start()
    wait_for(
        lambda: _run_state(private_postgres, database, run_id) == "succeeded",
        timeout=180,
        what="the retried import succeeding",
    )
    retries = worker.log_text().count("Retry in")
    print(f"import task retried {retries} time(s) while Postgres was down, then succeeded")


@pytest.mark.shared_data
def test_postgres_restarted_in_the_middle_of_an_import(
    private_postgres, private_database, private_redis, site_factory, shared_data
):
    database = private_database.rsplit("/", 1)[1]
    site = site_factory(private_database, private_redis.url(0))
    site.create_users()
    server = site.gunicorn(workers=1, threads=2)
    worker = site.worker(queues="default")
    staff = Browser(server.url, timeout=30)
    staff.login(*STAFF)
    assert (
        staff.post(
            "/system/catalog/import/", {"source": "directory", "directory": str(shared_data / "imdb-sample")}
        ).status
        == 302
    )
    run_id = int(private_postgres.psql("SELECT max(id) FROM catalog_importrun", database=database))

    def mid_file():
        row = private_postgres.psql(
            f"SELECT status, rows_done FROM catalog_importrun WHERE id = {run_id}", database=database
        ).split("|")
        return row[0] == "running" and int(row[1]) > 0

    wait_for(mid_file, timeout=120, interval=0.05, what="import running")
    private_postgres.restart(down_seconds=2)  # fast shutdown: the import's connections are terminated
    wait_for(
        lambda: _run_state(private_postgres, database, run_id) in ("succeeded", "partial", "failed"),
        timeout=300,
        what="the import finishing after the restart",
    )
    status, error = private_postgres.psql(
        f"SELECT status, error FROM catalog_importrun WHERE id = {run_id}", database=database
    ).split("|", 1)
    assert status == "succeeded", (status, error)
    assert "Retry in" in worker.log_text(), "the outage did not make the task retry"
    assert int(private_postgres.psql("SELECT count(*) FROM catalog_title", database=database)) >= 50_000
    print(f"Postgres restarted mid-import: task retried, run {status}")
