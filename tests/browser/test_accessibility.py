"""Accessibility in headless Chromium: axe-core's WCAG 2.2 AA rules on every page type at laptop and
phone width, as a visitor and as a member; a keyboard-only walk on a phone (menu, title, stars,
watchlist); at most five tab stops per card on For you, and focus kept on the card after acting.

One browser for the module and one page load per page type and width keep the module to about a
minute. ``A11Y_SHOTS=<dir>`` also saves screenshots of the home, title and For you pages there.
"""

import os
from pathlib import Path

import pytest
from axe_playwright_python.sync_playwright import Axe
from django.conf import settings
from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY
from django.db import connections
from django.urls import reverse
from django.utils.module_loading import import_string

from ratings.models import Rating, WatchlistItem
from recommender.communities.storing import communities_build
from tests.browser.conftest import CHROMIUM, LAPTOP, PHONE
from tests.factories import make_crew, make_person, make_principal
from tests.recommender import recsys_factories

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

WCAG_22_AA = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa"]
AXE_OPTIONS = {"runOnly": {"type": "tag", "values": WCAG_22_AA}, "resultTypes": ["violations"]}
WIDTHS = {"laptop": LAPTOP, "phone": PHONE}


@pytest.fixture(scope="module")
def chromium():
    """One headless Chromium for the whole module (a launch costs about a second)."""
    if not Path(CHROMIUM).exists():
        pytest.skip(f"no Chromium at {CHROMIUM} (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    with pytest.MonkeyPatch.context() as patch:
        # The ORM calls made between browser steps are ordinary blocking calls, safe here.
        patch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"])
            yield browser
            browser.close()


@pytest.fixture
def open_page(chromium, live_server):
    """``open_page(width, user=None)``: a page in a fresh context, signed in as ``user`` if given."""
    contexts = []

    def make(viewport: dict, user=None):
        phone = viewport["width"] < 600
        context = chromium.new_context(
            viewport=viewport, base_url=live_server.url, device_scale_factor=1, is_mobile=phone, has_touch=phone
        )
        contexts.append(context)
        if user is not None:
            context.add_cookies(
                [{"name": settings.SESSION_COOKIE_NAME, "value": _session_for(user), "url": live_server.url}]
            )
        page = context.new_page()
        page.set_default_timeout(20_000)  # the machine is shared: slow is not wrong
        page.js_errors = []
        page.on("pageerror", lambda error: page.js_errors.append(str(error)))
        return page

    yield make
    for context in contexts:
        context.close()
    connections.close_all()  # the sync API keeps an event loop entered: close this test's connections


def _session_for(user) -> str:
    """A logged-in session for ``user`` without a trip through the login form (one load fewer)."""
    store = import_string(f"{settings.SESSION_ENGINE}.SessionStore")()
    store[SESSION_KEY] = str(user.pk)
    store[BACKEND_SESSION_KEY] = "accounts.backends.SiteUserBackend"  # the first one, axes, has no get_user
    store[HASH_SESSION_KEY] = user.get_session_auth_hash()
    store.create()
    return store.session_key


@pytest.fixture
def axe_world(recommender_caches, user_factory):
    """The recommender world with a trained run and communities, a person with credits, and a
    member who has ratings and a watchlist (personal recommendations unlocked)."""
    titles = recsys_factories.titles_create()
    users = recsys_factories.persona_users_create(titles=titles)
    member = user_factory(username="member", favourite_genres=["Horror", "Sci-Fi"])
    rated = [title for title in titles if {"Horror", "Sci-Fi"} & set(title.genres)][:8]
    Rating.objects.bulk_create(
        Rating(user=member, title=title, score=5 - index % 3) for index, title in enumerate(rated)
    )
    communities_build(run=recsys_factories.numpy_run_train())
    unrated = [title for title in titles if title not in rated]
    WatchlistItem.objects.create(user=member, title=unrated[-1])
    person = make_person("nm9000001", primary_name="Ada Director", primary_profession=["director"])
    make_principal(titles[0], person, category="director")
    make_crew(titles[1], person, "director")
    return {
        "titles": titles,
        "users": users,
        "member": member,
        "staff": user_factory(username="staffer", is_staff=True, is_superuser=True),
        "title": titles[0],
        "unrated": unrated,
        "person": person,
    }


def _pages(world, role: str) -> dict[str, str]:
    public = {
        "home": "/",
        "browse": reverse("catalog:title_list"),
        "search": reverse("catalog:search") + "?q=Story",
        "search-people": reverse("catalog:search") + "?q=ada+director",
        "title": world["title"].get_absolute_url(),
        "person": reverse("catalog:person_detail", args=[world["person"].nconst]),
        "communities": reverse("recommender:community_list"),
    }
    if role == "visitor":
        return {**public, "login": reverse("login"), "signup": reverse("accounts:signup")}
    if role == "staff":
        return {"system": reverse("system:index")}
    return {
        **public,
        "for-you": reverse("recommender:recommendations"),
        "onboarding": reverse("recommender:onboarding"),
        "my-ratings": reverse("ratings:history"),
        "watchlist": reverse("ratings:watchlist"),
        "stats": reverse("ratings:stats"),
        "profile": reverse("accounts:profile"),
    }


def _describe(violations: list[dict]) -> list[str]:
    return [
        f"{violation['id']} ({len(violation['nodes'])}×): {violation['nodes'][0]['target']}"
        f" {violation['nodes'][0]['failureSummary'].splitlines()[-1].strip()}"
        for violation in violations
    ]


def test_every_page_type_has_no_wcag_22_aa_violation_at_either_width(open_page, axe_world):
    axe = Axe()
    shots = Path(os.environ["A11Y_SHOTS"]) if os.environ.get("A11Y_SHOTS") else None
    found, loaded = {}, 0
    for role, user in (("visitor", None), ("member", axe_world["member"]), ("staff", axe_world["staff"])):
        for width, viewport in WIDTHS.items():
            page = open_page(viewport, user)
            for name, url in _pages(axe_world, role).items():
                response = page.goto(url)
                assert response.status == 200 and response.url.endswith(url), (role, name, url, response.url)
                loaded += 1
                if shots and role == "member" and name in ("home", "title", "for-you"):
                    shots.mkdir(parents=True, exist_ok=True)
                    page.screenshot(path=str(shots / f"{name}-{width}.png"))
                violations = axe.run(page, options=AXE_OPTIONS).response["violations"]
                if violations:
                    found[f"{role} {name} {width}"] = _describe(violations)
            assert page.js_errors == []
    assert loaded >= 40
    assert found == {}, "\n".join(f"{page}: {line}" for page, lines in found.items() for line in lines)


def _focused(page) -> dict:
    return page.evaluate(
        """() => {
          const element = document.activeElement;
          const card = element.closest("li[data-tconst]");
          return {tag: element.tagName.toLowerCase(), name: element.name || "", value: element.value || "",
                  classes: element.className || "", text: (element.innerText || "").trim(),
                  card: card ? card.dataset.tconst : null, href: element.getAttribute("href") || ""};
        }"""
    )


def _tab_until(page, predicate, *, limit: int = 60) -> dict:
    for _ in range(limit):
        page.keyboard.press("Tab")
        focused = _focused(page)
        if predicate(focused):
            return focused
    raise AssertionError(f"not reached in {limit} tab stops; last: {focused}")


def test_keyboard_only_on_a_phone_menu_title_stars_and_watchlist(open_page, axe_world):
    member = axe_world["member"]
    page = open_page(PHONE, member)
    page.goto("/")

    # The first tab stop is the skip link; on a phone the menu is a real button.
    page.keyboard.press("Tab")
    assert _focused(page)["text"] == "Skip to main content"
    toggle = page.locator("button.nav-toggle")
    assert toggle.get_attribute("aria-expanded") == "false" and not page.locator("#site-nav").is_visible()
    _tab_until(page, lambda focused: "nav-toggle" in focused["classes"])
    page.keyboard.press("Enter")
    assert toggle.get_attribute("aria-expanded") == "true" and page.locator("#site-nav").is_visible()
    assert _focused(page)["text"] == "Browse"  # opening the menu moves focus into it
    page.keyboard.press("Enter")
    page.wait_for_url("**/titles/")

    # Browse: skip link to the content, then the first card's title.
    page.keyboard.press("Tab")
    page.keyboard.press("Enter")
    link = _tab_until(page, lambda focused: "card-title" in focused["classes"])
    rated = set(Rating.objects.filter(user=member).values_list("title_id", flat=True))
    while link["card"] in rated:  # a title the member has not rated yet
        link = _tab_until(page, lambda focused: "card-title" in focused["classes"])
    tconst = link["card"]
    page.keyboard.press("Enter")
    page.wait_for_url(f"**/titles/{tconst}/")

    # The stars are one tab stop: a radio group, 1 to 5 in order, named with the title.
    star = _tab_until(page, lambda focused: focused["name"] == "score")
    assert star["value"] == "1"
    name = next(title.primary_title for title in axe_world["titles"] if title.tconst == tconst)
    assert page.get_by_role("radio", name=f"Rate {name}, 4 of 5", exact=True).count() == 1
    assert page.get_by_role("group", name=f"Your rating of {name}", exact=True).count() == 1
    for _ in range(3):
        page.keyboard.press("ArrowRight")
    assert _focused(page)["value"] == "4"
    page.wait_for_function("() => document.querySelectorAll('form.stars .star.on').length === 4")
    assert Rating.objects.get(user=member, title_id=tconst).score == 4
    assert _focused(page)["value"] == "4"  # the swapped-in control keeps focus on the chosen star
    page.wait_for_function("() => document.getElementById('live-status').innerText.includes('4 of 5')")

    # Add it to the watchlist: the button flips in place and keeps focus.
    _tab_until(page, lambda focused: "On watchlist" in focused["text"] or "+ Watchlist" in focused["text"], limit=5)
    page.keyboard.press("Enter")
    page.wait_for_function("() => document.activeElement.innerText.includes('On watchlist')")
    assert WatchlistItem.objects.filter(user=member, title_id=tconst).exists()
    assert page.js_errors == []


def test_for_you_has_few_tab_stops_per_card_and_keeps_focus_and_order(open_page, axe_world):
    member = axe_world["member"]
    page = open_page(LAPTOP, member)
    page.goto(reverse("recommender:recommendations"))
    cards = page.locator("#recommendation-list li.rec-card")
    order = cards.evaluate_all("cards => cards.map(card => card.dataset.tconst)")
    assert len(order) == 20

    # Walk the page with Tab and count the stops in each card.
    stops: dict[str, int] = {}
    for _ in range(200):
        page.keyboard.press("Tab")
        card = _focused(page)["card"]
        if card is None and len(stops) == len(order):
            break
        if card in order:
            stops[card] = stops.get(card, 0) + 1
    assert set(stops) == set(order)
    assert max(stops.values()) <= 5, stops

    # Rate the first card with the keyboard: it stays in place, rated, with focus on its stars.
    first, second, third = order[:3]
    page.locator(f"li[data-tconst='{first}'] input[name=score][value='1']").focus()
    page.keyboard.press("ArrowRight")
    page.keyboard.press("Space")
    page.wait_for_function(
        "t => document.querySelectorAll(`li[data-tconst='${t}'] .star.on`).length === 2 && !document.querySelector('[aria-busy]')",
        arg=first,
    )
    assert _focused(page)["card"] == first
    page.wait_for_function("() => document.getElementById('live-status').innerText.includes('Refresh')")

    # Watchlist the second: the button flips and keeps focus.
    page.locator(f"li[data-tconst='{second}'] .watchlist-form button").focus()
    page.keyboard.press("Enter")
    page.wait_for_function("() => document.activeElement.innerText.includes('On watchlist')")
    assert _focused(page)["card"] == second

    # Hide the third: the card folds to a line whose Undo button takes focus.
    page.locator(f"li[data-tconst='{third}'] .not-interested-form button").focus()
    page.keyboard.press("Enter")
    page.wait_for_function("() => document.activeElement.innerText === 'Undo'")
    assert _focused(page)["card"] == third
    assert cards.evaluate_all("cards => cards.map(card => card.dataset.tconst)") == order  # nothing moved
    assert Rating.objects.get(user=member, title_id=first).score == 2
    assert WatchlistItem.objects.filter(user=member, title_id=second).exists()

    # The list is ranked again when the member asks.
    page.click("button:has-text('Refresh')")
    page.wait_for_load_state()
    after = page.locator("#recommendation-list li.rec-card").evaluate_all("cards => cards.map(c => c.dataset.tconst)")
    assert not {first, second, third} & set(after)
    assert page.js_errors == []
