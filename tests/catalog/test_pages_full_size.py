"""Pages that hold at full size: browse counts capped, the facets cached for a big catalogue, a
long series one season at a time, the sort indexes in the plans (the rating sort's:
test_weighted_rating)."""

from decimal import Decimal

import pytest
from django.core.cache import cache
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from catalog import selectors
from tests.catalog.test_views import browse
from tests.factories import make_episode, make_title

pytestmark = pytest.mark.django_db


def test_browse_counts_at_most_the_cap_and_pages_stop_there(client, settings):
    settings.CATALOG_BROWSE_MAX_RESULTS = 30
    titles = [make_title(primary_title=f"Film {n:02}", num_votes=1000 - n) for n in range(40)]
    with CaptureQueriesContext(connection) as queries:
        html = client.get(reverse("catalog:title_list")).content.decode()
    assert "<strong>30+</strong> titles" in html
    count_sql = next(query["sql"] for query in queries.captured_queries if "COUNT(*)" in query["sql"].upper())
    assert "LIMIT 31" in count_sql  # never a count of the whole table
    # Page 2 holds titles 25-30; asking for page 99 gives that last reachable page.
    assert browse(client, "page=2") == browse(client, "page=99") == [title.tconst for title in titles[24:30]]
    # Under the cap the count is exact and has no "+".
    html = client.get(reverse("catalog:title_list") + "?min_votes=990").content.decode()
    assert "<strong>11</strong> titles" in html and "about" not in html.split("result-summary")[1][:80]


def _slow(titles):
    """``titles`` with a condition that sleeps 20 ms per row: a count a 10 ms budget cannot finish."""
    return titles.extra(where=["pg_sleep(0.02) IS NOT NULL"])


def test_a_count_over_its_time_budget_becomes_the_planners_estimate_and_is_remembered():
    for n in range(6):
        make_title(primary_title=f"Slow {n}", num_votes=100 + n)
    titles = _slow(selectors.title_browse())
    paginator = selectors.CappedPaginator(titles, 4, cap=100, timeout_ms=10)
    cache.delete(paginator.slow_key)
    try:
        with connection.cursor() as cursor:
            cursor.execute("SHOW statement_timeout")
            before = cursor.fetchone()[0]
        with CaptureQueriesContext(connection) as queries:
            assert paginator.estimated is False and paginator.count >= 1 and paginator.estimated
        with connection.cursor() as cursor:
            cursor.execute("EXPLAIN (FORMAT JSON) " + titles.order_by().query.sql_with_params()[0])
            planned = cursor.fetchone()[0][0]["Plan"]["Plan Rows"]
        # the estimate comes from the table's statistics, which earlier tests' rows may still inflate
        assert paginator.count == min(planned, 100) and paginator.capped == (planned > 100)
        assert any("EXPLAIN" in query["sql"] for query in queries.captured_queries)
        # A page is full whatever the estimate, and says whether another follows.
        page = paginator.get_page(1)
        assert [title.primary_title for title in page.object_list] == ["Slow 5", "Slow 4", "Slow 3", "Slow 2"]
        assert page.has_next()
        last = selectors.CappedPaginator(titles, 4, cap=100, timeout_ms=10).get_page(2)
        assert [title.primary_title for title in last.object_list] == ["Slow 1", "Slow 0"]
        assert not last.has_next() and last.paginator.count == 6  # the list ended: the count is known
        with connection.cursor() as cursor:  # the budget ended with the count
            cursor.execute("SHOW statement_timeout")
            assert cursor.fetchone()[0] == before
        # The next request with the same filters goes straight to the estimate.
        again = selectors.CappedPaginator(titles, 4, cap=100, timeout_ms=10)
        with CaptureQueriesContext(connection) as queries:
            assert again.count == min(planned, 100) and again.estimated
        assert not any("COUNT(" in query["sql"].upper() for query in queries.captured_queries)
    finally:
        cache.delete(paginator.slow_key)


def test_a_count_within_its_budget_is_exact():
    for n in range(6):
        make_title(primary_title=f"Quick {n}", num_votes=100 + n)
    paginator = selectors.CappedPaginator(selectors.title_browse(min_votes=103), 4, cap=100, timeout_ms=5000)
    assert (paginator.count, paginator.estimated, paginator.capped) == (3, False, False)


def test_an_estimated_list_says_about_and_a_page_past_its_real_end_says_it_ended(client, settings):
    titles = [make_title(primary_title=f"Film {n:02}", num_votes=1000 - n) for n in range(30)]
    settings.CATALOG_BROWSE_MAX_RESULTS = 1000
    marker = selectors.CappedPaginator(selectors.title_browse(), 24).slow_key
    cache.set(marker, True)  # these filters' count was too slow once
    try:
        html = client.get(reverse("catalog:title_list")).content.decode()
        assert "about <strong>" in html  # the planner's estimate, never a count
        # An estimate can run past the real end: such a page is empty and says the list ended.
        estimated = selectors.CappedPaginator(selectors.title_browse(), 24)
        if estimated.num_pages >= 3:
            html = client.get(reverse("catalog:title_list") + "?page=3").content.decode()
            assert "No more titles" in html and "No title matches" not in html
        # The deepest page that holds titles lists them.
        assert browse(client, "page=2") == [title.tconst for title in titles[24:30]]
    finally:
        cache.delete(marker)


def test_a_big_catalogue_reads_its_facets_from_the_cache(monkeypatch):
    make_title(average_rating=Decimal("6.0"), num_votes=10, genres=["Drama"])
    monkeypatch.setattr(selectors, "CATALOGUE_BIG_MIN_TITLES", -1)  # every catalogue is "big"
    cache.delete("catalog:browse-facets")
    try:
        assert selectors.browse_facets().genres == ["Drama"]  # computed, then cached
        make_title(average_rating=Decimal("1.0"), num_votes=10, genres=["Western"])
        assert selectors.browse_facets().genres == ["Drama"]  # the cached values
    finally:
        cache.delete("catalog:browse-facets")
    monkeypatch.setattr(selectors, "CATALOGUE_BIG_MIN_TITLES", 1_000_000)
    assert selectors.browse_facets().genres == ["Drama", "Western"]


def test_a_series_too_long_for_one_page_shows_one_season_at_a_time(client, monkeypatch, django_assert_max_num_queries):
    monkeypatch.setattr(selectors, "EPISODE_LIMIT", 5)
    series = make_title(title_type="tvSeries", primary_title="Long Runner")
    episodes = {season: [make_episode(series, season, number) for number in range(1, 5)] for season in (1, 2, 3)}
    url = reverse("catalog:title_detail", args=[series.tconst])

    with django_assert_max_num_queries(12):  # a short series' 10 + the seasons' counts + one season
        html = client.get(url).content.decode()
    assert "12 episodes in this catalogue" in html
    assert '<strong aria-current="page">Season 1</strong>' in html
    assert '<a href="?season=2">Season 2</a>' in html and '<a href="?season=3">Season 3</a>' in html
    assert html.count('class="episode-number"') == 4
    assert all(episode.primary_title in html for episode in episodes[1])

    html = client.get(url, {"season": 3}).content.decode()
    assert html.count('class="episode-number"') == 4 and "Episode 3.4" in html and "Episode 1.1" not in html
    # An unknown or garbled season falls back to the first.
    for season in ("99", "x", ""):
        assert "Episode 1.1" in client.get(url, {"season": season}).content.decode()


def test_a_short_series_still_lists_every_season_on_one_page(client):
    series = make_title(title_type="tvSeries", primary_title="Short Runner")
    for season in (1, 2):
        for number in (1, 2):
            make_episode(series, season, number)
    html = client.get(reverse("catalog:title_detail", args=[series.tconst])).content.decode()
    assert html.count('class="episode-number"') == 4 and "season-nav" not in html


@pytest.mark.parametrize(
    ("sort", "index"), [("year", "catalog_title_browse_year"), ("title", "catalog_title_browse_title")]
)
def test_the_year_and_title_sorts_read_their_index(sort, index):
    make_title(primary_title="Anything", start_year=1999)
    queryset = selectors.title_browse(sort=sort)[9_000:9_024]  # a deep page
    with connection.cursor() as cursor:
        # What a big table gets: no scan of the whole table, no bitmap (unordered) then sort.
        cursor.execute("SET LOCAL enable_seqscan = off; SET LOCAL enable_bitmapscan = off; SET LOCAL enable_sort = off")
        sql, params = queryset.query.sql_with_params()
        cursor.execute("EXPLAIN " + sql, params)
        plan = "\n".join(row[0] for row in cursor.fetchall())
    assert f"Index Scan using {index}" in plan and "Sort" not in plan, plan


def test_a_long_career_is_paged_from_a_cached_filmography(client, monkeypatch, django_assert_max_num_queries):
    from catalog.models import Crew
    from tests.factories import make_crew, make_person

    monkeypatch.setattr(selectors, "FILMOGRAPHY_CACHE_MIN_TITLES", 5)
    monkeypatch.setattr(selectors, "FILMOGRAPHY_PAGE_SIZE", 4)
    person = make_person(primary_name="Prolific")
    for year in range(2000, 2010):
        make_crew(make_title(primary_title=f"Work {year}", start_year=year), person, Crew.Role.DIRECTOR)
    cache.delete(f"catalog:filmography:{person.nconst}")
    url = reverse("catalog:person_detail", args=[person.nconst])
    try:
        first = client.get(url).content.decode()
        assert "Work 2009" in first and "Work 2006" in first and "Work 2005" not in first
        make_crew(make_title(primary_title="Work 2020", start_year=2020), person, Crew.Role.DIRECTOR)
        # person, known for, the page's titles, its crew and principal credits: the rest is cached
        with django_assert_max_num_queries(5):
            last = client.get(url, {"page": 3}).content.decode()
        assert "Work 2001" in last and "Work 2000" in last and "Work 2020" not in last
    finally:
        cache.delete(f"catalog:filmography:{person.nconst}")
    assert "Work 2020" in client.get(url).content.decode()  # a career under the threshold is not cached
