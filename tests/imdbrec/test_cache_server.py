"""The cache apart from the broker, with a memory limit: the cache server `make cache-server` starts
(and docker-compose and .ci/run describe) evicts instead of growing or refusing writes, and the
site's settings never put the cache in the broker's database."""

import os
import signal
import socket
import subprocess
from pathlib import Path

import pytest
import redis
import yaml
from django.core.cache.backends.redis import RedisCache

from tests.helpers import wait_for

ROOT = Path(__file__).resolve().parent.parent.parent


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
def cache_server(tmp_path):
    """A cache server started by `make cache-server`, with a small limit (2 MB) to fill quickly."""
    port = _free_port()
    subprocess.run(
        ["make", "-s", "-o", ".venv/.installed", "cache-server", f"CACHE_PORT={port}", "CACHE_MAXMEMORY=2mb"],
        cwd=ROOT,
        check=True,
        timeout=60,
    )
    client = redis.Redis(port=port)
    wait_for(lambda: client.ping(), timeout=10, what="the cache server")
    pid = int(client.info("server")["process_id"])
    yield port, client
    os.kill(pid, signal.SIGTERM)


def test_the_cache_server_evicts_at_its_limit(cache_server):
    port, client = cache_server
    assert client.config_get("maxmemory-policy")["maxmemory-policy"] == "allkeys-lru"
    limit = int(client.config_get("maxmemory")["maxmemory"])
    assert limit == 2 * 2**20
    cache = RedisCache(f"redis://127.0.0.1:{port}/0", {})
    value = "x" * 80_000  # about a rendered recommendations page
    for number in range(300):  # 24 MB written into a 2 MB cache: every write succeeds
        cache.set(f"recommender:page:{number}", value, 600)
    assert client.info("memory")["used_memory"] <= limit
    assert client.info("stats")["evicted_keys"] > 0
    assert cache.get("recommender:page:299") == value  # the newest entries stay


def test_compose_runs_the_cache_on_its_own_limited_server():
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    services = compose["services"]
    command = services["cache"]["command"]
    assert "--maxmemory " in command and "--maxmemory-policy allkeys-lru" in command
    assert "maxmemory" not in str(services["redis"].get("command", ""))  # the broker never evicts
    for name in ("web", "worker", "beat"):
        environment = services[name]["environment"]
        assert environment["CACHE_URL"].startswith("redis://cache:")
        assert environment["CELERY_BROKER_URL"].startswith("redis://redis:")
    ci = (ROOT / ".ci" / "run").read_text()
    assert "--maxmemory-policy allkeys-lru" in ci and "CACHE_URL=redis://127.0.0.1:6380/" in ci


def test_the_default_cache_is_not_the_brokers_database():
    result = subprocess.run(
        [
            str(ROOT / ".venv" / "bin" / "python"),
            "-c",
            "from django.conf import settings; print(settings.CACHES['default']['LOCATION'], settings.CELERY_BROKER_URL)",
        ],
        cwd=ROOT,
        env={
            "PATH": os.environ["PATH"],
            "DJANGO_SETTINGS_MODULE": "imdbrec.settings.base",
            "SECRET_KEY": "x" * 50,
        },
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    cache_url, broker_url = result.stdout.split()
    assert broker_url == "redis://127.0.0.1:6379/0" and cache_url == "redis://127.0.0.1:6379/1"
