"""A member's IMDb import as a record: small files at once with their report, large ones on a
worker with progress, the unmatched rows a page at a time, one import per member at a time."""

import re

import pytest
from django.test import Client

from ratings.member_imports import UNMATCHED_PAGE_SIZE, member_import_execute
from ratings.models import MemberImport, Rating
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
def test_a_small_file_is_imported_at_once_and_its_report_paginated(member_client, member, known):
    response = member_client.post("/me/import/", {"file": _file(known, 120)})
    assert response.status_code == 200
    html = response.content.decode()
    run = MemberImport.objects.get(user=member)
    assert (run.status, run.rows, run.created_count, len(run.unmatched)) == ("succeeded", 125, 5, 120)
    assert run.content == ""  # the file is not kept
    assert Rating.objects.filter(user=member).count() == 5
    assert '<dd id="report-rows">125</dd>' in html
    assert html.count("Missing ") == UNMATCHED_PAGE_SIZE  # one page, not 120 rows inline
    assert f'href="/me/import/{run.pk}/?page=2"' in html
    last = member_client.get(f"/me/import/{run.pk}/", {"page": 3}).content.decode()
    assert last.count("Missing ") == 120 - 2 * UNMATCHED_PAGE_SIZE and "Page 3 of 3" in last
    assert "Missing 119" in last


@pytest.mark.django_db
def test_a_large_file_goes_to_a_worker_and_shows_progress(member_client, member, known, settings):
    settings.RATINGS_IMPORT_INLINE_ROWS = 10
    response = member_client.post("/me/import/", {"file": _file(known, 20)})
    run = MemberImport.objects.get(user=member)
    assert response.status_code == 302 and response["Location"] == f"/me/import/{run.pk}/"
    assert run.status == "queued" and run.rows == 25 and run.content
    assert not Rating.objects.filter(user=member).exists()
    page = member_client.get(f"/me/import/{run.pk}/").content.decode()
    assert f'data-progress-url="/me/import/{run.pk}/progress/"' in page and "Waiting for a worker" in page
    assert member_client.get(f"/me/import/{run.pk}/progress/").json() == {
        "progress": 0.0,
        "message": "Waiting for a worker…",
        "done": False,
    }
    # A second file while the first waits: refused, nothing recorded.
    again = member_client.post("/me/import/", {"file": _file(known, 0)})
    assert again.status_code == 400 and f"Your import #{run.pk} is still queued" in again.content.decode()
    assert MemberImport.objects.filter(user=member).count() == 1

    member_import_execute(run_id=run.pk)  # the worker's side (the task calls only this)
    run.refresh_from_db()
    assert (run.status, run.progress, run.created_count, len(run.unmatched), run.content) == (
        "succeeded",
        1.0,
        5,
        20,
        "",
    )
    assert Rating.objects.filter(user=member).count() == 5
    assert member_client.get(f"/me/import/{run.pk}/progress/").json()["done"] is True
    assert '<dd id="report-created">5</dd>' in member_client.get(f"/me/import/{run.pk}/").content.decode()
    # A redelivered task does nothing.
    Rating.objects.filter(user=member).delete()
    member_import_execute(run_id=run.pk)
    assert not Rating.objects.filter(user=member).exists()


@pytest.mark.django_db
def test_another_member_cannot_see_a_report(member_client, member, known, user_factory):
    member_client.post("/me/import/", {"file": _file(known, 1)})
    run = MemberImport.objects.get(user=member)
    other = Client()
    other.force_login(user_factory())
    assert other.get(f"/me/import/{run.pk}/").status_code == 404
    assert other.get(f"/me/import/{run.pk}/progress/").status_code == 404


@pytest.mark.django_db
def test_a_bad_file_records_nothing(member_client, member, known):
    response = member_client.post("/me/import/", {"file": csv_file(row(known[0].tconst, 8, "9999-12-31"))})
    assert response.status_code == 400 and "not a plausible date" in response.content.decode()
    assert not MemberImport.objects.exists() and not Rating.objects.exists()


@pytest.mark.celery_worker
def test_a_large_import_runs_on_a_real_worker(celery_worker_process, user_factory, title_factory, settings):
    settings.RATINGS_IMPORT_INLINE_ROWS = 10
    known = [title_factory(tconst=f"tt00004{n:02d}") for n in range(30)]
    member = user_factory()
    client = Client()
    client.force_login(member)
    response = client.post("/me/import/", {"file": _file(known, 3000)})
    assert response.status_code == 302
    run_url = response["Location"]
    wait_for(lambda: client.get(run_url + "progress/").json()["done"], timeout=60, what="the import")
    run = MemberImport.objects.get(user=member)
    assert run.status == "succeeded" and run.task_id and run.created_count == 30
    assert Rating.objects.filter(user=member).count() == 30
    page = client.get(run_url).content.decode()
    assert re.search(r'<dd id="report-unmatched">3000</dd>', page) and "Page 1 of 60" in page
