"""The ratings panel of the staff system page: counts, the generate/remove forms, live progress."""

import re

import pytest
from django.test import Client

from accounts.models import User
from ratings.models import Rating, SyntheticRun
from ratings.selectors import rater_counts_forget
from ratings.synthetic import synthetic_users_generate
from tests.helpers import wait_for
from tests.ratings.test_synthetic import titles_make


@pytest.fixture(autouse=True)
def fresh_cache():
    rater_counts_forget()
    yield
    rater_counts_forget()


def staff_client(staff_user) -> tuple[Client, str]:
    client = Client(enforce_csrf_checks=True)
    client.force_login(staff_user)
    page = client.get("/system/").content.decode()
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page).group(1)
    return client, token


def messages_of(response) -> list[str]:
    return [str(message) for message in response.context["messages"]] if response.context else []


@pytest.mark.django_db
def test_panel_shows_raters_by_persona_and_the_forms(staff_user, user_factory):
    titles = titles_make(80)
    synthetic_users_generate(users=120, seed=9)
    lens = user_factory(kind=User.Kind.MOVIELENS, external_id="5")
    Rating.objects.create(user=lens, title=titles[0], score=3)
    client, _ = staff_client(staff_user)
    page = client.get("/system/").content.decode()

    assert 'id="ratings"' in page and "Community raters" in page
    for label in ("Action fan", "Drama lover", "Comedy fan", "Sci-fi geek", "Crime fan", "Casual viewer"):
        assert label in page
    synthetic_ratings = Rating.objects.filter(user__kind=User.Kind.SYNTHETIC).count()
    assert re.search(r"All synthetic</th><td class=\"num\">120</td><td class=\"num\">" + f"{synthetic_ratings:,}", page)
    assert re.search(r"All MovieLens</th><td class=\"num\">1</td><td class=\"num\">1<", page)
    assert 'action="/system/ratings/synthetic/generate/"' in page and 'name="users"' in page and 'name="seed"' in page
    assert 'action="/system/ratings/synthetic/remove/"' in page and "Remove all synthetic users" in page
    assert "data-progress-url" not in page.split('id="ratings"')[1]  # no job yet


@pytest.mark.django_db
def test_actions_are_for_staff_only_and_need_csrf(client, user_factory, staff_user):
    assert client.post("/system/ratings/synthetic/generate/", {"users": 5, "seed": 1}).status_code == 302  # to login
    assert client.get("/system/ratings/synthetic/1/progress/").status_code == 302
    client.force_login(user_factory())
    assert client.post("/system/ratings/synthetic/generate/", {"users": 5, "seed": 1}).status_code == 403
    assert client.post("/system/ratings/synthetic/remove/").status_code == 403
    assert client.get("/system/ratings/synthetic/1/progress/").status_code == 403

    staff, _ = staff_client(staff_user)
    assert staff.post("/system/ratings/synthetic/generate/", {"users": 5, "seed": 1}).status_code == 403  # no token
    assert staff.get("/system/ratings/synthetic/generate/").status_code == 405
    assert not SyntheticRun.objects.exists()


@pytest.mark.django_db
def test_invalid_form_and_a_running_job_start_nothing(staff_user):
    client, token = staff_client(staff_user)
    response = client.post(
        "/system/ratings/synthetic/generate/", {"users": 0, "seed": "x", "csrfmiddlewaretoken": token}, follow=True
    )
    text = " ".join(messages_of(response))
    assert "Users" in text and "Seed" in text and not SyntheticRun.objects.exists()

    # A job queued but not picked up by any worker still counts as running.
    queued = SyntheticRun.objects.create(action=SyntheticRun.Action.GENERATE, params={"users": 10, "seed": 1})
    response = client.post(
        "/system/ratings/synthetic/generate/", {"users": 10, "seed": 2, "csrfmiddlewaretoken": token}, follow=True
    )
    assert any(f"generate job (#{queued.pk}) is still queued" in message for message in messages_of(response))
    response = client.post("/system/ratings/synthetic/remove/", {"csrfmiddlewaretoken": token}, follow=True)
    assert any("is still queued" in message for message in messages_of(response))
    assert list(SyntheticRun.objects.all()) == [queued]
    page = client.get("/system/").content.decode()
    assert f'data-progress-url="/system/ratings/synthetic/{queued.pk}/progress/"' in page
    assert client.get(f"/system/ratings/synthetic/{queued.pk}/progress/").json() == {
        "progress": 0.0,
        "message": "Waiting for a worker…",
        "done": False,
        "status": "queued",
    }


def _wait_done(client, url: str, seconds: float = 120) -> dict:
    seen = []

    def finished():
        progress = client.get(url).json()
        seen.append(progress)
        assert 0.0 <= progress["progress"] <= 1.0
        return progress["done"]

    wait_for(finished, timeout=seconds, interval=0.3, what="the worker finishing")
    return {"last": seen[-1], "seen": seen}


@pytest.mark.celery_worker
def test_generate_and_remove_run_on_a_real_worker_with_progress(celery_worker_process, staff_user):
    titles_make(150)
    client, token = staff_client(staff_user)

    response = client.post(
        "/system/ratings/synthetic/generate/", {"users": 2500, "seed": 5, "min_votes": "", "csrfmiddlewaretoken": token}
    )
    assert response.status_code == 302 and response["Location"] == "/system/#ratings"
    job = SyntheticRun.objects.get()
    assert (job.action, job.params["users"], job.params["seed"]) == ("generate", 2500, 5)
    page = client.get("/system/").content.decode()
    progress_url = f"/system/ratings/synthetic/{job.pk}/progress/"
    # The worker may already have finished by now: then the panel shows the summary instead of the bar.
    assert f'data-progress-url="{progress_url}"' in page or "Done: 2,500 users" in page

    result = _wait_done(client, progress_url)
    assert result["last"]["progress"] == 1.0 and result["last"]["status"] == "succeeded"
    assert result["last"]["message"].startswith("Done: 2,500 users and ")
    assert SyntheticRun.objects.get(pk=job.pk).task_id  # recorded by the worker
    assert User.objects.filter(kind=User.Kind.SYNTHETIC).count() == 2500
    ratings = Rating.objects.filter(user__kind=User.Kind.SYNTHETIC).count()
    assert f"{ratings:,} ratings created" in result["last"]["message"]
    page = client.get("/system/").content.decode()
    assert re.search(r"All synthetic</th><td class=\"num\">2,500</td>", page)
    assert "data-progress-url" not in page.split('id="ratings"')[1]
    assert result["last"]["message"] in page  # the finished job's summary stays on the panel

    response = client.post("/system/ratings/synthetic/remove/", {"csrfmiddlewaretoken": token})
    assert response.status_code == 302
    job = SyntheticRun.objects.latest("created_at")
    assert job.action == "remove"
    result = _wait_done(client, f"/system/ratings/synthetic/{job.pk}/progress/")
    assert result["last"]["message"] == f"Done: 2,500 users and {ratings:,} ratings removed."
    assert not User.objects.filter(kind=User.Kind.SYNTHETIC).exists()
