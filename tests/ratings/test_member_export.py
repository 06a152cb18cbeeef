"""Everything out: the export ZIP, its round trip through the import, the offer before deleting."""

import csv
import io
import json
import zipfile

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from ratings.member_export import member_export_files
from ratings.member_imports import member_import_start
from ratings.models import MemberImportRun, NotInterested, Rating, WatchlistItem
from tests.helpers import wait_for


@pytest.fixture
def member_with_data(member, title_factory):
    titles = [title_factory(primary_title=f"Film {index}", start_year=1990 + index) for index in range(8)]
    titles[7].primary_title = '=HYPERLINK("http://evil")'
    titles[7].save()
    for score, title in zip([1, 2, 3, 4, 5, 5, 3], titles, strict=False):
        Rating.objects.create(user=member, title=title, score=score)
    Rating.objects.create(user=member, title=titles[7], score=2)
    member.favourite_genres = ["Drama"]
    member.save()
    extra = [title_factory(primary_title=f"Later {index}") for index in range(3)]
    WatchlistItem.objects.create(user=member, title=extra[0])
    WatchlistItem.objects.create(user=member, title=extra[1])
    NotInterested.objects.create(user=member, title=extra[2])
    return member


def _rows(text: str) -> list[dict]:
    return list(csv.DictReader(io.StringIO(text)))


def _state(user) -> tuple:
    return (
        dict(Rating.objects.filter(user=user).values_list("title_id", "score")),
        {str(day) for day in Rating.objects.filter(user=user).values_list("created_at__date", flat=True)},
        set(WatchlistItem.objects.filter(user=user).values_list("title_id", flat=True)),
        set(NotInterested.objects.filter(user=user).values_list("title_id", flat=True)),
    )


def test_the_zip_holds_ratings_in_two_formats_lists_and_profile(member_with_data, member_client):
    response = member_client.get(reverse("ratings:export"))
    assert response.status_code == 200 and response["Content-Type"] == "application/zip"
    assert f'filename="imdbrec-{member_with_data.username}-' in response["Content-Disposition"]
    archive = zipfile.ZipFile(io.BytesIO(response.content))
    assert sorted(archive.namelist()) == sorted(
        ["README.txt", "ratings.csv", "ratings-stars.csv", "watchlist.csv", "not-interested.csv", "profile.json"]
    )
    ratings = _rows(archive.read("ratings.csv").decode())
    assert list(ratings[0]) == ["imdbID", "Title", "Year", "Rating10", "WatchedDate"]
    stars = _rows(archive.read("ratings-stars.csv").decode())
    assert list(stars[0]) == ["tconst", "title", "year", "stars", "rated_at"]
    by_id = {row["tconst"]: int(row["stars"]) for row in stars}
    assert {row["imdbID"]: int(row["Rating10"]) for row in ratings} == {k: 2 * v for k, v in by_id.items()}
    assert by_id == dict(Rating.objects.filter(user=member_with_data).values_list("title_id", "score"))
    assert any(row["Title"] == '\'=HYPERLINK("http://evil")' for row in ratings)  # not a live formula
    profile = json.loads(archive.read("profile.json"))
    assert profile["username"] == member_with_data.username and profile["favourite_genres"] == ["Drama"]
    assert profile["counts"] == {"ratings": 8, "watchlist": 2, "not_interested": 1}
    assert len(_rows(archive.read("watchlist.csv").decode())) == 2


def test_export_then_import_into_a_fresh_member_gives_the_same_ratings(
    member_with_data, member_client, client, user_factory
):
    data = member_client.get(reverse("ratings:export")).content
    fresh = user_factory(username="fresh")
    client.force_login(fresh)
    response = client.post(reverse("ratings:import"), {"file": SimpleUploadedFile("imdbrec-export.zip", data)})
    assert response.status_code == 302
    run = MemberImportRun.objects.get(user=fresh)
    assert run.status == MemberImportRun.Status.SUCCEEDED and run.file_kind == "imdb_ids"
    assert _state(fresh) == _state(member_with_data)
    assert run.summary["ratings_created"] == 8 and run.summary["not_found"] == 0


def test_anonymous_export_asks_to_log_in(client):
    response = client.get(reverse("ratings:export"))
    assert response.status_code == 302 and reverse("login") in response["Location"]


def test_the_delete_page_offers_the_export_first(member_with_data, member_client):
    html = member_client.get(reverse("accounts:delete")).content.decode()
    assert reverse("ratings:export") in html and "8 ratings" in html
    assert html.index('id="export-offer"') < html.index("Delete my account for good")


def test_files_are_plain_utf8_csv(member_with_data):
    files = member_export_files(user=member_with_data)
    assert files["watchlist.csv"].splitlines()[0] == "imdbID,Title,Year,Added"
    assert files["not-interested.csv"].count("\n") == 2


@pytest.mark.celery_worker
def test_a_large_import_runs_on_a_real_worker_with_progress(celery_worker_process, settings, user_factory):
    from tests.factories import make_title

    settings.MEMBER_IMPORT_INLINE_ROWS = 5
    owner = user_factory(username="owner")
    titles = [make_title(primary_title=f"Worker film {index}", start_year=2000) for index in range(30)]
    for index, title in enumerate(titles):
        Rating.objects.create(user=owner, title=title, score=index % 5 + 1)
    fresh = user_factory(username="fresh-worker")
    body = io.BytesIO()
    with zipfile.ZipFile(body, "w") as data:
        for name, text in member_export_files(user=owner).items():
            data.writestr(name, text)
    run = member_import_start(user=fresh, upload=SimpleUploadedFile("export.zip", body.getvalue()))
    assert run.status == MemberImportRun.Status.QUEUED
    wait_for(
        lambda: MemberImportRun.objects.get(pk=run.pk).status not in ("queued", "running"),
        timeout=60,
        what="the import run finishing",
    )
    run.refresh_from_db()
    assert run.status == MemberImportRun.Status.SUCCEEDED, run.error
    assert run.progress == 1.0 and run.task_id and run.upload is None
    assert dict(Rating.objects.filter(user=fresh).values_list("title_id", "score")) == dict(
        Rating.objects.filter(user=owner).values_list("title_id", "score")
    )
