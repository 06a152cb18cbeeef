"""Headless Chromium: import a Letterboxd export, read its report, see the new statistics, and
take everything out from the delete-account page. Screenshots: test-artifacts/screenshots/member-*.png
(copied to $MEMBER_SHOTS_DIR when set)."""

import datetime as dt
import io
import os
import shutil
import zipfile
from pathlib import Path

import pytest

from ratings.models import Rating
from tests.browser.conftest import has_horizontal_overflow, login, screenshot
from tests.factories import make_crew, make_letterboxd_catalog, make_person
from tests.ratings.test_letterboxd import EXPORT, export_zip

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def shoot(page, name: str) -> Path:
    path = screenshot(page, f"member-{name}")
    if os.environ.get("MEMBER_SHOTS_DIR"):
        shutil.copy(path, Path(os.environ["MEMBER_SHOTS_DIR"]) / path.name)
    return path


def test_letterboxd_import_report_stats_and_export(page, phone_page, user_factory, tmp_path):
    page.set_default_timeout(20_000)
    catalog = make_letterboxd_catalog()
    kubrick = make_person(primary_name="Stanley Kubrick")
    for key in ("alien", "heat", "thing_1982"):
        make_crew(catalog[key], kubrick, "director")
    member = user_factory(username="cinephile")
    login(page, member)

    page.goto("/me/import/")
    shoot(page, "import-form")
    bad = tmp_path / "ratings.csv"
    bad.write_bytes((EXPORT / "ratings.csv").read_bytes() + b"2023-03-09,Broken,2001,https://boxd.it/b,4.3\r\n")
    page.set_input_files("input[type=file]", str(bad))
    page.click("form[action='/me/import/'] button[type=submit]")
    error = page.locator("#import-errors")
    assert "ratings.csv:16: Rating “4.3” is not a half star from 0.5 to 5" in error.inner_text()
    shoot(page, "import-refused")
    assert not Rating.objects.filter(user=member).exists()

    archive = tmp_path / "letterboxd-cinephile-2024-06-30-utc.zip"
    archive.write_bytes(export_zip())
    page.set_input_files("input[type=file]", str(archive))
    page.click("form[action='/me/import/'] button[type=submit]")
    page.wait_for_selector("#report-matched")
    assert page.inner_text("#report-matched").startswith("15")
    assert Rating.objects.filter(user=member).count() == 13
    shoot(page, "import-report")
    page.click("a[href='?status=ambiguous']")
    assert "Home (2015" in page.inner_text("#table-import-rows")
    shoot(page, "import-ambiguous")

    phone_page.context.add_cookies(page.context.cookies())
    phone_page.goto(page.url.split("?")[0])
    assert not has_horizontal_overflow(phone_page)
    shoot(phone_page, "import-report-phone")

    # The import dated the ratings from the file: 2023 and 2024 both have a review.
    assert {rating.created_at.year for rating in Rating.objects.filter(user=member)} == {2023, 2024}
    page.goto("/me/stats/?year=2023")
    assert "Stanley Kubrick" in page.inner_text("#stats-people")
    assert "Your 2023 in review" in page.inner_text("#year-review")
    page.locator("#stats-people").scroll_into_view_if_needed()
    shoot(page, "stats")
    assert not page.js_errors

    page.goto("/accounts/delete/")
    shoot(page, "delete-offers-export")
    with page.expect_download() as download_info:
        page.click("#export-offer a")
    data = Path(download_info.value.path()).read_bytes()
    names = zipfile.ZipFile(io.BytesIO(data)).namelist()
    assert "ratings.csv" in names and "profile.json" in names
    assert dt.date.today().isoformat() in download_info.value.suggested_filename
