"""Shared browser fixtures: pytest-django's ``live_server`` and headless Chromium through
Playwright (Debian's /usr/bin/chromium, no downloaded browser).

    def test_something(live_server, page, user_factory):        # 1280×800 laptop
        login(page, user_factory())                              # through the real login form
        page.goto("/titles/")                                    # relative to live_server.url
        screenshot(page, "area-what")                            # test-artifacts/screenshots/area-what.png

``phone_page`` is the same at 390×844 (a phone); ``new_page(viewport)`` makes more. Pages record
uncaught JavaScript errors in ``page.js_errors``. The live server listens on an ephemeral port
unless ``DJANGO_LIVE_TEST_SERVER_ADDRESS`` (e.g. ``localhost:8201``) says otherwise.
"""

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent.parent
SCREENSHOTS = ROOT / "test-artifacts" / "screenshots"
CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
LAPTOP = {"width": 1280, "height": 800}
PHONE = {"width": 390, "height": 844}


@pytest.fixture
def browser(monkeypatch):
    """A headless Chromium for one test."""
    if not Path(CHROMIUM).exists():
        pytest.skip(f"no Chromium at {CHROMIUM} (apt-get install chromium)")
    from django.db import connections
    from playwright.sync_api import sync_playwright

    # Playwright's sync API keeps an event loop in this thread; the ORM calls a test makes between
    # browser steps are ordinary blocking calls and are safe here.
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"])
        yield chromium
        # While the loop is entered Django keys connections to that context: close the test's own.
        connections.close_all()
        chromium.close()


@pytest.fixture
def new_page(browser, live_server):
    """``new_page(viewport=LAPTOP)``: a page in a fresh context (own cookies) on the live server."""
    contexts = []

    def make(viewport: dict = LAPTOP):
        context = browser.new_context(
            viewport=viewport,
            base_url=live_server.url,
            device_scale_factor=1,
            is_mobile=viewport["width"] < 600,
            has_touch=viewport["width"] < 600,
        )
        contexts.append(context)
        page = context.new_page()
        page.set_default_timeout(10_000)
        page.js_errors = []
        page.on("pageerror", lambda error: page.js_errors.append(str(error)))
        return page

    yield make
    for context in contexts:
        context.close()


@pytest.fixture
def page(new_page):
    return new_page(LAPTOP)


@pytest.fixture
def phone_page(new_page):
    return new_page(PHONE)


def screenshot(page, name: str, *, full_page: bool = True) -> Path:
    """Save ``test-artifacts/screenshots/<name>.png`` and return its path."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=full_page)
    return path


def login(page, user, password: str | None = None) -> None:
    """Log ``user`` in through the login form (``user_factory`` users carry ``raw_password``)."""
    page.goto("/accounts/login/")
    page.fill("input[name=username]", user.username)
    page.fill("input[name=password]", password or user.raw_password)
    page.click("form.account-form button[type=submit]")
    page.wait_for_selector("form[action='/accounts/logout/']", state="attached")


def logout(page) -> None:
    """Log out with the header's POST form (opening the menu first on a phone)."""
    if not page.locator("form[action='/accounts/logout/'] button").is_visible():
        page.click("button.nav-toggle")
    page.click("form[action='/accounts/logout/'] button")
    page.wait_for_selector("a[href='/accounts/login/']", state="attached")


def has_horizontal_overflow(page) -> bool:
    """Whether the page is wider than the viewport (a phone would scroll sideways)."""
    return page.evaluate("document.documentElement.scrollWidth > window.innerWidth + 1")
