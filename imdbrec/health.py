"""Reads the state of the services the site depends on, for /health/ and the staff system page.

Each check returns a dict with ``ok`` and details, never raises, and is bounded in time so a dead
service makes the page answer 503 quickly instead of hanging.

The checks cost about a second (a Celery inspect waits for the workers' replies), so no request
runs them: ``health_snapshot`` answers from the last report, which is at most
``HEALTH_FRESH_SECONDS`` old. The request that finds it stale starts one background thread that
runs the checks and shares the report through the cache; a cache lock (``cache.add``) lets one
process of all the site's processes refresh at a time, and a lock per process one thread. When
the cache itself is down the lock cannot be taken, so a process whose report is older than
``LOCAL_MAX_AGE_SECONDS`` refreshes on its own.
"""

import functools
import importlib.util
import logging
import os
import shutil
import subprocess
import threading
import time

import redis
from django.conf import settings
from django.core.cache import cache
from django.db import connection, connections

from imdbrec.celery import app as celery_app


def _timed(check):
    def wrapper():
        started = time.monotonic()
        try:
            result = check()
        except Exception as error:  # a health check reports failures, it does not raise them
            result = {"ok": False, "error": f"{type(error).__name__}: {error}"}
        result["ms"] = round((time.monotonic() - started) * 1000, 1)
        return result

    wrapper.__name__ = check.__name__
    return wrapper


@_timed
def database_health() -> dict:
    with connection.cursor() as cursor:
        cursor.execute("SELECT version()")
        version = cursor.fetchone()[0]
    return {"ok": True, "version": version.split(" on ")[0], "name": connection.settings_dict["NAME"]}


@_timed
def redis_health() -> dict:
    client = redis.Redis.from_url(settings.CELERY_BROKER_URL, socket_connect_timeout=1, socket_timeout=1)
    client.ping()
    return {"ok": True, "url": _redact(settings.CELERY_BROKER_URL)}


@_timed
def celery_health() -> dict:
    # Asking workers goes through the broker; do not wait on a broker that is down.
    redis.Redis.from_url(settings.CELERY_BROKER_URL, socket_connect_timeout=1, socket_timeout=1).ping()
    replies = celery_app.control.inspect(timeout=1.0).active_queues() or {}
    workers = {name: sorted(queue["name"] for queue in queues) for name, queues in replies.items()}
    queues = sorted({queue for names in workers.values() for queue in names})
    result = {"ok": bool(workers), "workers": workers, "queues": queues}
    if not workers:
        result["error"] = "no Celery worker answered (start one with `make worker`)"
    elif "spark" not in queues:
        result["warning"] = "no worker consumes the 'spark' queue; training will wait"
    return result


@_timed
def spark_health() -> dict:
    java = shutil.which("java") or (
        os.path.join(os.environ["JAVA_HOME"], "bin", "java") if os.environ.get("JAVA_HOME") else None
    )
    pyspark_found = importlib.util.find_spec("pyspark") is not None
    result = {
        "ok": bool(java) and pyspark_found,
        "java": java,
        "pyspark": pyspark_found,
        "master": settings.SPARK_MASTER,
    }
    if java:
        result["java_version"] = _java_version(java)
    if not result["ok"]:
        result["error"] = "Java not found" if not java else "pyspark is not installed"
    return result


CHECKS = {"database": database_health, "redis": redis_health, "celery": celery_health, "spark": spark_health}


def system_health() -> dict:
    components = {name: check() for name, check in CHECKS.items()}
    failing = [name for name, component in components.items() if not component["ok"]]
    return {"ok": not failing, "failing": failing, "components": components}


@functools.cache
def _java_version(java: str) -> str:
    # Starting a JVM costs 100+ ms and the answer does not change while the process lives.
    version = subprocess.run([java, "-version"], capture_output=True, text=True, timeout=10)
    output = version.stderr or version.stdout
    return output.splitlines()[0] if output else ""


# --- the cached report ------------------------------------------------------------------------------

logger = logging.getLogger(__name__)

HEALTH_FRESH_SECONDS = 5.0
LOCAL_MAX_AGE_SECONDS = 30.0
FIRST_REPORT_WAIT_SECONDS = 3.0
CACHE_KEY = "health:report:v1"
LOCK_KEY = "health:refresh-lock:v1"
LOCK_SECONDS = 30

_latest: dict = {}  # this process' last report, {"report": ..., "checked_at": epoch seconds}
_refreshing = threading.Lock()


def _fresh_seconds() -> float:
    return float(getattr(settings, "HEALTH_FRESH_SECONDS", HEALTH_FRESH_SECONDS))


def _refresh() -> None:
    try:
        report = system_health()
        report["checked_at"] = time.time()
        _latest["report"] = report
        cache.set(CACHE_KEY, report, timeout=max(60, int(LOCAL_MAX_AGE_SECONDS * 4)))
    except Exception:  # a refresher that dies must not take the lock with it
        logger.exception("health checks failed to run")
    finally:
        cache.delete(LOCK_KEY)
        connections.close_all()  # this thread's own database connection
        _refreshing.release()


def _refresh_start(*, local_age: float) -> threading.Thread | None:
    """Start the one refresher of this process, if none runs and the shared lock (or a very old
    local report) says it is our turn."""
    if not _refreshing.acquire(blocking=False):
        return None
    if not (cache.add(LOCK_KEY, os.getpid(), timeout=LOCK_SECONDS) or local_age > LOCAL_MAX_AGE_SECONDS):
        _refreshing.release()
        return None
    thread = threading.Thread(target=_refresh, name="health-refresh", daemon=True)
    thread.start()
    return thread


def health_snapshot() -> dict:
    """The last health report (``system_health`` plus ``checked_at``), refreshed off the request path.

    Only a process that has never seen a report waits for one, at most
    ``FIRST_REPORT_WAIT_SECONDS``; it then answers "not checked yet" (not ok) rather than wait longer.
    """
    now = time.time()
    report = _latest.get("report")
    if report is None or now - report["checked_at"] >= _fresh_seconds():
        shared = cache.get(CACHE_KEY)
        if shared and (report is None or shared["checked_at"] > report["checked_at"]):
            _latest["report"] = report = shared
    age = now - report["checked_at"] if report else float("inf")
    if age >= _fresh_seconds():
        thread = _refresh_start(local_age=age)
        if report is None:
            report = _first_report_wait(thread)
    if report is None:
        return {"ok": False, "failing": ["unchecked"], "components": {}, "checked_at": None}
    return report


def _first_report_wait(thread: threading.Thread | None) -> dict | None:
    if thread is not None:
        thread.join(FIRST_REPORT_WAIT_SECONDS)
        return _latest.get("report")
    deadline = time.monotonic() + FIRST_REPORT_WAIT_SECONDS
    while time.monotonic() < deadline:  # another process is running the checks: share its report
        shared = cache.get(CACHE_KEY)
        if shared:
            _latest["report"] = shared
            return shared
        time.sleep(0.1)
    return None


def health_snapshot_forget() -> None:
    """Drop the cached report (tests; after changing what the checks look at)."""
    _latest.clear()
    cache.delete(CACHE_KEY)


def _redact(url: str) -> str:
    if "@" in url:
        scheme, rest = url.split("://", 1)
        return f"{scheme}://***@{rest.split('@', 1)[1]}"
    return url
