"""End to end on a real Celery worker: the staff system page's "Train now" queues a run on the
spark queue, the worker trains it through Spark, the page's progress endpoint follows it, and a
second training started meanwhile is refused."""

import re

import pytest
from django.core.management import CommandError, call_command
from django.test import Client

from recommender.models import ModelRun, Recommendation, TitleFactor, UserFactor
from recommender.selectors import model_run_current
from tests.helpers import wait_for
from tests.recommender.test_training import world_create

pytestmark = [pytest.mark.celery_worker, pytest.mark.spark]


def test_train_now_runs_on_a_real_worker(celery_worker_process, staff_user, settings, tmp_path):
    world = world_create(titles_per_genre=5, users_per_genre=3)
    client = Client(enforce_csrf_checks=True)
    client.force_login(staff_user)
    page = client.get("/system/").content.decode()
    assert "Recommender training" in page and "Train now" in page
    token = re.search(
        r'action="/system/recommender/train/"[^>]*>\s*<input type="hidden" name="csrfmiddlewaretoken" '
        r'value="([^"]+)"',
        page,
    ).group(1)

    # The worker reads its parameters from the run; the panel's fields set rank and iterations.
    response = client.post(
        "/system/recommender/train/",
        {"csrfmiddlewaretoken": token, "rank": "4", "iterations": "5", "reg": "", "alpha": ""},
    )
    assert response.status_code == 302
    run = ModelRun.objects.get()
    assert run.params["requested"] == {"rank": 4, "iterations": 5}

    progress_url = f"/system/recommender/train/{run.pk}/progress/"
    seen = {"running": False, "refused": False, "progress": None}

    def finished() -> bool:
        progress = seen["progress"] = client.get(progress_url).json()
        assert 0.0 <= progress["progress"] <= 1.0
        if progress["status"] == "running":
            seen["running"] = True
            if not seen["refused"]:
                # A second training while the worker holds the lock: refused, with a message.
                with pytest.raises(CommandError, match=f"another training \\(run #{run.pk}\\) is running"):
                    call_command("train_recommender", "--params", '{"rank": 4}', verbosity=0)
                seen["refused"] = True
        return progress["done"]

    wait_for(finished, timeout=600, interval=0.5, what="the worker finishing the training")
    progress = seen["progress"]

    run.refresh_from_db()
    assert run.status == ModelRun.Status.SUCCEEDED, run.error
    assert seen["running"] and seen["refused"]
    assert run.task_id and run.triggered_by == f"staff:{staff_user.username}"
    assert progress["done"] and progress["progress"] == 1.0 and progress["message"].startswith("Succeeded in")
    assert model_run_current() == run
    assert UserFactor.objects.filter(run=run).count() == len(world["users"])
    assert run.params["rank"] == 4 and run.params["iterations"] == 5
    # Every title of the run but the one they rated, titles no one rated included (DESIGN.md §11).
    assert Recommendation.objects.filter(run=run, user=world["single"]).count() == min(
        run.params["top_n"], TitleFactor.objects.filter(run=run).count() - 1
    )
    # The refused command's run is recorded as failed, with the reason.
    other = ModelRun.objects.exclude(pk=run.pk).get()
    assert other.status == ModelRun.Status.FAILED and "is running" in other.error
    page = client.get("/system/").content.decode()
    assert f'#{run.pk}</a> <span class="badge badge-ok">serving</span>' in page
