"""The recommendations page's sorts (issue 17): best match, predicted stars, IMDb rating, year and
popularity in the URL, kept with the member's controls and filters; an unknown sort is the default.

The order function (``ranking_controls.list_order``), the selector (``recommendation_page_get`` with
``sort``) and the page, against the real database and cache."""

import re
from urllib.parse import parse_qs, urlsplit

import numpy as np
import pytest
from django.core.cache import cache
from django.db import connection
from django.test.utils import CaptureQueriesContext

from accounts.models import User
from catalog.models import Title
from recommender.serving.page import recommendation_page_get
from recommender.serving.ranking import LIVE_LIST_LIMIT
from recommender.serving.ranking_controls import (
    LIST_SORTS,
    SORT_DEFAULT,
    RankingControls,
    list_order,
    sort_parse,
)
from recommender.serving.run_model import active_run, run_model_get

URL = "/recommendations/"
CONTROLS_URL = "/recommendations/controls/"


def _ranked(html: str) -> list[str]:
    return re.findall(r'class="card rec-card" data-tconst="(tt\d+)"', html)


def _page_keys() -> set:
    client = cache._cache.get_client(write=False)
    return set(client.keys("*recommender:page:*"))


@pytest.fixture
def member(world):
    user = world["users"][0]
    User.objects.filter(pk=user.pk).update(kind=User.Kind.SITE)
    return User.objects.get(pk=user.pk)


def test_list_order_sorts_high_first_unknown_last_and_keeps_best_match_for_ties():
    predicted = np.array([4.1, 4.8, 4.8, 3.0])
    imdb = np.array([7.0, np.nan, 8.5, 8.5])
    year = np.array([1999.0, 2010.0, np.nan, 1950.0])
    votes = np.array([10.0, 500.0, 20.0, 500.0])
    arrays = {"predicted": predicted, "imdb_rating": imdb, "year": year, "votes": votes}
    assert list_order("best", **arrays).tolist() == [0, 1, 2, 3]
    assert list_order("stars", **arrays).tolist() == [1, 2, 0, 3]  # the tie 1, 2 in best-match order
    assert list_order("imdb", **arrays).tolist() == [2, 3, 0, 1]  # no IMDb rating: last
    assert list_order("year", **arrays).tolist() == [1, 0, 3, 2]  # newest first, unknown year last
    assert list_order("popularity", **arrays).tolist() == [1, 3, 2, 0]
    assert list_order("nonsense", **arrays).tolist() == [0, 1, 2, 3]


@pytest.mark.parametrize("value", [None, "", "IMDB", "stars ", "<script>", "x" * 500, ["stars"]])
def test_an_unknown_sort_is_the_default(value):
    assert sort_parse(value) == SORT_DEFAULT
    assert all(sort_parse(key) == key for key in LIST_SORTS)


def test_each_sort_reorders_the_same_best_titles(world, member):
    model = run_model_get(run=active_run())
    best = recommendation_page_get(user=member, page_size=LIVE_LIST_LIMIT)
    best_items = list(best.page.object_list)
    assert len(best_items) > 20
    facts = {title.tconst: title for title in Title.objects.filter(tconst__in=[item.tconst for item in best_items])}
    for sort, value in (
        ("stars", lambda item: item.predicted_rating),
        ("imdb", lambda item: float(facts[item.tconst].average_rating)),
        ("year", lambda item: float(model.year[item.position])),
        ("popularity", lambda item: facts[item.tconst].num_votes),
    ):
        items = list(recommendation_page_get(user=member, page_size=LIVE_LIST_LIMIT, sort=sort).page.object_list)
        assert {item.tconst for item in items} == {item.tconst for item in best_items}, sort
        values = [value(item) for item in items]
        assert values == sorted(values, reverse=True), sort
        assert [item.tconst for item in items] != [item.tconst for item in best_items], sort
        # Ties keep the best-match order.
        rank = {item.tconst: n for n, item in enumerate(best_items)}
        for first, second in zip(items, items[1:], strict=False):
            if value(first) == value(second):
                assert rank[first.tconst] < rank[second.tconst], sort


def test_the_page_shows_the_sort_the_url_asks_for_and_says_what_best_match_weighs(world, member, client):
    client.force_login(member)
    plain = client.get(URL).content.decode()
    assert "Best match weighs how likely you are to pick a title" in plain
    assert 'aria-current="true" href="?discovery=3&amp;variety=0">Best match' in plain
    stars = client.get(URL, {"sort": "stars"}).content.decode()
    expected = [
        item.tconst for item in recommendation_page_get(user=member, sort="stars", page_size=20).page.object_list
    ]
    assert _ranked(stars) == expected != _ranked(plain)
    assert "sorted by predicted stars within your best matches" in stars
    assert re.search(r'aria-current="true" href="\?[^"]*sort=stars[^"]*">Predicted stars', stars)


def test_an_unknown_sort_shows_the_default_list_from_the_same_cache_entry(world, member, client):
    client.force_login(member)
    plain = _ranked(client.get(URL).content.decode())
    before = _page_keys()
    for value in ("bogus", "<script>", "1" * 300):
        with CaptureQueriesContext(connection) as queries:
            response = client.get(URL, {"sort": value})
        assert response.status_code == 200
        assert _ranked(response.content.decode()) == plain
        assert not any("catalog_title" in query["sql"] for query in queries), "served from the default's entry"
        assert "<script>" not in response.content.decode().split('id="recommendations"', 1)[1]
    assert _page_keys() == before
    # A valid sort is a cache entry of its own.
    client.get(URL, {"sort": "year"})
    assert len(_page_keys() - before) == 1


def test_the_sort_is_kept_with_the_controls_filters_and_pages(world, member, client):
    client.force_login(member)
    body = client.get(URL, {"sort": "imdb", "discovery": 4, "variety": 1, "genre": "Drama"}).content.decode()
    # Every sort link keeps the controls and the filter.
    links = re.findall(r'class="rec-sort-link[^"]*"(?: aria-current="true")? href="\?([^"]+)"', body)
    assert len(links) == len(LIST_SORTS)
    for link in links:
        query = parse_qs(link.replace("&amp;", "&"))
        assert query["discovery"] == ["4"] and query["variety"] == ["1"] and query["genre"] == ["Drama"]
    # The controls' form and the filters' form send it on.
    controls_form = body.split('id="h-controls"', 1)[1].split("</form>", 1)[0]
    assert '<input type="hidden" name="sort" value="imdb">' in controls_form
    filters_form = body.split('aria-label="Filter recommendations"', 1)[1].split("</form>", 1)[0]
    assert '<input type="hidden" name="sort" value="imdb">' in filters_form
    # Pagination links carry it.
    pages = re.findall(r'href="\?([^"]*page=2[^"]*)"', client.get(URL, {"sort": "imdb"}).content.decode())
    assert pages and all("sort=imdb" in page for page in pages)
    # Saving the controls keeps the sort in the address it sends the member to.
    response = client.post(CONTROLS_URL, {"discovery": "2", "sort": "imdb"})
    location = parse_qs(urlsplit(response["Location"]).query)
    assert location["sort"] == ["imdb"] and location["discovery"] == ["2"]
    response = client.post(CONTROLS_URL, {"discovery": "2", "sort": "nonsense"})
    assert "sort" not in parse_qs(urlsplit(response["Location"]).query)


def test_a_sort_with_the_controls_in_force_gives_the_controls_list_reordered(world, member):
    controls = RankingControls(discovery=5, hide_genre="Drama")
    best = recommendation_page_get(user=member, controls=controls, page_size=LIVE_LIST_LIMIT)
    by_year = recommendation_page_get(user=member, controls=controls, sort="year", page_size=LIVE_LIST_LIMIT)
    assert {item.tconst for item in best.page.object_list} == {item.tconst for item in by_year.page.object_list}
