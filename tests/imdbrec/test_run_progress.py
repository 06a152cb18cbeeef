"""RunProgress: a run's progress written through its own connection, from any thread."""

import threading

import pytest

from catalog.models import ImportRun
from imdbrec.runs import RunProgress

pytestmark = pytest.mark.django_db(transaction=True)


def _running_run() -> ImportRun:
    return ImportRun.objects.create(source="test", status=ImportRun.Status.RUNNING)


def test_progress_written_from_another_thread_after_the_first():
    """The import's index builds report from their own threads: each write must land (it once
    failed with Django's "objects created in a thread can only be used in that same thread")."""
    run = _running_run()
    writer = RunProgress(run)
    assert writer.write(progress=0.1, message="loading", force=True)
    results: list[bool] = []

    def from_thread(message: str) -> None:
        results.append(writer.write(progress=0.5, message=message, force=True))

    for name in ("building index a", "building index b"):
        thread = threading.Thread(target=from_thread, args=(name,))
        thread.start()
        thread.join()
    writer.close()
    assert results == [True, True]
    run.refresh_from_db()
    assert (run.progress, run.progress_message) == (0.5, "building index b")


def test_progress_not_written_to_a_finished_run():
    run = _running_run()
    ImportRun.objects.filter(pk=run.pk).update(status=ImportRun.Status.SUCCEEDED, progress=1.0)
    writer = RunProgress(run)
    writer.write(progress=0.2, message="late", force=True)
    writer.close()
    run.refresh_from_db()
    assert (run.progress, run.status) == (1.0, ImportRun.Status.SUCCEEDED)
