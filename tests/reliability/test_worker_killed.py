"""A Celery worker killed (SIGKILL) in the middle of an import: the run is retried to success or
ends failed with a message; no half-written rows are ever served; the previous data keeps serving;
a second attempt succeeds. Two imports requested at once: one runs, the other is refused.

The import is the real one (the 350,000-line IMDb slice in ../shared/data) on a private Postgres,
run by a real worker on a private Redis, watched through a real gunicorn.
"""

from __future__ import annotations

import re
import threading
import time

import pytest

from tests.helpers import wait_for
from tests.reliability.conftest import STAFF
from tests.reliability.http import Browser, page_messages

pytestmark = [pytest.mark.reliability, pytest.mark.shared_data, pytest.mark.celery_worker]

TABLES = {
    "name.basics": "catalog_person",
    "title.basics": "catalog_title",
    "title.akas": "catalog_titleaka",
    "title.crew": "catalog_crew",
    "title.episode": "catalog_episode",
    "title.principals": "catalog_principal",
    "title.ratings": "catalog_titlerating",
}


class Watch:
    """Reads the private database directly, and keeps asking gunicorn for a title page meanwhile."""

    def __init__(self, postgres, database_url, server):
        self.postgres, self.database = postgres, database_url.rsplit("/", 1)[1]
        self.server = server
        self.failures: list[str] = []
        self.stop = threading.Event()

    def sql(self, query: str) -> str:
        return self.postgres.psql(query, database=self.database)

    def run(self, run_id: int) -> dict:
        status, current, rows_done, error = (
            self.sql(
                f"SELECT status, current_file, rows_done, replace(error, E'\\n', ' ') FROM catalog_importrun WHERE id = {run_id}"
            ).split("|")
            + ["", "", "", ""]
        )[:4]
        # current_file is "title.akas" or "title.akas: <phase>"
        return {
            "status": status,
            "current": current.split(":")[0].strip(),
            "rows_done": int(rows_done or 0),
            "error": error,
        }

    def counts(self) -> dict:
        return {name: int(self.sql(f"SELECT count(*) FROM {table}")) for name, table in TABLES.items()}

    def serve(self, path: str, expected: str):
        """In a thread: the title page keeps answering 200 with its content during the import and the kill."""
        browser = Browser(self.server.url, timeout=30)

        def loop():
            while not self.stop.is_set():
                response = browser.get(path)
                if response.status != 200 or expected not in response.body:
                    self.failures.append(f"{response.status} after {response.seconds:.1f} s")
                time.sleep(0.2)

        thread = threading.Thread(target=loop, daemon=True)
        thread.start()
        return thread


@pytest.fixture
def import_site(private_postgres, private_database, private_redis, site_factory, shared_data):
    site = site_factory(private_database, private_redis.url(0))
    site.create_users()
    server = site.gunicorn(workers=2, threads=2)
    staff = Browser(server.url, timeout=30)
    staff.login(*STAFF)
    watch = Watch(private_postgres, private_database, server)
    tconst, name = watch.sql(
        "SELECT tconst || '|' || primary_title FROM catalog_title ORDER BY num_votes DESC LIMIT 1"
    ).split("|", 1)
    yield {
        "site": site,
        "staff": staff,
        "watch": watch,
        "source": str(shared_data / "imdb-sample"),
        "tconst": tconst,
        "name": name,
    }
    watch.stop.set()


def _start_import(staff: Browser, source: str, watch: Watch) -> tuple[int, list[str]]:
    response = staff.post("/system/catalog/import/", {"source": "directory", "directory": source})
    assert response.status == 302
    shown = page_messages(staff.get(response.location).body)
    run_id = int(watch.sql("SELECT max(id) FROM catalog_importrun"))
    return run_id, shown


def _mid_file(watch: Watch, run_id: int):
    """Wait until a file is being loaded and some of its lines were read (a transaction is open)."""

    def loading():
        state = watch.run(run_id)
        return state if state["status"] == "running" and state["current"] in TABLES and state["rows_done"] > 0 else None

    return wait_for(loading, timeout=120, interval=0.05, what="import in the middle of a file")


def test_worker_killed_mid_import_the_message_is_redelivered_and_the_run_succeeds(import_site):
    site, staff, watch = import_site["site"], import_site["staff"], import_site["watch"]
    worker = site.worker(queues="default")
    server_thread = watch.serve(f"/titles/{import_site['tconst']}/", import_site["name"])
    run_id, shown = _start_import(staff, import_site["source"], watch)
    assert any(f"Import #{run_id} queued" in message for message in shown), shown

    state = _mid_file(watch, run_id)
    killed = worker.kill_pool_child()  # the pool process doing the work dies; the worker's main process sees it

    # acks_late + reject_on_worker_lost: the message goes back to the queue, the new pool process
    # takes it, the run starts again (files already loaded are reloaded as no-op upserts).
    wait_for(
        lambda: watch.run(run_id)["status"] in ("succeeded", "partial", "failed"),
        timeout=300,
        what="the import finishing after the kill",
    )
    watch.stop.set()
    server_thread.join(30)
    final = watch.run(run_id)
    assert final["status"] == "succeeded", final
    log = worker.log_text()
    assert re.search(r"signal 9|SIGKILL|WorkerLostError", log), "the kill was not seen by the worker"
    assert len(re.findall(r"Task catalog\.tasks\.import_run_execute_task\[[^\]]+\] received", log)) >= 2
    assert not watch.failures, f"the title page failed during the import/kill: {watch.failures[:5]}"
    counts = watch.counts()
    assert counts["title.basics"] >= 50_000 and counts["name.basics"] >= 50_000, counts
    print(
        f"killed pool process {killed} while loading {state['current']} ({state['rows_done']:,} lines read); "
        f"redelivered and finished: {final['status']}"
    )


def test_whole_worker_killed_mid_import_no_half_file_and_a_second_attempt_succeeds(import_site):
    site, staff, watch = import_site["site"], import_site["staff"], import_site["watch"]
    before = watch.counts()
    worker = site.worker(queues="default")
    server_thread = watch.serve(f"/titles/{import_site['tconst']}/", import_site["name"])
    run_id, _shown = _start_import(staff, import_site["source"], watch)
    _mid_file(watch, run_id)
    time.sleep(0.3)
    current = watch.run(run_id)["current"]
    worker.kill_all()  # main process and pool: nobody is left to acknowledge or requeue

    after_kill = watch.counts()

    # A second attempt: the orphaned run is recognised (its lock died with the worker) and marked
    # failed with a message, and the new import is accepted and succeeds.
    run_again, shown = _start_import(staff, import_site["source"], watch)
    assert run_again == run_id + 1 and any(f"Import #{run_again} queued" in message for message in shown), shown
    orphan = watch.run(run_id)
    assert orphan["status"] == "failed" and "killed or crashed" in orphan["error"], orphan
    site.worker(queues="default")
    wait_for(
        lambda: watch.run(run_again)["status"] in ("succeeded", "partial", "failed"),
        timeout=300,
        what="second attempt finishing",
    )
    watch.stop.set()
    server_thread.join(30)
    assert watch.run(run_again)["status"] == "succeeded", watch.run(run_again)
    assert not watch.failures, f"the title page failed: {watch.failures[:5]}"
    # Each file is one transaction: after the kill every table held either its rows from before the
    # import or the whole new file, never part of one. Some file was being loaded, so at least one
    # table was still as before.
    complete = watch.counts()
    for name in TABLES:
        assert after_kill[name] in (before[name], complete[name]), (
            name,
            before[name],
            after_kill[name],
            complete[name],
        )
    untouched = [name for name in TABLES if after_kill[name] == before[name] != complete[name]]
    assert untouched, ("the kill came after the import had finished", before, after_kill, complete)
    print(f"killed the worker while loading {current}; untouched: {', '.join(untouched)}; second attempt succeeded")


def test_two_imports_at_once_one_runs_the_other_is_refused(import_site):
    site, staff, watch = import_site["site"], import_site["staff"], import_site["watch"]
    site.worker(queues="default")
    other = Browser(staff.base_url, timeout=30)
    other.login(*STAFF)
    results: dict[str, list[str]] = {}

    def start(name: str, browser: Browser):
        response = browser.post("/system/catalog/import/", {"source": "directory", "directory": import_site["source"]})
        results[name] = page_messages(browser.get(response.location).body)

    threads = [threading.Thread(target=start, args=(name, browser)) for name, browser in (("a", staff), ("b", other))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    messages = results["a"] + results["b"]
    queued = [message for message in messages if re.search(r"Import #\d+ queued", message)]
    refused = [
        message for message in messages if "Import not started" in message and "start another when it" in message
    ]
    assert len(queued) == 1 and len(refused) == 1, messages
    # And while it runs, a third request is refused too, naming the run.
    run_id = int(re.search(r"#(\d+)", queued[0])[1])
    _mid_file(watch, run_id)
    _run, shown = _start_import(staff, import_site["source"], watch)
    assert any(f"import #{run_id} is running" in message for message in shown), shown
    wait_for(lambda: watch.run(run_id)["status"] == "succeeded", timeout=300, what="the one import finishing")
    assert watch.sql("SELECT count(*) FROM catalog_importrun WHERE status IN ('queued', 'running')") == "0"
