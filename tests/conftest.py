"""Fixtures shared by the whole suite. Everything runs against the real Postgres and Redis."""

import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection

from tests.helpers import wait_for

ROOT = Path(__file__).resolve().parent.parent
# The real data folder, resolved where the benchmarks resolve it (IMDBREC_SHARED_DATA or ../shared/data).
sys.path.append(str(ROOT / "bench"))  # after the apps: a bench module never shadows one
from shareddata import SHARED_DATA  # noqa: E402


def pytest_collection_modifyitems(config, items):
    if SHARED_DATA.is_dir():
        return
    skip = pytest.mark.skip(reason=f"real data folder {SHARED_DATA} is absent (it exists in CI and developer machines)")
    for item in items:
        if "shared_data" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(scope="session")
def shared_data() -> Path:
    return SHARED_DATA


@pytest.fixture
def user_factory(db):
    from accounts.models import User

    counter = {"n": 0}

    def make(**fields):
        counter["n"] += 1
        username = fields.pop("username", f"user{counter['n']}_{time.monotonic_ns()}")
        password = fields.pop("password", "a-Strong-pass-123")
        user = User.objects.create_user(username=username, password=password, **fields)
        user.raw_password = password
        return user

    return make


@pytest.fixture
def member(user_factory):
    return user_factory(username="member")


@pytest.fixture
def member_client(client, member):
    client.force_login(member)
    return client


@pytest.fixture
def staff_user(user_factory):
    return user_factory(username="staff", is_staff=True, is_superuser=True)


# The recommender's test world, used by the recommender tests and the reliability ones.
@pytest.fixture
def recommender_caches(settings, tmp_path):
    """Forget every process and Redis cache the recommender keeps, before and after the test; the
    run matrices' file cache lives in the test's own directory."""
    from recommender.serving.onboarding import onboarding_cache_clear
    from recommender.serving.run_model import run_model_forget

    settings.RECOMMENDER_MODEL_CACHE_DIR = tmp_path / "model-cache"

    run_model_forget()
    onboarding_cache_clear()
    yield
    run_model_forget()
    onboarding_cache_clear()


def world_create() -> dict:
    """120 titles in 10 genres, 40 persona users with 14 ratings each, and a trained active run."""
    from tests.recommender.recsys_factories import numpy_run_train, persona_users_create, titles_create

    titles = titles_create()
    users = persona_users_create(titles=titles)
    run = numpy_run_train()
    return {"titles": titles, "by_tconst": {title.tconst: title for title in titles}, "users": users, "run": run}


@pytest.fixture
def world(request, db, recommender_caches):
    """The recommender's world (``world_create``): built for the test, or the module's own
    (``world_module``) in a module that asks for it with ``pytest.mark.usefixtures("world_module")``."""
    if "world_module" in request.fixturenames:
        return request.getfixturevalue("world_module")
    return world_create()


@pytest.fixture(scope="module")
def world_module(django_db_setup, django_db_blocker):
    """The recommender's world built once for a whole module, for modules whose every test can
    share it: it is written in a transaction held open for the module and rolled back after it.

    Each test's own transaction nests inside (a savepoint), so whatever a test writes is undone
    before the next one; what lives outside the database (the recommender's caches) is forgotten
    by ``recommender_caches`` around every test. A module with a transactional test, or a test
    that needs the database without the world, cannot use it.
    """
    from django.db import transaction

    with django_db_blocker.unblock(), transaction.atomic():
        try:
            yield world_create()
        finally:
            transaction.set_rollback(True)


def _test_database_url() -> str:
    db = connection.settings_dict
    user = db.get("USER") or "postgres"
    password = f":{db['PASSWORD']}" if db.get("PASSWORD") else ""
    return f"postgres://{user}{password}@{db.get('HOST') or '127.0.0.1'}:{db.get('PORT') or 5432}/{db['NAME']}"


@pytest.fixture
def celery_worker_process(transactional_db):
    """A real ``celery worker`` process on the real Redis, writing to this test's database.

    Transactional tests commit their rows, so the worker (another connection) sees them.
    """
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "imdbrec.settings.test",
        "DATABASE_URL": _test_database_url(),
        "CELERY_BROKER_URL": settings.CELERY_BROKER_URL,
    }
    hostname = f"pytest-{os.getpid()}-{time.monotonic_ns()}@%h"
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "imdbrec",
            "worker",
            "-Q",
            "default,spark",
            "-c",
            "1",
            "--prefetch-multiplier=1",
            "-n",
            hostname,
            "--without-gossip",
            "--without-mingle",
            "-l",
            "info",
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    from imdbrec.celery import app

    def answering():
        if process.poll() is not None:
            raise RuntimeError(f"Celery worker exited early:\n{process.stdout.read()}")
        replies = app.control.inspect(timeout=0.5).ping() or {}
        return any(name.startswith(hostname.split("@")[0]) for name in replies)

    try:
        wait_for(answering, timeout=60, interval=0, what="the Celery worker answering")
    except TimeoutError:
        process.kill()
        raise
    yield process
    os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()


@pytest.fixture(autouse=True)
def _own_rate_limit_counters(settings):
    """Every test starts with fresh rate-limit counters and in-flight counts (the cache is a shared
    Redis database)."""
    settings.RATELIMIT_CACHE_PREFIX = f"rl:test:{uuid.uuid4().hex}:"
    settings.IN_FLIGHT_CACHE_PREFIX = f"inflight:test:{uuid.uuid4().hex}:"


@pytest.fixture(autouse=True)
def _own_last_imported_dir(settings, tmp_path_factory):
    """Files kept for the importer's delta refresh go to the test's own directory."""
    settings.IMDB_LAST_IMPORTED_DIR = str(tmp_path_factory.mktemp("last-imported"))
