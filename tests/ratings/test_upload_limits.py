"""An upload to /me/import/ stops being read at its limit (ratings/uploads.py): the member gets the
limit's message, nothing is imported, and the parser did not read the file to its end."""

import re

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.files.uploadhandler import StopUpload
from django.test import RequestFactory
from django.urls import reverse

from ratings.models import MemberImportRun, Rating
from ratings.uploads import UploadLimitHandler

pytestmark = pytest.mark.django_db

HEADER = (
    "Const,Your Rating,Date Rated,Title,URL,Title Type,IMDb Rating,Runtime (mins),Year,Genres,Num Votes,"
    "Release Date,Directors\n"
)


def _imdb_csv(rows: int) -> bytes:
    return (HEADER + "".join(f"tt9{number:07d},7,2020-01-01,,,,,,,,,,\n" for number in range(rows))).encode()


def _chunks(data: bytes, size: int = 64 * 1024):
    return [data[start : start + size] for start in range(0, len(data), size)]


def _handler(name: str = "ratings.csv") -> UploadLimitHandler:
    request = RequestFactory().post("/me/import/")
    handler = UploadLimitHandler(request)
    handler.new_file("file", name, "text/csv", None)
    return handler


def test_a_ratings_file_with_too_many_lines_is_refused(member_client, settings):
    settings.MAX_RATINGS_IMPORT_ROWS = 100
    upload = SimpleUploadedFile("ratings.csv", _imdb_csv(5000), content_type="text/csv")
    response = member_client.post(reverse("ratings:import"), {"file": upload})
    assert response.status_code == 400
    assert "The file has more than 100 ratings; the limit is 100 per import" in response.content.decode()
    assert not Rating.objects.exists() and not MemberImportRun.objects.exists()


def test_the_handler_stops_at_the_first_chunk_over_the_row_limit(settings):
    settings.MAX_RATINGS_IMPORT_ROWS = 2000  # + LINE_SLACK (1,000) lines: about 100 KB of this file
    data = _imdb_csv(40_000)
    chunks = _chunks(data)
    handler = _handler()
    read = 0
    with pytest.raises(StopUpload) as stopped:
        for chunk in chunks:
            read += len(chunk)
            handler.receive_data_chunk(chunk, read - len(chunk))
    assert not stopped.value.connection_reset  # the rest is read away, the browser gets the page
    assert read <= 3 * 64 * 1024 < len(data) / 5
    assert "more than 2,000 ratings" in handler.request.upload_refused


def test_a_zip_is_counted_in_bytes_not_lines(settings):
    settings.MAX_RATINGS_IMPORT_ROWS = 10
    settings.MAX_MEMBER_IMPORT_BYTES = 200 * 1024
    settings.MAX_RATINGS_UPLOAD_BYTES = 100 * 1024
    handler = _handler("export.zip")
    data = b"PK\x03\x04" + b"\n" * (150 * 1024)  # many newline bytes: a ZIP's are not lines
    for number, chunk in enumerate(_chunks(data)):
        handler.receive_data_chunk(chunk, number * 64 * 1024)
    with pytest.raises(StopUpload):
        handler.receive_data_chunk(b"\0" * 64 * 1024, len(data))
    assert "the limit is 200.0\xa0KB" in handler.request.upload_refused


def test_a_file_within_the_limits_is_imported(member_client, settings):
    from tests.factories import make_title

    title = make_title()
    data = (HEADER + f"{title.tconst},8,2021-05-01,,,,,,,,,,\n").encode()
    response = member_client.post(
        reverse("ratings:import"), {"file": SimpleUploadedFile("ratings.csv", data, content_type="text/csv")}
    )
    assert response.status_code == 200, re.findall(r"<li>(.*?)</li>", response.content.decode())
    assert Rating.objects.get(title=title).score == 4  # IMDb's 8/10: four stars
