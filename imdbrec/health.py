"""Reads the state of the services the site depends on, for /health/ and the staff system page.

Each check returns a dict with ``ok`` and details, never raises, and is bounded in time so a dead
service makes the page answer 503 quickly instead of hanging.
"""

import importlib.util
import os
import shutil
import subprocess
import time

import redis
from django.conf import settings
from django.db import connection

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
        version = subprocess.run([java, "-version"], capture_output=True, text=True, timeout=10)
        result["java_version"] = (
            (version.stderr or version.stdout).splitlines()[0] if (version.stderr or version.stdout) else ""
        )
    if not result["ok"]:
        result["error"] = "Java not found" if not java else "pyspark is not installed"
    return result


CHECKS = {"database": database_health, "redis": redis_health, "celery": celery_health, "spark": spark_health}


def system_health() -> dict:
    components = {name: check() for name, check in CHECKS.items()}
    failing = [name for name, component in components.items() if not component["ok"]]
    return {"ok": not failing, "failing": failing, "components": components}


def _redact(url: str) -> str:
    if "@" in url:
        scheme, rest = url.split("://", 1)
        return f"{scheme}://***@{rest.split('@', 1)[1]}"
    return url
