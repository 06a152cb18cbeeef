"""Headless Chromium on the live server: sign up, log out, log in, search, filter, open a title
page and rate it, on a laptop; then the same pages at phone width. Screenshots are saved under
test-artifacts/screenshots/catalog-*.png."""

import re

import pytest

from accounts.models import User
from ratings.models import Rating
from tests.browser.conftest import has_horizontal_overflow, login, logout, screenshot
from tests.factories import make_small_catalog

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PASSWORD = "plum-Harbour-417"


def card_tconsts(page, selector="li[data-tconst]") -> list[str]:
    return page.locator(selector).evaluate_all("items => items.map(item => item.dataset.tconst)")


def test_sign_up_log_out_log_in_search_filter_and_open_a_title(page):
    make_small_catalog()

    page.goto("/")
    assert page.locator("h1").inner_text() == "Find your next film"
    screenshot(page, "catalog-01-home-anonymous")

    # Sign up through the form, with one refusal first.
    page.click("header >> text=Sign up")
    page.fill("input[name=username]", "cinephile")
    page.fill("input[name=email]", "cinephile@example.com")
    page.fill("input[name=password1]", "12345678")
    page.fill("input[name=password2]", "12345678")
    page.click("form.account-form button[type=submit]")
    assert page.locator(".errorlist").first.is_visible()
    screenshot(page, "catalog-02-signup-refused")
    page.fill("input[name=password1]", PASSWORD)
    page.fill("input[name=password2]", PASSWORD)
    page.click("form.account-form button[type=submit]")
    page.wait_for_selector("text=Welcome, cinephile!")
    assert User.objects.get(username="cinephile").kind == User.Kind.SITE
    screenshot(page, "catalog-03-signed-up")

    logout(page)
    assert page.locator("header >> text=cinephile").count() == 0

    page.goto("/accounts/login/")
    page.fill("input[name=username]", "cinephile")
    page.fill("input[name=password]", "not-my-password")
    page.click("form.account-form button[type=submit]")
    assert "correct username and password" in page.content()
    screenshot(page, "catalog-04-login-refused")
    page.fill("input[name=password]", PASSWORD)
    page.click("form.account-form button[type=submit]")
    page.wait_for_selector("header >> text=cinephile")

    # Search from the header, with a typo.
    page.fill("header input[name=q]", "casablanka")
    page.press("header input[name=q]", "Enter")
    page.wait_for_url(re.compile(r"/search/\?q=casablanka"))
    assert card_tconsts(page)[:3] == ["tt0034583", "tt0047719", "tt0038777"]
    screenshot(page, "catalog-05-search")

    # Filter: two genres, a year range and a sort, through the form; the URL carries the state.
    page.click("header >> text=Browse")
    page.check("input[name=genre][value=Drama]")
    page.check("input[name=genre][value=Romance]")
    page.fill("input[name=year_min]", "1940")
    page.fill("input[name=year_max]", "1960")
    page.select_option("select[name=sort]", "rating")
    page.click("text=Apply filters")
    page.wait_for_url(re.compile(r"genre=Drama&genre=Romance&year_min=1940&year_max=1960"))
    assert card_tconsts(page) == ["tt0034583"]
    assert page.locator("input[name=genre][value=Romance]").is_checked()
    assert page.locator(".errorlist").count() == 0
    screenshot(page, "catalog-06-browse-filtered")

    # Open the title page from the card and rate it; the stars post without a reload.
    page.click("li[data-tconst=tt0034583] a.card-title")
    page.wait_for_url(re.compile(r"/titles/tt0034583/$"))
    assert "Rick Blaine" in page.inner_text("#h-cast + ul")
    page.locator("form.stars .star:has(input[value='4'])").click()
    page.wait_for_selector("form.stars .star.on:has(input[value='4'])")
    user = User.objects.get(username="cinephile")
    assert Rating.objects.get(user=user, title_id="tt0034583").score == 4
    screenshot(page, "catalog-07-title-rated")

    page.goto("/titles/tt0098904/")
    assert page.locator("details.season").count() == 2
    screenshot(page, "catalog-08-series")
    page.goto("/people/nm0000007/")
    screenshot(page, "catalog-09-person")
    page.goto("/accounts/profile/")
    screenshot(page, "catalog-10-profile")
    assert page.js_errors == []


PHONE_PAGES = [
    ("/", "home"),
    ("/titles/?genre=Drama&sort=rating", "browse"),
    ("/search/?q=casablanca", "search"),
    ("/titles/tt0034583/", "title"),
    ("/titles/tt0098904/", "series"),
    ("/people/nm0000007/", "person"),
    ("/accounts/signup/", "signup"),
    ("/accounts/login/", "login"),
]


def test_pages_fit_a_phone(phone_page, user_factory):
    make_small_catalog()
    for path, name in PHONE_PAGES:
        phone_page.goto(path)
        screenshot(phone_page, f"catalog-phone-{name}")
        assert not has_horizontal_overflow(phone_page), f"{path} scrolls sideways at 390 px"
    login(phone_page, user_factory(username="pocket"))
    for path, name in (
        ("/titles/tt0034583/", "title-member"),
        ("/accounts/profile/", "profile"),
        ("/accounts/delete/", "delete"),
    ):
        phone_page.goto(path)
        screenshot(phone_page, f"catalog-phone-{name}")
        assert not has_horizontal_overflow(phone_page), f"{path} scrolls sideways at 390 px"
    phone_page.click("button.nav-toggle")
    screenshot(phone_page, "catalog-phone-menu-open", full_page=False)
    logout(phone_page)
    assert phone_page.js_errors == []
