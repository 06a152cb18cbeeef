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


def test_browse_counts_at_most_the_cap_and_pages_stop_there(client, monkeypatch):
    monkeypatch.setattr(selectors, "BROWSE_MAX_RESULTS", 30)
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
    assert "<strong>11</strong> titles" in html


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
