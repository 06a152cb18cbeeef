"""The data-status panel of the staff system page, its import actions, and the catalog admin."""

import re

import pytest
from django.test import Client

from catalog.models import ImportRun
from tests.catalog.importing_helpers import SAMPLE_DIR, run_import, write_file

pytestmark = pytest.mark.django_db

START_URL = "/system/catalog/import/"


@pytest.fixture
def staff_client(staff_user):
    client = Client(enforce_csrf_checks=True)
    client.force_login(staff_user)
    return client


def _csrf(client) -> str:
    page = client.get("/admin/").content.decode()  # cheaper than /system/, which checks every service
    return re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page).group(1)


def test_panel_shows_rows_per_table_and_the_last_imports(staff_client, tmp_path):
    write_file(tmp_path, "title.ratings", ["tt0000001\t7.5\t12", "tt0000002\tseven\t3"])
    run = run_import(tmp_path)

    page = staff_client.get("/system/").content.decode()

    assert 'id="catalog"' in page and "Data status" in page
    assert re.search(r"<td>title.ratings</td><td[^>]*>catalog_titlerating</td><td class=\"num\">1</td>", page)
    assert f"#{run.pk}</a>" in page and "Succeeded" in page
    assert f"?run__id__exact={run.pk}" in page  # the rejects, in the admin
    assert "title.ratings.tsv" in page and "first load" in page
    assert page.count('name="csrfmiddlewaretoken"') >= 3  # sample, directory, download
    assert "data-progress-url" not in page  # nothing running


def test_post_queues_an_import_for_the_worker(staff_client, django_capture_on_commit_callbacks):
    token = _csrf(staff_client)

    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        response = staff_client.post(START_URL, {"source": "sample", "csrfmiddlewaretoken": token})

    assert response.status_code == 302 and response["Location"] == "/system/#catalog"
    run = ImportRun.objects.get()
    assert (run.status, run.source) == (ImportRun.Status.QUEUED, str(SAMPLE_DIR.resolve()))
    assert len(callbacks) == 1  # the task goes to the broker only once the run row is committed
    page = staff_client.get("/system/").content.decode()
    assert f'data-progress-url="/system/catalog/import/{run.pk}/progress/"' in page
    assert f"Import #{run.pk} queued" in page

    progress = staff_client.get(f"/system/catalog/import/{run.pk}/progress/").json()
    assert progress == {
        "progress": 0.0,
        "message": "Waiting for a worker…",
        "done": False,
        "status": "queued",
        "rows_done": 0,
    }


def test_directory_import_is_validated(staff_client, tmp_path):
    token = _csrf(staff_client)

    response = staff_client.post(
        START_URL,
        {"source": "directory", "directory": str(tmp_path / "nope"), "csrfmiddlewaretoken": token},
        follow=True,
    )

    assert not ImportRun.objects.exists()
    assert "Import not started:" in response.content.decode() and "is not a directory" in response.content.decode()


def test_progress_of_a_finished_run(staff_client, tmp_path):
    write_file(tmp_path, "title.ratings", ["tt0000001\t7.5\t12"])
    run = run_import(tmp_path)

    progress = staff_client.get(f"/system/catalog/import/{run.pk}/progress/").json()

    assert progress["done"] is True and progress["progress"] == 1.0 and progress["status"] == "succeeded"
    assert progress["message"] == "Succeeded: 1 lines"


def test_actions_are_for_staff_with_csrf_only(client, user_factory, staff_user):
    assert client.post(START_URL, {"source": "sample"}).status_code == 302  # to the login page
    client.force_login(user_factory())
    assert client.post(START_URL, {"source": "sample"}).status_code == 403
    assert client.get("/system/catalog/import/1/progress/").status_code == 403
    csrf_client = Client(enforce_csrf_checks=True)
    csrf_client.force_login(staff_user)
    assert csrf_client.post(START_URL, {"source": "sample"}).status_code == 403  # no token
    assert csrf_client.get(START_URL).status_code == 405
    assert not ImportRun.objects.exists()


def test_admin_lists_filter_and_search_the_catalog(staff_user, client):
    client.force_login(staff_user)
    run = run_import(SAMPLE_DIR)

    pages = {
        "/admin/catalog/title/?type=movie&genre=Drama&decade=1940": "Casablanca",
        "/admin/catalog/title/?q=Casablanca": "tt0034583",
        "/admin/catalog/person/?q=Astaire": "Fred Astaire",
        "/admin/catalog/principal/?category=actor": "actor",
        "/admin/catalog/crew/?role=director": "director",
        "/admin/catalog/titleaka/?q=tt0034583": "tt0034583",
        "/admin/catalog/titlerating/": "tt0",
        "/admin/catalog/episode/": "0 episodes",
        f"/admin/catalog/importrun/{run.pk}/change/": "title.principals.tsv.gz",
        "/admin/catalog/importrun/": "Succeeded",
        "/admin/catalog/importreject/": "0 import rejects",
    }
    for url, expected in pages.items():
        response = client.get(url)
        assert response.status_code == 200, url
        assert expected in response.content.decode(), url
    comedy = client.get("/admin/catalog/title/?genre=Comedy&decade=1940").content.decode()
    assert "Casablanca" not in comedy
