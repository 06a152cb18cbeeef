"""Safe deployments (issue 20, part 3): what docker-compose, the Dockerfile, the Makefile and the
server entry points ship. No Docker engine is needed: ``docker-compose config`` renders the file."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import uuid
from pathlib import Path

import psycopg2
import pytest
import yaml
from django.core.management import CommandError, call_command
from django.db import connection
from django.urls import path

from tests.helpers import COMPOSE_SECRETS

ROOT = Path(__file__).resolve().parents[2]
COMPOSE_ENV = COMPOSE_SECRETS
needs_compose = pytest.mark.skipif(
    shutil.which("docker-compose") is None, reason="docker-compose is installed by `make test-deps`"
)


def compose_config(tmp_path, env: dict, *profiles: str) -> subprocess.CompletedProcess:
    """``docker-compose config`` with only ``env`` (not the developer's .env or shell)."""
    env_file = tmp_path / "compose.env"
    env_file.write_text("")
    base = {key: os.environ[key] for key in ("PATH", "HOME") if key in os.environ}
    args = ["docker-compose", "--env-file", str(env_file)]
    for profile in profiles:
        args += ["--profile", profile]
    return subprocess.run([*args, "config"], cwd=ROOT, env={**base, **env}, capture_output=True, text=True, timeout=60)


@needs_compose
def test_compose_has_no_demo_users_no_default_secrets_and_least_privilege_roles(tmp_path):
    result = compose_config(tmp_path, COMPOSE_ENV, "spark")
    assert result.returncode == 0, result.stderr
    services = yaml.safe_load(result.stdout)["services"]
    rendered = result.stdout
    assert "create_demo_users" not in rendered
    assert services["migrate"]["command"] in (
        "python manage.py migrate --noinput",
        ["python", "manage.py", "migrate", "--noinput"],
    )

    def database_user(service: str) -> str:
        return re.match(r"postgres://([^:]+):", services[service]["environment"]["DATABASE_URL"])[1]

    assert database_user("migrate") == "imdbrec_owner"
    assert database_user("web") == "imdbrec_site"
    for service in ("worker", "spark-worker-queue", "beat"):
        assert database_user(service) == "imdbrec_worker", service
    assert "postgres:postgres@" not in rendered
    assert services["web"]["environment"]["SECRET_KEY"] == "compose-test-secret"


@needs_compose
def test_compose_publishes_only_the_site(tmp_path):
    services = yaml.safe_load(compose_config(tmp_path, COMPOSE_ENV, "spark").stdout)["services"]
    assert "ports" not in services["postgres"] and "ports" not in services["redis"]
    published = {}
    for name, service in services.items():
        for port in service.get("ports", []):
            published.setdefault(name, []).append(port)
    assert set(published) == {"web", "spark-master", "spark-worker"}, published
    for name in ("spark-master", "spark-worker"):
        for port in published[name]:
            text = port if isinstance(port, str) else f"{port.get('host_ip', '')}:{port['published']}"
            assert text.startswith("127.0.0.1:"), (name, port)
            assert "7077" not in text


@needs_compose
@pytest.mark.parametrize("missing", sorted(COMPOSE_ENV))
def test_compose_refuses_to_start_without_each_secret(tmp_path, missing):
    result = compose_config(tmp_path, {key: value for key, value in COMPOSE_ENV.items() if key != missing})
    assert result.returncode != 0
    assert missing in result.stderr


def test_dockerfile_runs_as_a_user_and_logs_to_stdout():
    dockerfile = (ROOT / "Dockerfile").read_text()
    users = re.findall(r"^USER (\S+)", dockerfile, re.M)
    assert users and users[-1] not in ("root", "0")
    assert dockerfile.rindex("USER ") < dockerfile.rindex("CMD ")
    command = dockerfile[dockerfile.rindex("CMD ") :]
    for flag in ('"--access-logfile", "-"', '"--error-logfile", "-"', '"--capture-output"'):
        assert flag in command


def test_makefile_writes_env_0600_and_keeps_gunicorn_output(tmp_path):
    makefile = (ROOT / "Makefile").read_text()
    assert "--capture-output" in makefile and "--error-logfile" in makefile
    result = subprocess.run(
        ["make", "-f", str(ROOT / "Makefile"), ".env", f"PY={sys.executable}", "VENV=/nonexistent"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    env_file = tmp_path / ".env"
    assert env_file.stat().st_mode & 0o777 == 0o600
    names = [line.split("=", 1)[0] for line in env_file.read_text().splitlines()]
    assert names == list(COMPOSE_ENV)


@pytest.mark.parametrize("module", ["imdbrec.wsgi", "imdbrec.asgi"])
def test_server_entry_points_default_to_production_settings(module):
    env = {key: value for key, value in os.environ.items() if key not in {"DJANGO_SETTINGS_MODULE", "DEBUG"}}
    code = f"import os, {module}; from django.conf import settings; print(os.environ['DJANGO_SETTINGS_MODULE'], settings.DEBUG)"
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env={**env, "SECRET_KEY": "x" * 60}, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["imdbrec.settings.production", "False"]
    if not (ROOT / ".env").exists():
        result = subprocess.run(
            [sys.executable, "-c", f"import {module}"],
            cwd=ROOT,
            env={k: v for k, v in env.items() if k != "SECRET_KEY"},
            capture_output=True,
            text=True,
        )
        assert result.returncode != 0 and "SECRET_KEY" in result.stderr


# --- demo users -------------------------------------------------------------------------------------


def test_demo_users_are_refused_with_debug_off(db, settings):
    from accounts.models import User

    settings.DEBUG = False
    with pytest.raises(CommandError, match="DEBUG is off"):
        call_command("create_demo_users", verbosity=0)
    assert not User.objects.filter(username__in=["demo", "staff"]).exists()
    call_command("create_demo_users", "--allow-without-debug", verbosity=0)
    assert User.objects.get(username="staff").is_staff


def test_demo_users_never_reset_an_existing_staff_password(db, settings):
    from accounts.models import User

    settings.DEBUG = True
    call_command("create_demo_users", verbosity=0)
    staff = User.objects.get(username="staff")
    staff.set_password("changed-after-the-demo-77")
    staff.save()
    demo = User.objects.get(username="demo")
    demo.set_password("forgotten-by-the-tester-77")
    demo.save()
    call_command("create_demo_users", verbosity=0)
    staff.refresh_from_db()
    demo.refresh_from_db()
    assert staff.check_password("changed-after-the-demo-77")
    assert demo.check_password("demo-password-2024")  # the printed demo login works again


# --- logs -------------------------------------------------------------------------------------------


def _boom(request):
    raise RuntimeError("the operator must see this traceback")


urlpatterns = [path("boom/", _boom)]


@pytest.mark.urls(__name__)
def test_a_server_error_is_logged_with_its_traceback(client):
    """django.request's own handler writes each 500 with its traceback to stderr (which gunicorn's
    --capture-output and compose's logs keep), with DEBUG off and no ADMINS to mail."""
    import io
    import logging

    handlers = [h for h in logging.getLogger("django.request").handlers if type(h) is logging.StreamHandler]
    assert handlers, "django.request has its own console handler"
    stream = io.StringIO()
    previous = handlers[0].setStream(stream)
    try:
        client.raise_request_exception = False
        assert client.get("/boom/").status_code == 500
    finally:
        handlers[0].setStream(previous)
    written = stream.getvalue()
    assert "ERROR django.request: Internal Server Error: /boom/" in written
    assert "Traceback" in written and "RuntimeError: the operator must see this traceback" in written


# --- database roles ---------------------------------------------------------------------------------


@pytest.mark.skipif(shutil.which("psql") is None, reason="psql runs deploy/database-roles.sql")
def test_database_roles_give_the_site_rows_only_and_the_migrations_the_schema(db):
    with connection.cursor() as cursor:
        cursor.execute("SELECT rolsuper FROM pg_roles WHERE rolname = current_user")
        if not cursor.fetchone()[0]:
            pytest.skip("creating roles needs a Postgres superuser")
    settings_dict = connection.settings_dict
    suffix = uuid.uuid4().hex[:8]
    database, owner, site, worker = (f"{name}_{suffix}" for name in ("imdbrec_roles", "owner", "site", "worker"))
    params = {"host": settings_dict["HOST"] or "127.0.0.1", "port": settings_dict["PORT"] or 5432}

    def connect(user, dbname=database):
        conn = psycopg2.connect(dbname=dbname, user=user, password=f"pw-{user}", **params)
        conn.autocommit = True
        return conn

    admin = connect(settings_dict["USER"], settings_dict["NAME"])
    admin.cursor().execute(f'CREATE DATABASE "{database}"')
    try:
        result = subprocess.run(
            [
                "psql",
                "-h",
                str(params["host"]),
                "-p",
                str(params["port"]),
                "-U",
                settings_dict["USER"],
                "-d",
                "postgres",
            ]
            + ["-v", "ON_ERROR_STOP=1", "-v", f"database={database}"]
            + [
                arg
                for role, name in (("owner", owner), ("site", site), ("worker", worker))
                for arg in ("-v", f"{role}={name}", "-v", f"{role}_password=pw-{name}")
            ]
            + ["-f", str(ROOT / "deploy" / "database-roles.sql")],
            env={**os.environ, "PGPASSWORD": settings_dict.get("PASSWORD") or ""},
            capture_output=True,
            text=True,
            timeout=60,
        )
        if result.returncode != 0 and "password authentication" in result.stderr:
            pytest.skip(result.stderr)
        assert result.returncode == 0, result.stderr
        # The migrations' role makes the schema.
        connect(owner).cursor().execute("CREATE TABLE film (id bigserial PRIMARY KEY, name text)")
        # The site reads and writes rows, in the tables the migrations made ...
        site_cursor = connect(site).cursor()
        site_cursor.execute("INSERT INTO film (name) VALUES ('Ikiru') RETURNING id")
        site_cursor.execute("UPDATE film SET name = 'Ran'; SELECT count(*) FROM film")
        assert site_cursor.fetchone() == (1,)
        site_cursor.execute("CREATE TEMP TABLE stage (x int)")  # the import's staging tables
        # ... and cannot change the schema.
        for statement in (
            "CREATE TABLE evil (x int)",
            "DROP TABLE film",
            "ALTER TABLE film ADD COLUMN x int",
            "TRUNCATE film",
            "CREATE ROLE intruder",
        ):
            with pytest.raises(psycopg2.Error):
                site_cursor.execute(statement)
        # Workers rebuild indexes and partitions as the owner: what they create the site can use.
        worker_cursor = connect(worker).cursor()
        worker_cursor.execute("CREATE INDEX film_name ON film (name); CREATE TABLE film_run1 (LIKE film)")
        worker_cursor.execute("SELECT tableowner FROM pg_tables WHERE tablename = 'film_run1'")
        assert worker_cursor.fetchone() == (owner,)
        site_cursor.execute("INSERT INTO film_run1 VALUES (1, 'Ran'); SELECT count(*) FROM film_run1")
        assert site_cursor.fetchone() == (1,)
        with pytest.raises(psycopg2.Error):
            worker_cursor.execute("CREATE ROLE intruder")
    finally:
        for conn_user in (site, worker, owner):
            admin.cursor().execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = %s", [conn_user]
            )
        admin.cursor().execute(f'DROP DATABASE IF EXISTS "{database}"')
        for role in (worker, site, owner):
            admin.cursor().execute(f'DROP ROLE IF EXISTS "{role}"')
        admin.close()
