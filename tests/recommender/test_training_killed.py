"""A training process killed with SIGKILL in the middle of its Spark job: the job dies with it, the
lock is released, the run is recognised as dead and failed, no row of it remains, and the next
training can start."""

import contextlib
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection

from imdbrec.queueing import exclusive_is_held
from recommender.models import ModelRun, Recommendation, TitleFactor, UserFactor
from recommender.training.runs import TRAIN_EXCLUSIVE, model_run_active
from tests.helpers import wait_for
from tests.recommender.test_training import world_create

pytestmark = [pytest.mark.spark, pytest.mark.django_db(transaction=True)]


def _database_url() -> str:
    db = connection.settings_dict
    password = f":{db['PASSWORD']}" if db.get("PASSWORD") else ""
    return f"postgres://{db.get('USER') or 'postgres'}{password}@{db.get('HOST') or '127.0.0.1'}:{db.get('PORT') or 5432}/{db['NAME']}"


def _processes_mentioning(text: str) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if text in (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace"):
                    found.append(int(entry.name))
            except OSError:
                continue
    return found


def test_a_killed_training_leaves_no_job_no_rows_and_no_lock(tmp_path):
    world_create(titles_per_genre=5, users_per_genre=3)
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "imdbrec.settings.test",
        "DATABASE_URL": _database_url(),
        "RECOMMENDER_EXCHANGE_DIR": str(tmp_path),
    }
    trainer = subprocess.Popen(
        [
            sys.executable,
            "manage.py",
            "train_recommender",
            "-v",
            "0",
            "--params",
            '{"rank": 4, "rating_rank": 3, "iterations": 60, "rating_iterations": 60}',
        ],
        cwd=settings.BASE_DIR,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:

        def in_spark_job():
            run = ModelRun.objects.first()
            if run and run.phase.startswith("spark: ") and run.phase != "spark: start":
                return run
            assert trainer.poll() is None, "the training ended before it could be killed"
            return None

        run = wait_for(in_spark_job, timeout=180, what="the training reaching its Spark job")
        jobs = _processes_mentioning(f"run-{run.pk}/input")
        assert jobs, "no Spark job process found"
        assert exclusive_is_held(TRAIN_EXCLUSIVE)

        trainer.send_signal(signal.SIGKILL)  # as the kernel's OOM killer or `kill -9` would
        trainer.wait(timeout=10)

        with contextlib.suppress(TimeoutError):  # the assertions below say what is left
            wait_for(
                lambda: not (_processes_mentioning(f"run-{run.pk}/input") or exclusive_is_held(TRAIN_EXCLUSIVE)),
                timeout=30,
                what="the Spark job and the lock gone",
            )
        assert not _processes_mentioning(f"run-{run.pk}/input"), "the Spark job outlived its trainer"
        assert not exclusive_is_held(TRAIN_EXCLUSIVE)
        assert model_run_active() is None
        run.refresh_from_db()
        assert run.status == ModelRun.Status.FAILED and "killed or crashed" in run.error
        assert not run.is_active
        for model in (Recommendation, UserFactor, TitleFactor):
            assert not model.objects.filter(run=run).exists()
    finally:
        if trainer.poll() is None:
            trainer.kill()
            trainer.wait()
