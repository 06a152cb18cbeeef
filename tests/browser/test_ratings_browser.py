"""Headless Chromium: log in, rate three titles by clicking stars (no reload), change one, remove one,
then read the history and the statistics charts. Screenshots go to test-artifacts/screenshots/ratings-*.png.

Uses the shared browser fixtures of tests/browser/conftest.py (``page`` on ``live_server``, ``login``).
"""

import datetime as dt
from pathlib import Path

import pytest

from ratings.models import Rating, WatchlistItem
from tests.browser.conftest import login, screenshot
from tests.factories import make_title

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def shoot(page, name: str) -> Path:
    return screenshot(page, f"ratings-{name}")


def collect_dialogs(page) -> list[str]:
    """``window.alert`` messages (site.js reports refused ratings that way), dismissed."""
    messages: list[str] = []
    page.on("dialog", lambda dialog: (messages.append(dialog.message), dialog.dismiss()))
    page.set_default_timeout(20_000)  # the machine is shared; a slow answer is not a failure here
    return messages


def stars(page, tconst: str):
    return page.locator(f'form.stars[data-tconst="{tconst}"]')


def lit(page, tconst: str) -> list[str]:
    return stars(page, tconst).locator(".star.on input").evaluate_all("inputs => inputs.map(i => i.value)")


def star(page, tconst: str, score: int):
    """The label of one star: the visible target a pointer clicks."""
    return stars(page, tconst).locator(f'.star:has(input[value="{score}"])')


def test_rate_change_remove_then_history_and_charts(page, user_factory):
    dialogs = collect_dialogs(page)
    user = user_factory(username="cinephile")
    titles = [
        make_title(primary_title="The Third Man", start_year=1949, genres=["Film-Noir", "Thriller"]),
        make_title(primary_title="Chungking Express", start_year=1994, genres=["Drama", "Romance"]),
        make_title(primary_title="Paddington 2", start_year=2017, genres=["Comedy", "Family"]),
    ]
    for title in titles:
        WatchlistItem.objects.create(user=user, title=title)
    # Earlier history, so the charts have a few months and decades to show.
    for year, genres, score, when in [
        (1957, ["Drama"], 5, dt.datetime(2025, 9, 3, tzinfo=dt.UTC)),
        (1999, ["Drama", "Thriller"], 4, dt.datetime(2025, 10, 14, tzinfo=dt.UTC)),
        (2010, ["Comedy"], 2, dt.datetime(2025, 10, 20, tzinfo=dt.UTC)),
    ]:
        rating = Rating.objects.create(user=user, title=make_title(start_year=year, genres=genres), score=score)
        Rating.objects.filter(pk=rating.pk).update(updated_at=when)

    login(page, user)
    page.goto("/me/watchlist/")
    page.evaluate("window.__sameDocument = true")  # disappears if anything reloads the page

    third_man, chungking, paddington = (title.tconst for title in titles)
    for tconst, score in [(third_man, 4), (chungking, 5), (paddington, 2)]:
        star(page, tconst, score).click()
        page.wait_for_function(
            '([tconst, score]) => document.querySelector(`form.stars[data-tconst="${tconst}"] .star.on input[value="${score}"]`)',
            arg=[tconst, str(score)],
        )
    assert lit(page, third_man) == ["1", "2", "3", "4"]
    assert lit(page, chungking) == ["1", "2", "3", "4", "5"]
    assert lit(page, paddington) == ["1", "2"]
    shoot(page, "1-rated-three")

    # Change one: 4 -> 3 stars.
    star(page, third_man, 3).click()
    page.wait_for_function(
        'tconst => !document.querySelector(`form.stars[data-tconst="${tconst}"] .star.on input[value="4"]`)',
        arg=third_man,
    )
    assert lit(page, third_man) == ["1", "2", "3"]
    # Two clicks in one go (the second while the first is still in flight): the last one wins,
    # on screen and in the database.
    page.evaluate(
        """tconst => {
          const form = document.querySelector(`form.stars[data-tconst="${tconst}"]`);
          form.querySelector('input[value="1"]').click();
          form.querySelector('input[value="5"]').click();
        }""",
        chungking,
    )
    page.wait_for_function(
        'tconst => !document.querySelector(`form.stars[data-tconst="${tconst}"][aria-busy]`)'
        ' && document.querySelector(`form.stars[data-tconst="${tconst}"] .star.on input[value="5"]`)',
        arg=chungking,
    )
    assert lit(page, chungking) == ["1", "2", "3", "4", "5"]
    # Keyboard: a focused star keeps the focus after the control is swapped.
    stars(page, third_man).locator('input[name=score][value="3"]').focus()
    page.keyboard.press("Enter")
    page.wait_for_function(
        'tconst => !document.querySelector(`form.stars[data-tconst="${tconst}"][aria-busy]`)', arg=third_man
    )
    page.wait_for_function("() => document.activeElement && document.activeElement.value === '3'")
    # Remove one.
    stars(page, paddington).locator("button.remove-rating").click()
    page.wait_for_function(
        'tconst => !document.querySelector(`form.stars[data-tconst="${tconst}"] .star.on`)', arg=paddington
    )
    assert lit(page, paddington) == []
    assert stars(page, paddington).locator("button.remove-rating").count() == 0
    page.mouse.move(0, 0)
    shoot(page, "2-changed-and-removed")

    assert page.evaluate("window.__sameDocument") is True, "the page reloaded"
    assert dialogs == []
    assert page.js_errors == []
    assert dict(Rating.objects.filter(user=user, title__in=titles).values_list("title_id", "score")) == {
        third_man: 3,
        chungking: 5,
    }

    # History: sorted by score, the two new ratings with their stars.
    page.goto("/me/ratings/?sort=-score")
    rows = page.locator("#rating-history tbody tr")
    assert rows.count() == 5
    assert page.locator("#history-count").inner_text() == "5 ratings."
    assert rows.nth(0).locator("td").first.inner_text().startswith("Chungking Express")
    assert page.locator(f'#rating-history tr[data-tconst="{third_man}"] .star.on').count() == 3
    assert page.locator(f'#rating-history tr[data-tconst="{paddington}"]').count() == 0
    shoot(page, "3-history")

    # Filter by genre through the form.
    page.select_option("select[name=genre]", "Thriller")
    page.click(".filters button[type=submit]")
    page.wait_for_url("**/me/ratings/?*genre=Thriller*")
    assert page.locator("#rating-history tbody tr").count() == 2

    # Statistics: five charts drawn (then the year in review's two), the numbers beside them as text.
    page.goto("/me/stats/")
    assert page.locator("svg.chart-svg").count() == 5 + 2
    for chart in page.locator("svg.chart-svg").all():
        box = chart.bounding_box()
        assert box and box["width"] > 200 and box["height"] > 50
    assert page.locator("#stat-count").inner_text() == "5"
    assert page.locator("#stat-average").inner_text() == "3.80"  # (5 + 4 + 2 + 3 + 5) / 5
    assert page.locator("#table-distribution tbody tr").nth(4).inner_text().split() == ["5", "stars", "2", "40%"]
    assert page.locator("#chart-distribution rect").count() == 5
    shoot(page, "4-statistics")


def test_error_from_the_server_is_shown_and_nothing_changes(page, user_factory):
    """A star pointing at a title that vanished: the alert carries the server's message."""
    dialogs = collect_dialogs(page)
    user = user_factory(username="tester")
    title = make_title(primary_title="Soon Gone")
    WatchlistItem.objects.create(user=user, title=title)
    login(page, user)
    page.goto("/me/watchlist/")
    page.evaluate(
        "tconst => document.querySelector(`form.stars[data-tconst=\"${tconst}\"]`).action = '/titles/tt0000000/rate/'",
        arg=title.tconst,
    )
    star(page, title.tconst, 5).click()
    page.wait_for_function("() => document.getElementById('live-status').innerText.includes('tt0000000')")
    assert dialogs == []  # the message is in the page's live region, not in an alert
    assert lit(page, title.tconst) == []
    assert not Rating.objects.filter(user=user).exists()


def test_phone_rating_and_profile_pages_fit(phone_page, user_factory):
    """On a phone: tap a star, and the history and statistics pages do not scroll sideways."""
    from tests.browser.conftest import has_horizontal_overflow

    user = user_factory(username="pocket")
    titles = [
        make_title(primary_title=f"Pocket film {n}", start_year=1990 + n, genres=["Drama", "Comedy"]) for n in range(3)
    ]
    for title in titles:
        WatchlistItem.objects.create(user=user, title=title)
    Rating.objects.create(user=user, title=titles[1], score=2)
    phone_page.set_default_timeout(20_000)
    login(phone_page, user)
    phone_page.goto("/me/watchlist/")
    star(phone_page, titles[0].tconst, 4).tap()
    phone_page.wait_for_function(
        'tconst => document.querySelector(`form.stars[data-tconst="${tconst}"] .star.on input[value="4"]`)',
        arg=titles[0].tconst,
    )
    assert Rating.objects.get(user=user, title=titles[0]).score == 4
    for path, name in [("/me/ratings/", "phone-history"), ("/me/stats/", "phone-statistics")]:
        phone_page.goto(path)
        assert not has_horizontal_overflow(phone_page), path
        shoot(phone_page, name)
    assert phone_page.js_errors == []
