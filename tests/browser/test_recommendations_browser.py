"""Headless Chromium: a new user signs up, is sent through onboarding (genres, five star clicks with a
live progress bar), unlocks personal recommendations, rates one in place and sees the list change
without a reload, dismisses one, and looks at the communities. Screenshots are saved under
test-artifacts/screenshots/recommendations-*.png.
"""

import pytest

from accounts.models import User
from recommender.communities.storing import communities_build
from recommender.models import UserFoldIn
from tests.browser.conftest import PHONE, has_horizontal_overflow, screenshot
from tests.recommender import recsys_factories

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PASSWORD = "velvet-Lantern-582"


def ranked(page) -> list[str]:
    return page.locator("#recommendation-list li.rec-card").evaluate_all("cards => cards.map(c => c.dataset.tconst)")


def test_new_user_from_sign_up_through_onboarding_to_recommendations_that_change(page, new_page, recommender_caches):
    titles = recsys_factories.titles_create()
    recsys_factories.persona_users_create(titles=titles)
    communities_build(run=recsys_factories.numpy_run_train())
    by_tconst = {title.tconst: title for title in titles}
    page.set_default_timeout(20_000)  # the machine is shared: slow is not wrong

    # Sign up.
    page.goto("/accounts/signup/")
    page.fill("input[name=username]", "newcomer")
    page.fill("input[name=email]", "newcomer@example.com")
    page.fill("input[name=password1]", PASSWORD)
    page.fill("input[name=password2]", PASSWORD)
    page.click("form.account-form button[type=submit]")
    page.wait_for_selector("form[action='/accounts/logout/']", state="attached")
    screenshot(page, "recommendations-01-signed-up")

    # "For you" before any rating: the cold-start page says what to do.
    page.click("nav >> text=For you")
    assert "Rate 5 more titles to unlock your recommendations" in page.inner_text("main")
    assert page.locator("li.rec-card").count() == 0
    screenshot(page, "recommendations-02-locked")

    # Onboarding: pick genres, then rate well-known titles of those genres.
    page.click("main >> text=Rate well-known titles")
    page.wait_for_url("**/onboarding/")
    for genre in ("Sci-Fi", "Horror"):
        page.check(f"input[name=genres][value='{genre}']")
    page.click("form.genre-form button[type=submit]")
    page.wait_for_selector("text=Saved your genres")
    assert User.objects.get(username="newcomer").favourite_genres == ["Horror", "Sci-Fi"]
    first_group = page.locator("section.title-group h3").first.inner_text()
    assert first_group.startswith(("Horror", "Sci-Fi")), first_group
    screenshot(page, "recommendations-03-onboarding")

    page.evaluate("window.__sameDocument = true")  # gone if anything reloads the page
    progress = page.locator("#progress .progress-text")
    rows = page.locator("section.title-group li[data-tconst]")
    rated = []
    for index in range(5):
        row = rows.nth(index)
        tconst = row.get_attribute("data-tconst")
        row.locator("form.stars .star:has(input[value='5'])").click()
        rated.append(tconst)
        remaining = 4 - index
        expected = (
            f"Rate {remaining} more title{'s' if remaining != 1 else ''}"
            if remaining
            else "Your recommendations are unlocked"
        )
        page.wait_for_function(
            "text => document.querySelector('#progress .progress-text').innerText.includes(text)", arg=expected
        )
    assert "(5 rated)" in progress.inner_text()
    assert page.locator("#progress .unlock-cta").is_visible()
    assert page.evaluate("window.__sameDocument === true")
    assert all({"Horror", "Sci-Fi", "Fantasy"} & set(by_tconst[tconst].genres) for tconst in rated)
    screenshot(page, "recommendations-04-unlocked")

    # Personal recommendations, explained by the titles just rated.
    page.click("text=See my recommendations")
    page.wait_for_selector("#recommendation-list li.rec-card")
    before = ranked(page)
    assert len(before) == 20 and not set(before) & set(rated)
    first_card = page.locator("#recommendation-list li.rec-card").first
    card_text = first_card.inner_text()
    assert "Predicted" in card_text and "confidence" in card_text and "Because you rated" in card_text
    # The titles named are the member's own ratings, as plain text: a card keeps to few tab stops.
    named = first_card.locator(".explanation em").evaluate_all("names => names.map(n => n.textContent)")
    assert named and set(named) <= {by_tconst[tconst].primary_title for tconst in rated}
    in_taste = sum(1 for tconst in before[:10] if {"Horror", "Sci-Fi", "Fantasy"} & set(by_tconst[tconst].genres))
    assert in_taste >= 6, [by_tconst[tconst].genres for tconst in before[:10]]
    screenshot(page, "recommendations-05-personal")

    # Rate the top recommendation one star in place: saved without a reload, and the card stays
    # where it is (the list does not reshuffle under the member) until they press Refresh.
    page.evaluate("window.__sameDocument = true")
    top = before[0]
    first_card.locator("form.stars .star:has(input[value='1'])").click()
    page.wait_for_function("() => document.getElementById('live-status').innerText.includes('Refresh')")
    assert ranked(page) == before
    assert page.evaluate("window.__sameDocument === true")

    # "Not interested" folds the card to a line with Undo, also without a reload or reshuffle.
    dismissed = before[1]
    page.locator(f"li.rec-card[data-tconst='{dismissed}'] .not-interested-form button").click()
    page.wait_for_selector(f"li.rec-card.is-hidden[data-tconst='{dismissed}'] button:has-text('Undo')")
    assert ranked(page) == before
    assert page.evaluate("window.__sameDocument === true")

    # Refresh ranks the list again with the new rating, without the rated and dismissed titles.
    page.click("button:has-text('Refresh')")
    page.wait_for_selector("#recommendation-list li.rec-card")
    after = ranked(page)
    assert top not in after and dismissed not in after and after != before
    assert "From your 6 ratings" in page.inner_text(".rec-status")
    assert not UserFoldIn.objects.get(user__username="newcomer").stale
    screenshot(page, "recommendations-06-changed-after-refresh")

    # Filters.
    page.select_option("#id_genre", "Horror")
    page.click("form.rec-filters button[type=submit]")
    page.wait_for_url("**genre=Horror**")
    assert all("Horror" in by_tconst[tconst].genres for tconst in ranked(page))
    screenshot(page, "recommendations-07-filtered")

    # The user's community on the map.
    page.goto("/communities/")
    assert page.locator("svg.community-map .map-you").count() == 1
    screenshot(page, "recommendations-08-communities")
    page.click(".community-card.is-mine a.card-title")
    assert "this is your community" in page.inner_text("main")
    screenshot(page, "recommendations-09-my-community")
    assert page.js_errors == []

    # The same list on a phone: readable, nothing wider than the screen.
    phone = new_page(PHONE)
    phone.set_default_timeout(20_000)
    phone.goto("/accounts/login/")
    phone.fill("input[name=username]", "newcomer")
    phone.fill("input[name=password]", PASSWORD)
    phone.click("form.account-form button[type=submit]")
    phone.wait_for_selector("form[action='/accounts/logout/']", state="attached")
    phone.goto("/recommendations/")
    assert phone.locator("li.rec-card").count() == 20
    assert not has_horizontal_overflow(phone)
    screenshot(phone, "recommendations-10-phone", full_page=False)
    assert phone.js_errors == []
