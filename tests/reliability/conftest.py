"""Fixtures for fault tests: private Postgres and Redis servers we may stop, kill and restart.

Tests marked ``reliability`` are heavy (their own servers, gunicorn, workers, seconds to minutes
each). They run with ``pytest -m reliability`` (``make reliability``) and are skipped otherwise,
so ``make test`` runs only this package's light checks.
"""

from __future__ import annotations

import itertools
import os

import pytest

from tests.reliability.procs import MISSING_TOOLS, PrivatePostgres, PrivateRedis, manage, project_env

SAMPLE_DIR = "catalog/sample"
STAFF = ("staff", "staff-Pass-2024")
MEMBER = ("member", "member-Pass-2024")


def _reliability_selected(config) -> bool:
    return "reliability" in (config.getoption("markexpr") or "") or os.environ.get("IMDBREC_RELIABILITY") == "1"


def pytest_collection_modifyitems(config, items):
    if _reliability_selected(config):
        return
    skip = pytest.mark.skip(reason="heavy fault/load test: run `make reliability` (pytest -m reliability)")
    for item in items:
        if item.get_closest_marker("reliability") is not None:
            item.add_marker(skip)


@pytest.fixture(scope="session")
def private_postgres():
    """A Postgres cluster of our own with a migrated template database holding the bundled IMDb sample."""
    if MISSING_TOOLS:
        pytest.skip(MISSING_TOOLS)
    server = PrivatePostgres().init().start()
    try:
        server.psql("CREATE DATABASE imdbrec_template")
        env = project_env(database_url=server.url("imdbrec_template"), broker_url="redis://127.0.0.1:1/0")
        manage("migrate", "--noinput", "-v0", env=env)
        manage("import_imdb", "--dir", SAMPLE_DIR, "-v0", env=env)
        server.psql(
            "UPDATE pg_database SET datallowconn = true, datistemplate = true WHERE datname = 'imdbrec_template'"
        )
        yield server
    finally:
        server.destroy()


_numbers = itertools.count()


@pytest.fixture
def private_database(private_postgres):
    """A fresh database on the private server, copied from the template (schema + IMDb sample)."""
    name = f"imdbrec_{os.getpid()}_{next(_numbers)}"
    private_postgres.psql(f"CREATE DATABASE {name} TEMPLATE imdbrec_template")
    yield private_postgres.url(name)
    private_postgres.psql(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


@pytest.fixture
def private_redis():
    if MISSING_TOOLS:
        pytest.skip(MISSING_TOOLS)
    server = PrivateRedis().start()
    yield server
    server.destroy()


class Site:
    """This project running on private services: ``manage.py`` against them, gunicorn, workers."""

    def __init__(self, database_url: str, broker_url: str, tmp_path, **env_extra):
        self.database_url = database_url
        self.env = project_env(
            database_url=database_url,
            broker_url=broker_url,
            IMDB_DATA_DIR=tmp_path / "imdb",
            RECOMMENDER_EXCHANGE_DIR=tmp_path / "exchange",
            **env_extra,
        )
        self.tmp_path = tmp_path
        self.servers: list = []

    def shell(self, code: str) -> str:
        return manage("shell", "-c", code, env=self.env).stdout

    def create_users(self) -> None:
        self.shell(
            "from accounts.models import User\n"
            f"User.objects.create_superuser({STAFF[0]!r}, 'staff@example.com', {STAFF[1]!r})\n"
            f"User.objects.create_user({MEMBER[0]!r}, 'member@example.com', {MEMBER[1]!r})\n"
        )

    def gunicorn(self, **kwargs):
        from tests.reliability.procs import Gunicorn

        server = Gunicorn(self.env, log=self.tmp_path / f"gunicorn-{len(self.servers)}.log", **kwargs).start()
        self.servers.append(server)
        return server

    def worker(self, **kwargs):
        from tests.reliability.procs import CeleryWorker

        worker = CeleryWorker(self.env, log=self.tmp_path / f"worker-{len(self.servers)}.log", **kwargs)
        self.servers.append(worker)
        return worker.start()

    def stop(self) -> None:
        for server in reversed(self.servers):
            server.stop()


@pytest.fixture
def site_factory(tmp_path):
    sites = []

    def make(database_url: str, broker_url: str, **env_extra) -> Site:
        site = Site(database_url, broker_url, tmp_path, **env_extra)
        sites.append(site)
        return site

    yield make
    for site in sites:
        site.stop()


@pytest.fixture(scope="session")
def trained_template(private_postgres, tmp_path_factory):
    """``imdbrec_trained``: the sample catalog, 500 synthetic users and one trained, active model run."""
    private_postgres.psql("CREATE DATABASE imdbrec_trained TEMPLATE imdbrec_template")
    exchange = tmp_path_factory.mktemp("exchange")
    env = project_env(
        database_url=private_postgres.url("imdbrec_trained"),
        broker_url="redis://127.0.0.1:1/0",
        RECOMMENDER_EXCHANGE_DIR=exchange,
        SPARK_MASTER="local[1]",
    )
    manage("generate_synthetic_users", "--users", "500", "--seed", "7", "-v0", env=env)
    manage(
        "shell",
        "-c",
        "from accounts.models import User\n"
        "from catalog.models import Title\n"
        "from ratings.services import rating_set\n"
        f"member = User.objects.create_user({MEMBER[0]!r}, 'member@example.com', {MEMBER[1]!r})\n"
        f"User.objects.create_superuser({STAFF[0]!r}, 'staff@example.com', {STAFF[1]!r})\n"
        "for title in Title.objects.filter(genres__contains=['Comedy']).order_by('-num_votes')[:12]:\n"
        "    rating_set(user=member, title=title, score=5)\n",
        env=env,
    )
    manage("train_recommender", "--rank", "8", "--iterations", "5", "-v0", env=env, timeout=900)
    private_postgres.psql("UPDATE pg_database SET datistemplate = true WHERE datname = 'imdbrec_trained'")
    return "imdbrec_trained"


@pytest.fixture
def trained_database(private_postgres, trained_template):
    """A fresh copy of ``imdbrec_trained`` (users ``staff`` and ``member`` exist; run #1 is active)."""
    name = f"imdbrec_{os.getpid()}_{next(_numbers)}"
    private_postgres.psql(f"CREATE DATABASE {name} TEMPLATE {trained_template}")
    yield private_postgres.url(name)
    private_postgres.psql(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
