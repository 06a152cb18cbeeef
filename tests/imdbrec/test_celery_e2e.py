"""End to end: the system page queues an import, a real Celery worker runs it, the rows appear."""

import re

import pytest
from django.test import Client

from catalog.models import Crew, ImportRun, Person, Principal, Title
from tests.helpers import wait_for

pytestmark = [pytest.mark.celery_worker, pytest.mark.shared_data]


def test_system_page_import_runs_on_a_real_worker(celery_worker_process, staff_user, shared_data):
    client = Client(enforce_csrf_checks=True)
    client.force_login(staff_user)
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', client.get("/admin/").content.decode()).group(1)

    response = client.post(
        "/system/catalog/import/",
        {
            "source": "directory",
            "directory": str(shared_data / "imdb-fixtures"),
            "csrfmiddlewaretoken": token,
        },
    )

    assert response.status_code == 302
    run = ImportRun.objects.get()
    progress_url = f"/system/catalog/import/{run.pk}/progress/"

    def finished():
        progress = client.get(progress_url).json()
        return progress if progress["done"] else None

    progress = wait_for(finished, timeout=90, interval=0.5, what="the worker finishing the import")

    run.refresh_from_db()
    assert run.status == ImportRun.Status.SUCCEEDED, run.error
    assert run.task_id  # recorded by the worker
    assert progress == {
        "progress": 1.0,
        "message": "Succeeded: 1,236 lines",
        "done": True,
        "status": "succeeded",
        "rows_done": 1236,
    }  # 219 + 12 + 75 + 240 + 75 + 43 + 572
    assert (Title.objects.count(), Person.objects.count(), Principal.objects.count(), Crew.objects.count()) == (
        75,
        219,
        572,
        188,
    )
    assert Title.objects.filter(num_votes__gt=0).count() == 12
