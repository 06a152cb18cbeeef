"""The parts are real: Postgres, Redis, a Celery worker process, Spark, settings, compose file."""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from django.db import connection

from tests.helpers import COMPOSE_SECRETS

ROOT = Path(__file__).resolve().parents[2]
# docker-compose.yml has no default secrets: the rendering needs them.
COMPOSE_ENV = {**os.environ, **COMPOSE_SECRETS}


def test_database_is_postgres(db):
    assert connection.vendor == "postgresql"
    with connection.cursor() as cursor:
        cursor.execute("SHOW server_version")
        assert int(cursor.fetchone()[0].split(".")[0]) >= 13


def test_custom_user_model_is_accounts_user():
    from django.contrib.auth import get_user_model

    assert get_user_model()._meta.label == "accounts.User"


def test_synthetic_user_cannot_log_in(user_factory, client):
    from accounts.models import User

    user = user_factory(username="robot", kind=User.Kind.SYNTHETIC)
    response = client.post("/accounts/login/", {"username": "robot", "password": user.raw_password})
    assert response.status_code == 200 and "_auth_user_id" not in client.session
    site_user = user_factory(username="human")
    response = client.post("/accounts/login/", {"username": "human", "password": site_user.raw_password})
    assert response.status_code == 302 and client.session["_auth_user_id"] == str(site_user.pk)


def _django_command(*args, env_extra=None):
    env = {k: v for k, v in os.environ.items() if k not in {"SECRET_KEY", "DEBUG", "DJANGO_SETTINGS_MODULE"}}
    env.update(env_extra or {})
    return subprocess.run(
        [sys.executable, "manage.py", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )


def test_production_settings_pass_check_deploy():
    result = _django_command(
        "check",
        "--deploy",
        "--fail-level",
        "WARNING",
        env_extra={
            "DJANGO_SETTINGS_MODULE": "imdbrec.settings.production",
            "SECRET_KEY": "k" * 10 + "-Vq8#mZr2!pX7@wLs9^bN4&hT6*jY1%dF3$gH5" * 2,
        },
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def test_production_refuses_to_start_without_secret_key(tmp_path):
    result = _django_command("check", env_extra={"DJANGO_SETTINGS_MODULE": "imdbrec.settings.production"})
    if (ROOT / ".env").exists() and "SECRET_KEY" in (ROOT / ".env").read_text():
        pytest.skip(".env provides a SECRET_KEY on this machine")
    assert result.returncode != 0
    assert "SECRET_KEY" in result.stderr


@pytest.mark.skipif(shutil.which("docker-compose") is None, reason="docker-compose is installed by `make test-deps`")
def test_docker_compose_file_is_valid():
    result = subprocess.run(
        ["docker-compose", "config", "-q"], cwd=ROOT, env=COMPOSE_ENV, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    services = subprocess.run(
        ["docker-compose", "config", "--services"], cwd=ROOT, env=COMPOSE_ENV, capture_output=True, text=True
    ).stdout.split()
    assert {"postgres", "redis", "web", "worker"} <= set(services)


@pytest.mark.spark
def test_spark_fits_a_tiny_als_model():
    result = subprocess.run(
        [sys.executable, "-m", "recommender.spark.smoke", "local[1]"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["rank"] == 2 and report["users"] == 3 and report["items"] == 3
    # The model learned the data: user 0 likes item 0 much more than user 1 likes item 2.
    assert report["predictions"]["0,0"] > 4.0 > 2.0 > report["predictions"]["1,2"]


def test_services_check_names_a_missing_redis_and_how_to_start_it():
    env = {**os.environ, "CELERY_BROKER_URL": "redis://127.0.0.1:1/0"}
    result = subprocess.run(
        [sys.executable, "-m", "imdbrec.services_check"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 1
    assert "Redis at redis://127.0.0.1:1/0 is not reachable" in result.stdout
    assert "redis-server --daemonize yes" in result.stdout


@pytest.mark.skipif(shutil.which("docker-compose") is None, reason="docker-compose is installed by `make test-deps`")
def test_the_spark_profile_runs_the_pinned_spark_with_the_pinned_executor_libraries():
    import importlib.metadata

    result = subprocess.run(
        ["docker-compose", "--profile", "spark", "config"],
        cwd=ROOT,
        env=COMPOSE_ENV,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    config = result.stdout
    assert f"image: apache/spark:{importlib.metadata.version('pyspark')}-python3" in config
    lock = (ROOT / "requirements.lock").read_text().split()
    for package in ("numpy", "pandas", "pyarrow"):
        pinned = next(line for line in lock if line.startswith(f"{package}=="))
        assert pinned in config, pinned
    assert "spark.driver.host=spark-worker-queue" in config
