"""Numbers in query parameters and admin filters: Unicode digits are not numbers anywhere.

``str.isdigit()`` accepts "²", "①" and "¹⁰" and ``int()`` then raises (a 500); ``int()`` reads
"８" and "٨" as 8. Every number a request carries goes through ``imdbrec.parsing``: these answer
like any other invalid value (ignored or a form error), never 500, never as 8.
"""

from __future__ import annotations

import pytest

from tests.factories import make_title

pytestmark = pytest.mark.django_db

UNICODE_NUMBERS = ["²", "①", "¹⁰", "８", "٨"]


@pytest.fixture
def staff_client(client, staff_user):
    client.force_login(staff_user)
    return client


@pytest.mark.parametrize("value", UNICODE_NUMBERS)
def test_admin_decade_filter_ignores_unicode_digits(staff_client, value):
    make_title("tt0000801", primary_title="Eighties Film", start_year=1985)
    response = staff_client.get("/admin/catalog/title/", {"decade": value})
    assert response.status_code in (200, 302), response.status_code  # the admin may drop an unknown value


@pytest.mark.parametrize("value", UNICODE_NUMBERS)
def test_title_filters_refuse_unicode_years_and_pages(client, value):
    make_title("tt0000802", primary_title="Some Film", start_year=1985)
    response = client.get("/titles/", {"year_min": value, "min_votes": value, "page": value})
    assert response.status_code == 200
    body = response.content.decode()
    assert "Enter a whole number." in body
    assert "Some Film" in body  # the invalid filters are ignored, the list is shown


@pytest.mark.parametrize("value", UNICODE_NUMBERS)
def test_member_pages_take_unicode_page_numbers_as_the_first_page(member_client, value):
    for path in ("/me/ratings/", "/me/watchlist/", "/me/not-interested/", "/recommendations/", "/onboarding/"):
        response = member_client.get(path, {"page": value, "more": value, "year_min": value})
        assert response.status_code == 200, (path, response.status_code)


def test_a_unicode_content_length_is_refused_with_400(client):
    response = client.generic("POST", "/accounts/login/", b"", CONTENT_LENGTH="٨")
    assert response.status_code == 400
