"""Issue 21's content findings seen in Chromium: the statistics charts' text stays inside the
pictures (genre value labels, the last month of the time axis) at laptop and phone width."""

import datetime as dt

import pytest

from ratings.models import Rating
from tests.browser.conftest import LAPTOP, PHONE, login, screenshot
from tests.factories import make_title

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

# Every <text> of every chart: its box in the SVG's own coordinates against the viewBox.
TEXT_OUTSIDE = """() => {
  const outside = [];
  for (const svg of document.querySelectorAll("svg.chart-svg")) {
    const box = svg.viewBox.baseVal;
    for (const text of svg.querySelectorAll(":scope > text")) {
      const b = text.getBBox();
      if (b.x < box.x - 0.5 || b.y < box.y - 0.5 || b.x + b.width > box.x + box.width + 0.5
          || b.y + b.height > box.y + box.height + 0.5) {
        outside.push(`${svg.id}: "${text.textContent}" x ${b.x.toFixed(1)}..${(b.x + b.width).toFixed(1)} of ${box.width}`);
      }
    }
  }
  return outside;
}"""


def test_statistics_charts_fit_their_labels(new_page, user_factory):
    member = user_factory(username="charted", password="chart-password-2024")
    # 150 ratings give "150 · avg 3.0"-long value labels; 13 months, December 2023 to December 2024,
    # so every other month is labelled and the last label is "Dec 2024" under the last bar.
    ratings = [
        Rating(user=member, title=make_title(genres=["Documentary", "Science-Fiction-Adventure"]), score=1 + n % 5)
        for n in range(150)
    ]
    Rating.objects.bulk_create(ratings)
    for n, rating in enumerate(ratings):
        offset = n % 13
        month = (
            dt.datetime(2023, 12, 15, tzinfo=dt.UTC) if offset == 0 else dt.datetime(2024, offset, 15, tzinfo=dt.UTC)
        )
        Rating.objects.filter(pk=rating.pk).update(updated_at=month)
    for name, viewport in (("laptop", LAPTOP), ("phone", PHONE)):
        page = new_page(viewport)
        login(page, member, "chart-password-2024")
        page.goto("/me/stats/")
        assert page.locator("#chart-genres text", has_text="150 · avg 3.0").count() == 2  # both genres
        assert page.locator("#chart-over-time text", has_text="Dec 2024").count() == 1
        assert page.evaluate(TEXT_OUTSIDE) == []
        # The tiles above the charts hold the longest genre name ("Documentary") too.
        assert (
            page.evaluate(
                "() => [...document.querySelectorAll('.stat-tile')].filter(tile => tile.scrollWidth > tile.clientWidth)"
                ".map(tile => tile.textContent.trim())"
            )
            == []
        )
        screenshot(page, f"stats-charts-{name}")
