"""IMDb's ratings export through the one member import mechanism (``MemberImportRun``): a small
file at once with its report on the import page, a large one as a run on a worker with progress and
a paginated report, one import per member at a time, the caps (rows, plausible dates) before
anything is recorded. Ported from m-limits' tests of its own ``MemberImport`` (dropped)."""

import re

import pytest
from django.test import Client

from ratings.member_imports import member_import_execute
from ratings.models import MemberImportRun, Rating
from tests.helpers import wait_for
from tests.ratings.test_imdb_csv import csv_file, row


@pytest.fixture
def known(title_factory):
    return [title_factory(tconst=f"tt00003{n:02d}") for n in range(5)]


def _file(known, unmatched: int):
    lines = [row(title.tconst, 8) for title in known]
    lines += [row(f"tt09{n:05d}", 6, title=f"Missing {n}") for n in range(unmatched)]
    return csv_file(*lines)


@pytest.mark.django_db
def test_a_small_file_is_imported_at_once_with_its_report(member_client, member, known):
    response = member_client.post("/me/import/", {"file": _file(known, 120)})
    assert response.status_code == 200
    html = response.content.decode()
    assert '<dd id="report-rows">125</dd>' in html and '<dd id="report-created">5</dd>' in html
    assert Rating.objects.filter(user=member).count() == 5
    assert not MemberImportRun.objects.exists()  # nothing kept: the page showed the whole report


@pytest.mark.django_db
def test_a_large_file_goes_to_a_worker_and_shows_progress(member_client, member, known, settings):
    settings.MEMBER_IMPORT_INLINE_ROWS = 10
    response = member_client.post("/me/import/", {"file": _file(known, 120)})
    run = MemberImportRun.objects.get(user=member)
    assert response.status_code == 302 and response["Location"] == f"/me/import/{run.pk}/"
    assert (run.status, run.file_kind, run.summary["films"]) == ("queued", "imdb", 125) and run.upload
    assert not Rating.objects.filter(user=member).exists()
    page = member_client.get(f"/me/import/{run.pk}/").content.decode()
    assert f'data-progress-url="/me/import/{run.pk}/progress/"' in page and "Waiting for a worker" in page
    assert member_client.get(f"/me/import/{run.pk}/progress/").json()["done"] is False
    # A second file while the first waits, small or large: refused, nothing recorded.
    for count in (0, 20):
        again = member_client.post("/me/import/", {"file": _file(known, count)})
        assert again.status_code == 400 and "is still queued" in again.content.decode()
    assert MemberImportRun.objects.filter(user=member).count() == 1
    assert not Rating.objects.filter(user=member).exists()

    member_import_execute(run_id=run.pk)  # the worker's side (the task calls only this)
    run.refresh_from_db()
    assert (run.status, run.progress, run.upload) == ("succeeded", 1.0, None)
    summary = run.summary
    assert (summary["matched"], summary["not_found"], summary["ratings_created"]) == (5, 120, 5)
    assert Rating.objects.filter(user=member).count() == 5
    assert member_client.get(f"/me/import/{run.pk}/progress/").json()["done"] is True
    report = member_client.get(f"/me/import/{run.pk}/").content.decode()
    assert '<dd id="report-created">5</dd>' in report and '<dd id="report-not-found">120</dd>' in report
    assert "Page 1 of 3" in report and report.count('class="import-') == 50
    last = member_client.get(f"/me/import/{run.pk}/", {"status": "not_found", "page": 3}).content.decode()
    assert "Page 3 of 3" in last and "Missing 119" in last and last.count('class="import-not_found"') == 20
    # A redelivered task does nothing.
    Rating.objects.filter(user=member).delete()
    member_import_execute(run_id=run.pk)
    assert not Rating.objects.filter(user=member).exists()


@pytest.mark.django_db
def test_another_member_cannot_see_a_report(member_client, member, known, user_factory, settings):
    settings.MEMBER_IMPORT_INLINE_ROWS = 2
    member_client.post("/me/import/", {"file": _file(known, 1)})
    run = MemberImportRun.objects.get(user=member)
    other = Client()
    other.force_login(user_factory())
    assert other.get(f"/me/import/{run.pk}/").status_code == 404
    assert other.get(f"/me/import/{run.pk}/progress/").status_code == 404


@pytest.mark.django_db
@pytest.mark.parametrize("inline_rows", [300, 0])
def test_a_bad_file_records_nothing(member_client, member, known, settings, inline_rows):
    settings.MEMBER_IMPORT_INLINE_ROWS = inline_rows
    for date in ("9999-12-31", "1873-12-31"):
        response = member_client.post("/me/import/", {"file": csv_file(row(known[0].tconst, 8, date))})
        assert response.status_code == 400 and "not a plausible date" in response.content.decode()
    assert not MemberImportRun.objects.exists() and not Rating.objects.exists()


@pytest.mark.django_db
def test_too_many_rows_are_refused_before_anything_is_recorded(member_client, member, known, settings):
    settings.MAX_RATINGS_IMPORT_ROWS = 50
    settings.MEMBER_IMPORT_INLINE_ROWS = 10
    response = member_client.post("/me/import/", {"file": _file(known, 60)})
    assert response.status_code == 400 and "the limit is 50 per import" in response.content.decode()
    assert not MemberImportRun.objects.exists() and not Rating.objects.exists()


@pytest.mark.celery_worker
def test_a_large_import_runs_on_a_real_worker(celery_worker_process, user_factory, title_factory, settings):
    settings.MEMBER_IMPORT_INLINE_ROWS = 10
    known = [title_factory(tconst=f"tt00004{n:02d}") for n in range(30)]
    member = user_factory()
    client = Client()
    client.force_login(member)
    response = client.post("/me/import/", {"file": _file(known, 3000)})
    assert response.status_code == 302
    run_url = response["Location"]
    wait_for(lambda: client.get(run_url + "progress/").json()["done"], timeout=60, what="the import")
    run = MemberImportRun.objects.get(user=member)
    assert run.status == "succeeded" and run.task_id and run.summary["ratings_created"] == 30
    assert Rating.objects.filter(user=member).count() == 30
    page = client.get(run_url).content.decode()
    assert re.search(r'<dd id="report-not-found">3,000</dd>', page) and "Page 1 of 61" in page
