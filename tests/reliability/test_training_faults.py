"""A Celery worker killed (SIGKILL) in the middle of a training, and two trainings requested at once.

The previous model keeps serving the whole time: the new run's rows are written in the same
transaction that switches the active run, so a kill anywhere before that commit leaves none of
them behind. The killed run is redelivered and trained to success, or (whole worker killed) is
recognised as orphaned and the next attempt succeeds. The Spark job dies with its worker.

Real everything: a private Postgres holding the sample catalog, 500 synthetic users and a trained
run; a private Redis; gunicorn; a Celery worker of the spark queue running the Spark job.
"""

from __future__ import annotations

import os
import re
import threading
import time
from pathlib import Path

import pytest

from tests.helpers import wait_for
from tests.reliability.conftest import MEMBER, STAFF
from tests.reliability.http import Browser, page_messages

pytestmark = [pytest.mark.reliability, pytest.mark.spark, pytest.mark.celery_worker]

TRAIN = {"rank": "8", "iterations": "5"}


class Models:
    def __init__(self, postgres, database_url):
        self.postgres, self.database = postgres, database_url.rsplit("/", 1)[1]

    def sql(self, query: str) -> str:
        return self.postgres.psql(query, database=self.database)

    def run(self, run_id: int) -> dict:
        status, phase, error = (
            self.sql(
                f"SELECT status, phase, replace(error, E'\\n', ' ') FROM recommender_modelrun WHERE id = {run_id}"
            ).split("|", 2)
            + ["", "", ""]
        )[:3]
        return {"status": status, "phase": phase, "error": error}

    def active(self) -> int:
        return int(self.sql("SELECT id FROM recommender_modelrun WHERE is_active") or 0)

    def rows_of(self, run_id: int) -> int:
        return int(
            self.sql(
                f"SELECT (SELECT count(*) FROM recommender_recommendation WHERE run_id = {run_id}) + "
                f"(SELECT count(*) FROM recommender_userfactor WHERE run_id = {run_id}) + "
                f"(SELECT count(*) FROM recommender_titlefactor WHERE run_id = {run_id})"
            )
        )

    def latest(self) -> int:
        return int(self.sql("SELECT max(id) FROM recommender_modelrun"))


def _spark_processes(exchange: Path) -> list[int]:
    """Processes (the job and its JVM) started for this test's exchange directory."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            environ = Path(f"/proc/{entry}/environ").read_bytes()
            cmdline = Path(f"/proc/{entry}/cmdline").read_bytes()
        except OSError:
            continue
        if str(exchange).encode() in environ and (b"train_als" in cmdline or b"java" in cmdline):
            found.append(int(entry))
    return found


@pytest.fixture
def training_site(private_postgres, trained_database, private_redis, site_factory):
    site = site_factory(trained_database, private_redis.url(0), SPARK_MASTER="local[1]")
    server = site.gunicorn(workers=2, threads=2)
    staff, member = Browser(server.url, timeout=60), Browser(server.url, timeout=60)
    staff.login(*STAFF)
    member.login(*MEMBER)
    models = Models(private_postgres, trained_database)
    assert models.active() == 1
    first_page = member.get("/recommendations/")
    assert first_page.status == 200
    serving = {"failures": [], "stop": threading.Event()}

    def keep_asking():
        browser = Browser(server.url, timeout=60)
        browser.login(*MEMBER)
        while not serving["stop"].is_set():
            response = browser.get("/recommendations/")
            if response.status != 200 or "/titles/tt" not in response.body:
                serving["failures"].append(f"{response.status} after {response.seconds:.1f} s")
            # Every 1.5 s: a member reloading often, within /recommendations/' per-member rate
            # limit (60/m, imdbrec/settings/base.py) — a 429 would be the limit, not a failure.
            time.sleep(1.5)

    thread = threading.Thread(target=keep_asking, daemon=True)
    thread.start()
    yield {
        "site": site,
        "staff": staff,
        "member": member,
        "models": models,
        "serving": serving,
        "exchange": Path(site.env["RECOMMENDER_EXCHANGE_DIR"]),
    }
    serving["stop"].set()
    thread.join(60)


def _train(staff: Browser) -> list[str]:
    response = staff.post("/system/recommender/train/", TRAIN)
    assert response.status == 302
    return page_messages(staff.get(response.location).body)


def _in_spark(models: Models, run_id: int):
    """Wait until the Spark job has started working (its JVM is up and reading or fitting)."""

    def working():
        state = models.run(run_id)
        return state if state["phase"].startswith("spark:") and state["phase"] != "spark: start" else None

    return wait_for(working, timeout=300, interval=0.2, what="the Spark job working")


def test_worker_killed_mid_training_and_two_trainings_at_once(training_site):
    site, staff, models = training_site["site"], training_site["staff"], training_site["models"]
    worker = site.worker(queues="spark")

    shown = _train(staff)
    run_id = models.latest()
    assert run_id == 2 and any(f"Training run #{run_id} queued" in message for message in shown), shown
    # A second request while the first is queued or running: refused, naming the run.
    shown = _train(staff)
    assert any(f"training run #{run_id} is" in message and "Training not started" in message for message in shown), (
        shown
    )
    assert models.latest() == run_id

    state = _in_spark(models, run_id)
    doomed = set(_spark_processes(training_site["exchange"]))
    assert doomed, "no Spark job process found to outlive its worker"
    worker.kill_pool_child()
    # Killed before the switch: the old run serves, the new run left no rows.
    assert models.active() == 1 and models.rows_of(run_id) == 0
    # The killed job's own processes end (the redelivered training soon starts others: not those).
    wait_for(
        lambda: not doomed & set(_spark_processes(training_site["exchange"])),
        timeout=60,
        what="the killed worker's Spark job ending",
    )

    # acks_late + reject_on_worker_lost: the message is redelivered and the run trained again.
    wait_for(
        lambda: models.run(run_id)["status"] in ("succeeded", "failed"),
        timeout=600,
        what="the redelivered training finishing",
    )
    assert models.run(run_id)["status"] == "succeeded", models.run(run_id)
    assert models.active() == run_id and models.rows_of(run_id) > 0
    assert len(re.findall(r"model_run_train_task\[[^\]]+\] received", worker.log_text())) >= 2
    assert not training_site["serving"]["failures"], training_site["serving"]["failures"][:5]
    print(f"killed the pool process during {state['phase']}; redelivered, run #{run_id} succeeded and switched")


def test_whole_worker_killed_mid_training_old_model_serves_and_the_next_attempt_succeeds(training_site):
    site, staff, models = training_site["site"], training_site["staff"], training_site["models"]
    worker = site.worker(queues="spark")
    _train(staff)
    run_id = models.latest()
    state = _in_spark(models, run_id)
    worker.kill_all()
    wait_for(
        lambda: not _spark_processes(training_site["exchange"]), timeout=60, what="the Spark job dying with its worker"
    )
    assert models.run(run_id)["status"] == "running"  # nobody left to say otherwise…
    assert models.active() == 1 and models.rows_of(run_id) == 0  # …but nothing of it is served
    assert training_site["member"].get("/recommendations/").status == 200

    # The next request recognises the orphan (its lock died with the worker) and starts a new run.
    shown = _train(staff)
    again = models.latest()
    assert again == run_id + 1 and any(f"Training run #{again} queued" in message for message in shown), shown
    orphan = models.run(run_id)
    assert orphan["status"] == "failed" and "killed or crashed" in orphan["error"], orphan
    site.worker(queues="spark")
    wait_for(
        lambda: models.run(again)["status"] in ("succeeded", "failed"), timeout=600, what="the second attempt finishing"
    )
    assert models.run(again)["status"] == "succeeded", models.run(again)
    assert models.active() == again
    assert not training_site["serving"]["failures"], training_site["serving"]["failures"][:5]
    print(f"killed the whole worker during {state['phase']}; run #{run_id} marked failed, run #{again} succeeded")
