"""Headless Chromium: a member with a model turns the discovery control to "hidden gems", asks for
more variety and hides a genre, sees the list change with the settings in the URL and on the
profile, then meets predicted stars on the browse page, a title page (beside IMDb's and the
members' ratings) and its "More like this". Screenshots: test-artifacts/screenshots/controls-*.png.
"""

import pytest

from accounts.models import User
from ratings.services import rating_set
from tests.browser.conftest import login, screenshot
from tests.recommender import recsys_factories

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PASSWORD = "velvet-Lantern-582"


def ranked(page) -> list[str]:
    return page.locator("#recommendation-list li.rec-card").evaluate_all("cards => cards.map(c => c.dataset.tconst)")


def test_a_member_tunes_the_list_and_meets_predictions_everywhere(page, recommender_caches, user_factory):
    titles = recsys_factories.titles_create()
    users = recsys_factories.persona_users_create(titles=titles)
    run = recsys_factories.numpy_run_train()
    by_tconst = {title.tconst: title for title in titles}
    member = users[0]
    User.objects.filter(pk=member.pk).update(kind=User.Kind.SITE)
    member = User.objects.get(pk=member.pk)
    member.set_password(PASSWORD)
    member.save()
    page.set_default_timeout(20_000)
    login(page, member, PASSWORD)

    page.goto("/recommendations/")
    before = ranked(page)
    assert before and page.locator("#h-controls").is_visible()
    screenshot(page, "controls-01-balanced", full_page=False)

    page.check("input[name=discovery][value='5']")
    page.check("input[name=variety]")
    page.select_option("#id_hide_genre", "Drama")
    page.fill("#id_hide_before", "1960")
    page.click("form.rec-controls button[type=submit]")
    page.wait_for_url("**/recommendations/?*discovery=5*")
    assert "variety=1" in page.url and "hide_genre=Drama" in page.url and "hide_before=1960" in page.url
    after = ranked(page)
    assert after and after != before
    for tconst in after:
        assert "Drama" not in by_tconst[tconst].genres and by_tconst[tconst].start_year >= 1960
    assert "Saved: Hidden gems, more variety, hiding titles before 1960, hiding Drama" in page.inner_text("main")
    assert page.is_checked("input[name=discovery][value='5']") and page.is_checked("input[name=variety]")
    screenshot(page, "controls-02-hidden-gems", full_page=False)

    # Kept: the plain URL shows the same list, the profile says so.
    page.goto("/recommendations/")
    assert ranked(page) == after
    page.goto("/accounts/profile/")
    assert "Hidden gems, more variety, hiding titles before 1960, hiding Drama" in page.inner_text("main")
    page.locator("#h-controls").scroll_into_view_if_needed()
    screenshot(page, "controls-03-profile", full_page=False)

    # Predictions on the browse page's cards.
    page.goto("/titles/?sort=popularity")
    assert page.locator("li.title-card .prediction").count() >= 10
    screenshot(page, "controls-04-browse-predictions", full_page=False)

    # A title page: predicted stars beside IMDb's and the members' ratings, and "More like this".
    title = next(title for title in titles if title.tconst in {tconst for tconst in by_tconst} and title.genres)
    for n in range(5):
        rating_set(user=user_factory(), title=title, score=[5, 4, 4, 3, 5][n])
    page.goto(title.get_absolute_url())
    box = page.inner_text(".title-rating-box")
    assert "Predicted for you" in box and "Members, 5 ratings" in box and "IMDb" in box
    assert page.locator("#h-similar ~ ul .prediction").count() >= 3
    assert run.pk
    screenshot(page, "controls-05-title-page", full_page=False)
    assert not page.js_errors
