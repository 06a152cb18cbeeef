"""Fixtures shared by the whole suite. Everything runs against the real Postgres and Redis."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection

ROOT = Path(__file__).resolve().parent.parent
# a worktree kept outside the folder that holds shared/ points at it with IMDBREC_SHARED_DATA
SHARED_DATA = Path(os.environ.get("IMDBREC_SHARED_DATA") or ROOT.parent / "shared" / "data")


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
def staff_user(user_factory):
    return user_factory(username="staff", is_staff=True, is_superuser=True)


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

    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"Celery worker exited early:\n{process.stdout.read()}")
        replies = app.control.inspect(timeout=0.5).ping() or {}
        if any(name.startswith(hostname.split("@")[0]) for name in replies):
            break
    else:
        process.kill()
        raise RuntimeError("Celery worker did not answer within 60 s")
    yield process
    os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
