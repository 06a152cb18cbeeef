"""The synthetic crowd's jobs as background runs: created, executed one at a time, followed, failed."""

import json
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError
from django.core.management import CommandError, call_command
from django.db import connection
from django.utils import timezone

from accounts.models import User
from imdbrec.queueing import exclusive
from ratings.models import Rating, SyntheticRun
from ratings.synthetic import GeneratorConfig, synthetic_users_generate
from ratings.synthetic_runs import (
    SYNTHETIC_RUNS,
    synthetic_run_execute,
    synthetic_run_generate_start,
    synthetic_run_remove_start,
)
from tests.helpers import wait_for
from tests.ratings.test_synthetic import titles_make


def _crowd() -> tuple[int, int]:
    return (
        User.objects.filter(kind=User.Kind.SYNTHETIC).count(),
        Rating.objects.filter(user__kind=User.Kind.SYNTHETIC).count(),
    )


@pytest.mark.django_db
def test_generation_creates_a_queued_run_then_executes_it():
    titles_make(80)
    run = synthetic_run_generate_start(users=40, seed=3)
    assert run.status == SyntheticRun.Status.QUEUED and run.action == SyntheticRun.Action.GENERATE
    assert run.params == {"users": 40, "seed": 3, "min_votes": None}

    run = synthetic_run_execute(run_id=run.pk, task_id="task-1")
    assert run.status == SyntheticRun.Status.SUCCEEDED and run.error == ""
    assert run.task_id == "task-1" and run.started_at <= run.finished_at and run.progress == 1.0
    users, ratings = _crowd()
    assert users == 40 and run.result["users_created"] == 40 and run.result["ratings_created"] == ratings
    # A redelivered task does nothing.
    assert synthetic_run_execute(run_id=run.pk).finished_at == run.finished_at

    run = synthetic_run_remove_start()
    run = synthetic_run_execute(run_id=run.pk)
    assert run.status == SyntheticRun.Status.SUCCEEDED and run.result == {"users": 40, "ratings": ratings}
    assert _crowd() == (0, 0)


@pytest.mark.django_db(transaction=True)
def test_progress_is_recorded_while_generating():
    titles_make(80)
    run = synthetic_run_generate_start(users=8000, seed=4)
    executing = ThreadPoolExecutor(max_workers=1).submit(_on_own_connection, synthetic_run_execute, run_id=run.pk)
    seen = []  # what the staff page would read meanwhile

    def done() -> bool:
        seen.append(SyntheticRun.objects.values_list("status", "progress", "progress_message").get(pk=run.pk))
        return executing.done()

    wait_for(done, timeout=120, interval=0.02, what="the generation finishing")
    run = executing.result()
    assert run.status == SyntheticRun.Status.SUCCEEDED
    running = [(progress, message) for status, progress, message in seen if status == SyntheticRun.Status.RUNNING]
    assert any(0 < progress < 1 and " of 8,000 users; " in message for progress, message in running), seen
    assert [progress for progress, _message in running] == sorted(progress for progress, _message in running)
    run.refresh_from_db()
    assert run.progress == 1.0 and run.heartbeat_at >= run.started_at
    assert run.progress_message == f"8,000 of 8,000 users; {run.result['ratings_created']:,} ratings written"


def _on_own_connection(function, **kwargs):
    try:
        return function(**kwargs)
    finally:
        connection.close()


@pytest.mark.django_db
def test_a_second_job_is_refused_while_one_is_queued_or_running():
    titles_make(40)
    first = synthetic_run_generate_start(users=5, seed=1)
    with pytest.raises(ValidationError, match=rf"generate job \(#{first.pk}\) is still queued"):
        synthetic_run_generate_start(users=5, seed=2)
    with pytest.raises(ValidationError, match="still queued"):
        synthetic_run_remove_start()
    assert SyntheticRun.objects.count() == 1

    # A worker that finds another process running a job marks its run failed and does nothing.
    with exclusive(SYNTHETIC_RUNS.lock):
        refused = synthetic_run_execute(run_id=first.pk)
    assert refused.status == SyntheticRun.Status.FAILED and "another synthetic-users job" in refused.error
    assert _crowd() == (0, 0)


@pytest.mark.django_db
def test_a_failed_generation_is_marked_failed_and_leaves_the_previous_crowd():
    titles_make(80)
    synthetic_users_generate(users=30, seed=1)
    before = _crowd()
    run = synthetic_run_generate_start(users=50, seed=2, min_votes=10**9)
    run = synthetic_run_execute(run_id=run.pk)
    assert run.status == SyntheticRun.Status.FAILED and run.finished_at is not None
    assert "No titles to rate" in run.error
    assert _crowd() == before
    # The failure does not block the next job.
    assert synthetic_run_generate_start(users=5, seed=3).status == SyntheticRun.Status.QUEUED


@pytest.mark.django_db
def test_orphaned_runs_are_found_and_failed():
    # Marked running, but no process holds the lock: its worker died.
    dead = SyntheticRun.objects.create(action=SyntheticRun.Action.GENERATE, status=SyntheticRun.Status.RUNNING)
    # Queued long ago and never taken by a worker (its message was lost).
    lost = SyntheticRun.objects.create(action=SyntheticRun.Action.REMOVE)
    SyntheticRun.objects.filter(pk=lost.pk).update(
        created_at=timezone.now() - timedelta(seconds=SYNTHETIC_RUNS.queued_expires_seconds + 60)
    )
    run = synthetic_run_remove_start()
    dead.refresh_from_db()
    lost.refresh_from_db()
    assert dead.status == SyntheticRun.Status.FAILED and "killed or crashed" in dead.error
    assert lost.status == SyntheticRun.Status.FAILED and "no worker took it in time" in lost.error
    assert run.status == SyntheticRun.Status.QUEUED


# --- the management commands execute runs too ------------------------------------------------------


@pytest.mark.django_db
def test_the_generate_command_records_a_run(capsys):
    titles_make(80)
    call_command("generate_synthetic_users", "--users", "30", "--seed", "5", "--writers", "1")
    assert "30 synthetic users created (0 already there)" in capsys.readouterr().out
    run = SyntheticRun.objects.get()
    assert run.action == SyntheticRun.Action.GENERATE and run.status == SyntheticRun.Status.SUCCEEDED
    assert run.params == {"users": 30, "seed": 5, "min_votes": None, "writers": 1}
    assert run.result["users_created"] == 30 and run.progress == 1.0

    call_command("remove_synthetic_users")
    assert "removed 30 synthetic users" in capsys.readouterr().out
    removal = SyntheticRun.objects.exclude(pk=run.pk).get()
    assert removal.action == SyntheticRun.Action.REMOVE and removal.result["users"] == 30
    assert _crowd() == (0, 0)


@pytest.mark.django_db
def test_the_generate_command_keeps_its_configuration_in_the_run(tmp_path):
    titles_make(80)
    config = GeneratorConfig(user_bias_sd=0.0, min_votes=10)
    path = tmp_path / "config.json"
    path.write_text(json.dumps(config.as_dict()))
    call_command("generate_synthetic_users", "--users", "10", "--seed", "6", "--config", str(path), verbosity=0)
    run = SyntheticRun.objects.get()
    assert GeneratorConfig.from_dict(run.params["config"]) == config


@pytest.mark.django_db
def test_the_commands_are_refused_while_another_job_runs():
    titles_make(40)
    with exclusive(SYNTHETIC_RUNS.lock):
        with pytest.raises(CommandError, match="another synthetic-users job"):
            call_command("generate_synthetic_users", "--users", "5", "--seed", "1", verbosity=0)
        with pytest.raises(CommandError, match="another synthetic-users job"):
            call_command("remove_synthetic_users", verbosity=0)
    assert list(SyntheticRun.objects.values_list("status", flat=True)) == [SyntheticRun.Status.FAILED] * 2
    assert _crowd() == (0, 0)


@pytest.mark.django_db
def test_bad_arguments_record_no_run():
    with pytest.raises(CommandError, match="positive whole number"):
        call_command("generate_synthetic_users", "--users", "0", verbosity=0)
    assert not SyntheticRun.objects.exists()
