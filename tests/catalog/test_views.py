"""Catalog pages through the Django test client against the real Postgres: home, browse with
combined filters and pagination, title and person pages, anonymous vs signed-in, 404s, and query
counts that do not grow with the number of rows shown (no N+1)."""

import re
from decimal import Decimal

import pytest
from django.urls import reverse
from django.utils import timezone

from catalog.selectors import title_browse, title_popular_list
from ratings.models import Rating, WatchlistItem
from tests.factories import make_small_catalog, make_title, weighted_rating_refresh

pytestmark = pytest.mark.django_db


def tconsts_in(html: str, marker: str = "data-tconst") -> list[str]:
    """The tconsts of the cards/results on a page, in page order."""
    return re.findall(rf'<li class="[^"]*(?:card|result)[^"]*" {marker}="(tt\d+)"', html)


@pytest.fixture
def catalog():
    return make_small_catalog()


# --- home ---------------------------------------------------------------------------------------


def test_weighted_rating_does_not_let_a_handful_of_perfect_votes_win():
    famous = make_title(primary_title="Famous", average_rating=Decimal("8.6"), num_votes=1_500_000)
    perfect = make_title(primary_title="Five friends", average_rating=Decimal("10.0"), num_votes=5)
    good = make_title(primary_title="Good", average_rating=Decimal("7.9"), num_votes=60_000)
    for votes in (10, 20, 30, 40):  # an ordinary catalogue around a mean of 6
        make_title(average_rating=Decimal("6.0"), num_votes=votes)
    weighted_rating_refresh()  # what an import's ratings sync does: C from the whole catalogue
    ranked = list(title_popular_list(by="rating"))
    assert ranked[0] == famous
    assert ranked.index(good) < ranked.index(perfect)
    # The Bayesian average, worked by hand for the perfect title: C = mean of the 7 averages
    # (to two decimals).
    mean = round((8.6 + 10 + 7.9 + 4 * 6.0) / 7, 2)
    m = 25_000
    expected = 5 / (5 + m) * 10 + m / (5 + m) * mean
    perfect_row = next(title for title in ranked if title.pk == perfect.pk)
    assert perfect_row.weighted_rating == pytest.approx(expected, abs=1e-6)
    by_votes = list(title_popular_list(by="votes"))
    assert [t.pk for t in by_votes[:3]] == [famous.pk, good.pk, by_votes[2].pk]


def test_home_lists_popular_titles_for_anonymous_visitors(client, catalog, django_assert_max_num_queries):
    with django_assert_max_num_queries(5):  # +1: the catalogue's size (once a minute)
        response = client.get(reverse("home"))
    assert response.status_code == 200
    html = response.content.decode()
    assert "Top rated" in html and "Most popular" in html
    shown = tconsts_in(html)
    assert shown[0] == "tt0098904"  # Seinfeld: 8.9 with 350k votes tops the weighted list
    assert "tt0211915" in shown and "tt0034583" in shown
    assert "Log in to rate" in html
    # Single episodes are not "popular titles".
    assert catalog["episodes"][0].tconst not in shown


def test_home_shows_the_members_own_ratings(member_client, member, catalog, django_assert_max_num_queries):
    Rating.objects.create(user=member, title=catalog["casablanca"], score=4)
    # The catalogue's size, the home's vote cut-off and the facets are cached for a minute or more:
    # a first request fills what earlier tests left empty (9 queries from a cold cache), so the
    # count measured is a page's steady one, whatever ran before.
    member_client.get(reverse("home"))
    with django_assert_max_num_queries(8):
        response = member_client.get(reverse("home"))
    html = response.content.decode()
    card = html[html.index('data-tconst="tt0034583"') :]
    card = card[: card.index("</li>")]
    assert re.findall(r'<label class="star on"[^>]*><input type="radio" name="score" value="(\d)"', card) == [
        "1",
        "2",
        "3",
        "4",
    ]
    assert "Your rating of Casablanca: 4 of 5" in card


def test_home_query_count_does_not_grow_with_titles(member_client, member, django_assert_max_num_queries):
    titles = [make_title(average_rating=Decimal("7.0"), num_votes=1000 + n) for n in range(30)]
    for title in titles[:10]:
        Rating.objects.create(user=member, title=title, score=3)
    # session + user + 2 lists + 2 rating look-ups (one per list) + the catalogue's size (once a
    # minute), whatever the number of cards; after a first request has filled the cached facts
    member_client.get(reverse("home"))
    with django_assert_max_num_queries(8):
        response = member_client.get(reverse("home"))
    assert len(tconsts_in(response.content.decode())) == 24


def test_home_with_an_empty_catalogue(client):
    response = client.get(reverse("home"))
    assert response.status_code == 200
    assert "No titles yet" in response.content.decode()


# --- browse ---------------------------------------------------------------------------------------


@pytest.fixture
def browse_titles():
    crime_drama = ["Crime", "Drama"]
    rows = [
        # name, primary title, genres, start year, IMDb votes, IMDb average, other fields
        ("noir40", "Noir Forties", ["Crime", "Drama", "Film-Noir"], 1944, 50_000, "8.0", {}),
        ("noir50", "Noir Fifties", ["Crime", "Film-Noir"], 1955, 9_000, "7.6", {}),
        ("drama40", "Drama Forties", ["Drama"], 1946, 120_000, "7.1", {}),
        ("crime_short", "Crime Short", crime_drama, 1948, 300, "6.5", {"title_type": "short"}),
        ("crime_series", "Crime Series", crime_drama, 1949, 2_000, "7.0", {"title_type": "tvSeries", "end_year": 1952}),
        ("unrated", "Unrated Crime Drama", crime_drama, 1947, None, None, {}),
        ("adult", "Adult Crime Drama", crime_drama, 1947, 5000, None, {"is_adult": True}),
        ("removed", "Removed Crime Drama", crime_drama, 1947, 5000, None, {"removed_at": timezone.now()}),
    ]
    titles = {}
    for name, primary_title, genres, start_year, votes, average, other in rows:
        if votes is not None:
            other["num_votes"] = votes
        if average is not None:
            other["average_rating"] = Decimal(average)
        titles[name] = make_title(primary_title=primary_title, genres=list(genres), start_year=start_year, **other)
    return titles


def browse(client, query: str) -> list[str]:
    response = client.get(f"{reverse('catalog:title_list')}?{query}")
    assert response.status_code == 200
    return tconsts_in(response.content.decode())


def test_filters_combine(client, browse_titles):
    t = {name: title.tconst for name, title in browse_titles.items()}
    # Two genres: titles having both, adult and removed titles never listed.
    assert browse(client, "genre=Crime&genre=Drama") == [t["noir40"], t["crime_series"], t["crime_short"], t["unrated"]]
    assert browse(client, "genre=Crime&genre=Drama&year_min=1945&year_max=1948") == [t["crime_short"], t["unrated"]]
    assert browse(client, "genre=Crime&type=movie") == [t["noir40"], t["noir50"], t["unrated"]]
    assert browse(client, "genre=Crime&type=movie&type=short") == [
        t["noir40"],
        t["noir50"],
        t["crime_short"],
        t["unrated"],
    ]
    assert browse(client, "genre=Crime&min_votes=2000") == [t["noir40"], t["noir50"], t["crime_series"]]
    assert browse(client, "genre=Film-Noir&genre=Drama&year_min=1940&year_max=1950&type=movie&min_votes=1000") == [
        t["noir40"]
    ]
    assert browse(client, "genre=Western") == []


def test_sorts(client, browse_titles):
    t = {name: title.tconst for name, title in browse_titles.items()}
    query = "genre=Crime&type=movie"
    assert browse(client, query + "&sort=popularity") == [t["noir40"], t["noir50"], t["unrated"]]
    assert browse(client, query + "&sort=year") == [t["noir50"], t["unrated"], t["noir40"]]
    assert browse(client, query + "&sort=title") == [t["noir50"], t["noir40"], t["unrated"]]
    # Weighted rating: unrated last; 8.0 with 50k votes beats 7.6 with 9k.
    assert browse(client, query + "&sort=rating") == [t["noir40"], t["noir50"], t["unrated"]]


def test_the_form_keeps_the_filter_state(client, browse_titles):
    response = client.get(
        reverse("catalog:title_list") + "?genre=Crime&genre=Film-Noir&year_min=1940&type=short&sort=year"
    )
    html = response.content.decode()
    assert re.search(r'<input type="checkbox" name="genre" value="Crime"[^>]*checked', html)
    assert re.search(r'<input type="checkbox" name="genre" value="Film-Noir"[^>]*checked', html)
    assert not re.search(r'<input type="checkbox" name="genre" value="Drama"[^>]*checked', html)
    assert 'name="year_min" value="1940"' in html
    assert '<option value="short" selected>' in html
    assert '<option value="year" selected>' in html


def test_the_empty_form_as_submitted_filters_nothing(client, browse_titles):
    response = client.get(reverse("catalog:title_list") + "?year_min=&year_max=&type=&min_votes=&sort=popularity")
    html = response.content.decode()
    assert "errorlist" not in html
    assert len(tconsts_in(html)) == 6


def test_invalid_filters_are_reported_and_the_valid_ones_still_apply(client, browse_titles):
    response = client.get(reverse("catalog:title_list") + "?genre=Crime&genre=Nonsense&year_min=19x4&sort=sideways")
    assert response.status_code == 200
    html = response.content.decode()
    assert "(ignored)" in html
    # genre is invalid as a whole (one bad choice); year_min and sort too: everything is listed.
    assert len(tconsts_in(html)) == 6
    response = client.get(reverse("catalog:title_list") + "?year_min=1950&year_max=1940&genre=Crime")
    html = response.content.decode()
    assert "must not be before" in html
    # The contradicting "to year" is dropped; "from year" and the genre still apply.
    assert tconsts_in(html) == [browse_titles["noir50"].tconst]


def test_pagination_keeps_filters_and_covers_every_title_once(client):
    titles = [make_title(primary_title=f"Western {n:02d}", genres=["Western"], num_votes=1000 - n) for n in range(30)]
    make_title(primary_title="Not a western", genres=["Drama"], num_votes=5000)
    first = client.get(reverse("catalog:title_list") + "?genre=Western&sort=popularity")
    html = first.content.decode()
    assert "Page 1 of 2" in html
    assert 'href="?genre=Western&amp;sort=popularity&amp;page=2"' in html
    second = client.get(reverse("catalog:title_list") + "?genre=Western&sort=popularity&page=2")
    shown = tconsts_in(html) + tconsts_in(second.content.decode())
    assert shown == [title.tconst for title in titles]
    # Past the end or garbage: the nearest valid page, never an error.
    assert tconsts_in(client.get(reverse("catalog:title_list") + "?genre=Western&page=99").content.decode()) == [
        title.tconst for title in titles[24:]
    ]
    assert client.get(reverse("catalog:title_list") + "?genre=Western&page=abc").status_code == 200


def test_browse_query_count_does_not_grow_with_the_page(member_client, member, django_assert_max_num_queries):
    titles = [make_title(num_votes=n) for n in range(40)]
    for title in titles:
        Rating.objects.create(user=member, title=title, score=2)
    # session + user + the genres and types with titles + count + page + the member's ratings for the page
    # + the active run (predictions) + the catalogue's size (once a minute); the count's time
    # budget adds its savepoint (inside the test's transaction), its setting and the setting's
    # restoring
    with django_assert_max_num_queries(11):
        response = member_client.get(reverse("catalog:title_list") + "?sort=rating")
    assert len(tconsts_in(response.content.decode())) == 24
    assert response.content.decode().count('class="star-input" checked') == 24


def test_title_browse_selector_ignores_empty_filters(browse_titles):
    listed = set(title_browse().values_list("tconst", flat=True))
    assert browse_titles["adult"].tconst not in listed
    assert browse_titles["removed"].tconst not in listed
    assert len(listed) == 6


# --- title page -----------------------------------------------------------------------------------


def test_title_page_shows_everything(client, catalog, django_assert_max_num_queries):
    with django_assert_max_num_queries(9):  # +1: the members' ratings beside IMDb's
        response = client.get(reverse("catalog:title_detail", args=["tt0034583"]))
    assert response.status_code == 200
    html = response.content.decode()
    assert "<h1>Casablanca" in html and "(1942)" in html
    assert "1 h 42 min" in html
    assert "Drama, Romance, War" in html
    assert "8.5" in html and "637,545 votes" in html
    # Directors and writers, the dangling writer counted as not in the imported data, not dropped.
    assert re.search(r"Directed by</dt><dd><a href=\"/people/nm0002031/\">Michael Curtiz</a>", html)
    assert re.search(r"Michael Curtiz</a> and <span class=\"muted\">1 other not in the imported data</span>", html)
    assert "nm0000404" not in html
    # Principal cast with characters, including a person missing from name.basics.
    assert re.search(r'Humphrey Bogart</a></span>\s*<span class="cast-as muted">as Rick Blaine', html)
    assert "as Ilsa Lund" in html
    assert "And 1 person not in the imported data, as Captain Louis Renault" in html
    assert "nm0000505" not in html
    assert "Composer — music by" in html
    # Alternative titles grouped by region name.
    assert "<dt>France</dt>" in html and "<dt>Greece</dt>" in html and "Καζαμπλάνκα" in html
    assert html.index("<dt>France</dt>") < html.index("<dt>Greece</dt>") < html.index("<dt>United States</dt>")
    assert "Log in to rate" in html


def test_title_page_original_title(client, catalog):
    html = client.get(reverse("catalog:title_detail", args=["tt0047478"])).content.decode()
    assert "Original title: <em" in html and "Shichinin no samurai" in html
    html = client.get(reverse("catalog:title_detail", args=["tt0034583"])).content.decode()
    assert "Original title" not in html


def test_series_page_lists_episodes_by_season(client, catalog, django_assert_max_num_queries):
    # +2 for a title without cast: what the principals' coverage depends on, and (the first time,
    # then cached) where the imported title.principals stops (catalog.selectors.principals_last_number)
    with django_assert_max_num_queries(10):
        client.get(reverse("catalog:title_detail", args=["tt0098904"]))
    with django_assert_max_num_queries(9):
        response = client.get(reverse("catalog:title_detail", args=["tt0098904"]))
    html = response.content.decode()
    assert "(1989–1998)" in html
    assert "Season 1" in html and "Season 2" in html
    assert html.index("The Seinfeld Chronicles") < html.index("The Stake Out") < html.index("Season 2")
    assert html.index("Season 2") < html.index("The Ex-Girlfriend")
    assert "3 episodes in this catalogue" in html  # the episode missing from title.basics is not invented


def test_episode_page_links_its_series(client, catalog):
    episode = catalog["episodes"][1]
    html = client.get(reverse("catalog:title_detail", args=[episode.tconst])).content.decode()
    assert 'Episode of <a href="/titles/tt0098904/">Seinfeld</a>' in html
    assert "Season 1, episode 2" in html
    orphan = catalog["orphan_episode"]
    response = client.get(reverse("catalog:title_detail", args=[orphan.tconst]))
    assert response.status_code == 200
    assert "a series not in this catalogue (tt0000888)" in response.content.decode()


def test_title_page_for_a_member_shows_their_rating_and_watchlist(
    member_client, member, catalog, django_assert_max_num_queries
):
    Rating.objects.create(user=member, title=catalog["casablanca"], score=5)
    WatchlistItem.objects.create(user=member, title=catalog["casablanca"])
    # +2: the "More like this" partial; +1 the members' ratings, +1 the active run (predictions);
    # +1 the member's own stars of the similar titles (shown instead of a prediction)
    with django_assert_max_num_queries(16):
        response = member_client.get(reverse("catalog:title_detail", args=["tt0034583"]))
    html = response.content.decode()
    assert "Your rating of Casablanca: 5 of 5" in html
    assert "On watchlist" in html
    assert "Log in to rate" not in html


def test_series_query_count_does_not_grow_with_episodes(client, django_assert_max_num_queries):
    from tests.factories import make_episode

    series = make_title(title_type="tvSeries", primary_title="Long Runner")
    for season in range(1, 6):
        for number in range(1, 11):
            make_episode(series, season, number)
    # +2: no cast, the principals' coverage (test_series_page_lists_episodes_by_season)
    with django_assert_max_num_queries(10):
        response = client.get(reverse("catalog:title_detail", args=[series.tconst]))
    assert response.content.decode().count('class="episode-number"') == 50


def test_removed_and_adult_titles_still_open(client):
    removed = make_title(primary_title="Gone", removed_at=timezone.now())
    html = client.get(reverse("catalog:title_detail", args=[removed.tconst])).content.decode()
    assert "No longer in IMDb" in html


@pytest.mark.parametrize("tconst", ["tt9999999", "nonsense", "tt0034583x"])
def test_unknown_title_is_404(client, catalog, tconst):
    response = client.get(f"/titles/{tconst}/")
    assert response.status_code == 404
    assert "404" in response.content.decode()


# --- person page ----------------------------------------------------------------------------------


def test_person_page(client, catalog, django_assert_max_num_queries):
    # person, known for, credit count, page of titles, their crew and principal credits, totals per kind
    with django_assert_max_num_queries(7):
        response = client.get(reverse("catalog:person_detail", args=["nm0000007"]))
    assert response.status_code == 200
    html = response.content.decode()
    assert "<h1>Humphrey Bogart</h1>" in html
    assert "Born 1899 · died 1957" in html
    assert "Actor" in html and "Producer" in html and "Soundtrack" in html
    # Known for: the title in the catalogue; tt0099999 is not, and is left out quietly.
    assert tconsts_in(html) == ["tt0034583"]
    assert re.search(
        r'<a href="/titles/tt0034583/">Casablanca</a>.*?Actor <span class="muted">as Rick Blaine', html, re.S
    )


def test_person_filmography_newest_first(client, catalog):
    curtiz = catalog["curtiz"]
    later = make_title(primary_title="White Christmas", start_year=1954)
    from tests.factories import make_principal

    make_principal(later, curtiz, category="director")
    html = client.get(reverse("catalog:person_detail", args=[curtiz.nconst])).content.decode()
    assert html.index("White Christmas") < html.index("Casablanca</a>")
    assert "Known for" in html and "None of the titles this person is known for" in html


def test_unknown_person_is_404(client):
    assert client.get("/people/nm0000001/").status_code == 404
