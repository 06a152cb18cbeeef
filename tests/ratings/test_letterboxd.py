"""The Letterboxd import: parsing, matching tricky rows, the one-transaction write, the views.

The export in ``tests/fixtures/letterboxd/export`` is written by hand from Letterboxd's format
(see its README); ``letterboxd_catalog`` holds the IMDb titles its films should find.
"""

import datetime as dt
import io
import zipfile
from pathlib import Path

import numpy as np
import pytest
from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from ratings.letterboxd import member_export_parse, stars_from_halves
from ratings.member_imports import member_import_start
from ratings.models import MemberImportRun, NotInterested, Rating, WatchlistItem
from ratings.movielens import movielens_stars
from ratings.title_matching import AMBIGUOUS, MATCHED, NOT_FOUND, Wanted, title_key, title_match
from tests.factories import make_letterboxd_catalog

EXPORT = Path(__file__).parents[1] / "fixtures" / "letterboxd" / "export"


def export_zip(directory: Path = EXPORT, *, replace: dict[str, bytes] | None = None) -> bytes:
    body = io.BytesIO()
    with zipfile.ZipFile(body, "w") as archive:
        for path in sorted(directory.rglob("*.csv")):
            name = path.relative_to(directory).as_posix()
            archive.writestr(name, (replace or {}).get(name, path.read_bytes()))
    return body.getvalue()


def upload(data: bytes, name: str = "letterboxd-cinephile-2024-06-30-12-00-utc.zip") -> SimpleUploadedFile:
    return SimpleUploadedFile(name, data)


@pytest.fixture
def letterboxd_catalog(db):
    return make_letterboxd_catalog()


# --- scores ----------------------------------------------------------------------------------


def test_half_stars_round_up_exactly_as_the_movielens_import_does():
    halves = np.arange(1, 11)
    assert [stars_from_halves(int(h)) for h in halves] == list(movielens_stars(halves / 2))
    assert [stars_from_halves(h) for h in range(1, 11)] == [1, 1, 2, 2, 3, 3, 4, 4, 5, 5]


# --- parsing ---------------------------------------------------------------------------------


def test_the_export_parses_with_bom_windows_line_ends_quotes_and_commas():
    export = member_export_parse(name="export.zip", raw=export_zip())
    assert export.kind == "letterboxd"
    assert export.files == ["diary.csv", "ratings.csv", "watched.csv", "watchlist.csv"]  # lists/, reviews skipped
    names = {row.name: row for row in export.ratings}
    assert names["Amélie"].stars == 5 and names["Amélie"].halves == 9  # the BOM did not eat "Date"
    assert names["Crouching Tiger, Hidden Dragon"].stars == 4
    assert names['"Weird Al" Yankovic Live!'].stars == 1
    assert names["Le Samouraï"].stars == 4  # rated only in the diary: the latest viewing wins
    assert names["Le Samouraï"].date == dt.date(2024, 5, 1)
    assert names["Oldboy"].stars == 5  # ratings.csv, not the unrated rewatch in the diary
    assert [row.name for row in export.watchlist] == ["Stalker", "Yi Yi", "Not On IMDb At All"]
    assert export.watched_unrated == 2  # Paths of Glory, Stalker


@pytest.mark.parametrize(
    ("line", "message"),
    [
        (
            "2023-03-09,Broken,2001,https://boxd.it/b,4.3",
            "ratings.csv:16: Rating “4.3” is not a half star from 0.5 to 5",
        ),
        ("2023-03-09,Broken,2001,https://boxd.it/b,6", "ratings.csv:16: Rating “6” is not a half star"),
        ("09/03/2023,Broken,2001,https://boxd.it/b,4", "ratings.csv:16: Date “09/03/2023” is not a date"),
        ("9999-12-31,Broken,2001,https://boxd.it/b,4", "ratings.csv:16: Date “9999-12-31” is not a plausible date"),
        ("1873-12-31,Broken,2001,https://boxd.it/b,4", "ratings.csv:16: Date “1873-12-31” is not a plausible date"),
        ("2023-03-09,Broken,20O1,https://boxd.it/b,4", "ratings.csv:16: Year “20O1” is not a year"),
        ("2023-03-09,Broken,2001,4", "ratings.csv:16: 4 columns, the header has 5"),
        ("2023-03-09,Alien,1979,https://boxd.it/2awi,4", "ratings.csv:16: “Alien” is listed again (first on line 11)"),
    ],
)
def test_a_bad_line_refuses_the_whole_upload_with_file_line_and_reason(letterboxd_catalog, member, line, message):
    Rating.objects.create(user=member, title=letterboxd_catalog["alien"], score=1)
    ratings = (EXPORT / "ratings.csv").read_bytes() + line.encode() + b"\r\n"
    with pytest.raises(ValidationError) as error:
        member_import_start(user=member, upload=upload(export_zip(replace={"ratings.csv": ratings})))
    assert any(message in text for text in error.value.messages), error.value.messages
    assert "nothing was imported" in error.value.messages[0]
    assert list(Rating.objects.filter(user=member).values_list("score", flat=True)) == [1]
    assert not WatchlistItem.objects.filter(user=member).exists()
    assert not MemberImportRun.objects.exists()


@pytest.mark.parametrize(
    ("name", "data", "message"),
    [
        (
            "ratings.csv",
            b"Date,Name,Year,Letterboxd URI,Rating\n2023-01-01,Caf\xe9,2001,u,4\n",
            "ratings.csv:2: not UTF-8",
        ),
        ("ratings.csv", b"Date,Name,Letterboxd URI,Rating\n2023-01-01,Cafe,u,4\n", "the header lacks Year"),
        ("export.zip", b"PK\x03\x04 not really a zip", "is not a readable ZIP"),
        ("movies.csv", b"title,stars\nAlien,5\n", "neither Letterboxd's"),
        ("ratings.csv", b"Date,Name,Year,Letterboxd URI,Rating\n", "no ratings and no watchlist entries"),
    ],
)
def test_malformed_files_are_refused_with_a_reason(db, member, name, data, message):
    with pytest.raises(ValidationError) as error:
        member_import_start(user=member, upload=upload(data, name))
    assert any(message in text for text in error.value.messages), error.value.messages


def test_a_utf16_file_saved_by_a_spreadsheet_is_read(letterboxd_catalog, member):
    text = "Date,Name,Year,Letterboxd URI,Rating\r\n2023-01-01,Amélie,2001,https://boxd.it/2b0k,3\r\n"
    run = member_import_start(user=member, upload=upload(text.encode("utf-16"), "ratings.csv"))
    assert run.status == MemberImportRun.Status.SUCCEEDED
    assert Rating.objects.get(user=member).title == letterboxd_catalog["amelie"]


# --- matching --------------------------------------------------------------------------------


def test_title_key_folds_case_accents_and_punctuation():
    assert title_key("Mission: Impossible – Fallout") == title_key("mission impossible - FALLOUT")
    assert title_key("Amélie") == "amelie"
    assert title_key("Fast & Furious") == "fast and furious"
    assert title_key("千と千尋の神隠し") == "千と千尋の神隠し"


def test_tricky_rows_are_matched_through_akas_years_types_and_popularity(letterboxd_catalog):
    catalog = letterboxd_catalog
    cases = [
        ("Amélie", 2001, MATCHED, "amelie"),  # alternative title, accents
        ("Suspiria", 1977, MATCHED, "suspiria_1977"),  # remake: the year decides
        ("Suspiria", 2018, MATCHED, "suspiria_2018"),
        ("The Thing", 1982, MATCHED, "thing_1982"),
        ("Oldboy", 2003, MATCHED, "oldboy"),  # an aka in 2003 beats the 2013 remake's primary title
        ("Tokyo Story", 1953, MATCHED, "tokyo"),
        ("tôkyô MONOGATARI", 1953, MATCHED, "tokyo"),
        ("Mission: Impossible – Fallout", 2018, MATCHED, "fallout"),  # en dash against a hyphen
        ("Monos", 2019, MATCHED, "monos"),  # a year off by one
        ("Heat", 1995, MATCHED, "heat"),  # a feature before a (more voted) TV movie; episodes never
        ("Alien", 1979, MATCHED, "alien"),  # the famous film against an obscure namesake
        ("Home", 2015, AMBIGUOUS, None),  # two namesakes, neither far better known
        ("Suspiria", 1990, NOT_FOUND, None),
        ("A Film Nobody Indexed", 1999, NOT_FOUND, None),
    ]
    matches = title_match(Wanted(key=index, name=name, year=year) for index, (name, year, _, _) in enumerate(cases))
    for index, (name, year, status, expected) in enumerate(cases):
        match = matches[index]
        assert match.status == status, (name, year, match)
        if expected:
            assert match.tconst == catalog[expected].tconst, (name, year, match)
    assert matches[0].via_alternative and not matches[1].via_alternative
    assert {candidate.tconst for candidate in matches[11].candidates} == {
        catalog["home_a"].tconst,
        catalog["home_b"].tconst,
    }


# --- the import ------------------------------------------------------------------------------


def test_the_export_imports_ratings_and_watchlist_with_a_full_report(letterboxd_catalog, member):
    catalog = letterboxd_catalog
    Rating.objects.create(user=member, title=catalog["alien"], score=2)
    Rating.objects.create(user=member, title=catalog["heat"], score=4)
    NotInterested.objects.create(user=member, title=catalog["stalker"])
    run = member_import_start(user=member, upload=upload(export_zip()))
    assert run.status == MemberImportRun.Status.SUCCEEDED, run.error
    stars = dict(Rating.objects.filter(user=member).values_list("title_id", "score"))
    expected = {
        "amelie": 5, "suspiria_1977": 4, "suspiria_2018": 3, "crouching": 4, "weird_al": 1, "tokyo": 5,
        "fallout": 3, "thing_1982": 5, "alien": 5, "heat": 4, "monos": 4, "oldboy": 5, "samourai": 4,
    }  # fmt: skip
    assert stars == {catalog[key].tconst: value for key, value in expected.items()}
    amelie = Rating.objects.get(user=member, title=catalog["amelie"])
    assert amelie.created_at == dt.datetime(2023, 1, 5, 12, tzinfo=dt.UTC)
    assert set(WatchlistItem.objects.filter(user=member).values_list("title_id", flat=True)) == {
        catalog["stalker"].tconst,
        catalog["yi_yi"].tconst,
    }
    assert not NotInterested.objects.filter(user=member).exists()  # the watchlist is the later word
    summary = run.summary
    assert summary["films"] == 14 + 1 + 3  # ratings.csv, the diary-only rating, watchlist.csv
    assert (summary["matched"], summary["ambiguous"], summary["not_found"]) == (13 + 2, 1, 2)
    assert (summary["ratings_created"], summary["ratings_updated"], summary["ratings_unchanged"]) == (11, 1, 1)
    assert summary["watchlist_added"] == 2 and summary["watched_unrated"] == 2
    by_line = {(row["file"], row["line"]): row for row in run.rows}
    assert by_line[("ratings.csv", 9)]["status"] == AMBIGUOUS and len(by_line[("ratings.csv", 9)]["candidates"]) == 2
    assert by_line[("ratings.csv", 2)]["via_alternative"] is True
    assert by_line[("watchlist.csv", 4)]["status"] == NOT_FOUND
    assert run.upload is None

    again = member_import_start(user=member, upload=upload(export_zip()))
    assert again.summary["ratings_created"] == 0 and again.summary["ratings_unchanged"] == 13


def test_one_csv_of_the_export_is_enough(letterboxd_catalog, member):
    run = member_import_start(user=member, upload=upload((EXPORT / "diary.csv").read_bytes(), "diary.csv"))
    assert dict(Rating.objects.filter(user=member).values_list("title_id", "score")) == {
        letterboxd_catalog["amelie"].tconst: 5,
        letterboxd_catalog["thing_1982"].tconst: 5,
        letterboxd_catalog["samourai"].tconst: 4,
    }
    assert run.summary["diary_lines"] == 6


# --- views -----------------------------------------------------------------------------------


def test_the_import_page_takes_the_zip_and_shows_a_paginated_report(letterboxd_catalog, member_client, settings):
    response = member_client.post(reverse("ratings:import"), {"file": upload(export_zip())})
    run = MemberImportRun.objects.get()
    assert response.status_code == 302 and response["Location"] == reverse("ratings:import_run", args=[run.pk])
    page = member_client.get(response["Location"])
    html = page.content.decode()
    assert page.status_code == 200
    assert 'id="report-matched">15' in html and "Le fabuleux destin" in html and "Ambiguous" in html
    ambiguous = member_client.get(response["Location"] + "?status=ambiguous").content.decode()
    assert "Home (2015)" in ambiguous and "Suspiria" not in ambiguous
    from ratings import views

    settings_size = views.IMPORT_REPORT_PAGE_SIZE
    views.IMPORT_REPORT_PAGE_SIZE = 5
    try:
        second = member_client.get(response["Location"] + "?page=2").content.decode()
    finally:
        views.IMPORT_REPORT_PAGE_SIZE = settings_size
    assert "Page 2 of 4" in second


def test_the_import_page_refuses_a_bad_file_with_its_line(letterboxd_catalog, member_client):
    bad = b"Date,Name,Year,Letterboxd URI,Rating\n2023-01-01,Alien,1979,u,7\n"
    response = member_client.post(reverse("ratings:import"), {"file": upload(bad, "ratings.csv")})
    assert response.status_code == 400
    assert "ratings.csv:2: Rating “7” is not a half star from 0.5 to 5" in response.content.decode()
    assert not Rating.objects.exists()


def test_another_members_import_is_not_found(letterboxd_catalog, member, client, user_factory):
    run = member_import_start(user=member, upload=upload(export_zip()))
    client.force_login(user_factory(username="other"))
    assert client.get(reverse("ratings:import_run", args=[run.pk])).status_code == 404


def test_the_imdb_export_still_goes_to_the_imdb_import(letterboxd_catalog, member_client):
    alien = letterboxd_catalog["alien"]
    imdb = (
        "Const,Your Rating,Date Rated,Title,URL,Title Type,IMDb Rating,Runtime (mins),Year,Genres,Num Votes,"
        f"Release Date,Directors\n{alien.tconst},8,2024-01-01,Alien,u,movie,8.5,117,1979,Horror,1,1979-05-25,Scott\n"
    )
    response = member_client.post(reverse("ratings:import"), {"file": upload(imdb.encode(), "ratings.csv")})
    assert response.status_code == 200 and 'id="report-created">1' in response.content.decode()
    assert not MemberImportRun.objects.exists()


def test_a_large_upload_is_queued_and_its_page_follows_the_progress(letterboxd_catalog, member_client, settings):
    settings.MEMBER_IMPORT_INLINE_ROWS = 5
    response = member_client.post(reverse("ratings:import"), {"file": upload(export_zip())})
    run = MemberImportRun.objects.get()
    assert run.status == MemberImportRun.Status.QUEUED and bytes(run.upload) == export_zip()
    assert not Rating.objects.exists()  # nothing is written before the worker has matched every film
    html = member_client.get(response["Location"]).content.decode()
    assert reverse("ratings:import_run_progress", args=[run.pk]) in html and "Waiting for a worker" in html
    progress = member_client.get(reverse("ratings:import_run_progress", args=[run.pk])).json()
    assert progress == {"progress": 0.0, "message": "", "status": "queued", "done": False}
    again = member_client.post(reverse("ratings:import"), {"file": upload(export_zip())})
    assert again.status_code == 400 and "is still queued" in again.content.decode()
