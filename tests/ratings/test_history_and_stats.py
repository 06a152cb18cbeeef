"""Rating history (sort, filter, paginate, CSV) and the statistics page (numbers, charts, tables)."""

import csv
import datetime as dt
import io

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from ratings import selectors
from ratings.models import Rating

pytestmark = pytest.mark.django_db


def at(year, month, day):
    return dt.datetime(year, month, day, 12, tzinfo=dt.UTC)


@pytest.fixture
def library(member, user_factory, title_factory):
    """Five rated titles with known scores, years, genres and dates, plus another user's rating."""
    specs = [
        # title, year, genres, score, rated at
        ("Alien", 1979, ["Horror", "Sci-Fi"], 5, at(2024, 1, 5)),
        ("Brazil", 1985, ["Comedy", "Sci-Fi"], 4, at(2024, 1, 20)),
        ("Casablanca", 1942, ["Drama", "Romance"], 5, at(2024, 3, 2)),
        ("Dune", 2021, ["Sci-Fi", "Drama"], 2, at(2024, 3, 9)),
        ("Eraserhead", None, ["Horror"], 1, at(2024, 4, 1)),
    ]
    titles = {}
    for name, year, genres, score, when in specs:
        title = title_factory(primary_title=name, start_year=year, genres=genres)
        rating = Rating.objects.create(user=member, title=title, score=score)
        Rating.objects.filter(pk=rating.pk).update(updated_at=when, created_at=when)
        titles[name] = title
    Rating.objects.create(user=user_factory(), title=title_factory(primary_title="Zelig", genres=["Comedy"]), score=3)
    return titles


def names(response) -> list[str]:
    return [rating.title.primary_title for rating in response.context["ratings"]]


@pytest.mark.parametrize(
    ("sort", "expected"),
    [
        (None, ["Eraserhead", "Dune", "Casablanca", "Brazil", "Alien"]),
        ("-date", ["Eraserhead", "Dune", "Casablanca", "Brazil", "Alien"]),
        ("date", ["Alien", "Brazil", "Casablanca", "Dune", "Eraserhead"]),
        ("-score", ["Casablanca", "Alien", "Brazil", "Dune", "Eraserhead"]),
        ("score", ["Eraserhead", "Dune", "Brazil", "Casablanca", "Alien"]),
        ("title", ["Alien", "Brazil", "Casablanca", "Dune", "Eraserhead"]),
        ("-title", ["Eraserhead", "Dune", "Casablanca", "Brazil", "Alien"]),
        ("year", ["Casablanca", "Alien", "Brazil", "Dune", "Eraserhead"]),
        ("-year", ["Dune", "Brazil", "Alien", "Casablanca", "Eraserhead"]),  # unknown year last both ways
    ],
)
def test_history_sorts(member_client, library, sort, expected):
    response = member_client.get("/me/ratings/", {"sort": sort} if sort else {})
    assert response.status_code == 200
    assert names(response) == expected


def test_history_filters_by_score_and_genre(member_client, library):
    assert names(member_client.get("/me/ratings/", {"score": "5", "sort": "title"})) == ["Alien", "Casablanca"]
    assert names(member_client.get("/me/ratings/", {"genre": "Sci-Fi", "sort": "title"})) == ["Alien", "Brazil", "Dune"]
    assert names(member_client.get("/me/ratings/", {"genre": "Horror", "score": "1"})) == ["Eraserhead"]
    response = member_client.get("/me/ratings/", {"genre": "Horror", "score": "3"})
    assert names(response) == [] and "No ratings match these filters" in response.content.decode()


def test_history_genre_choices_are_my_genres(member_client, library):
    choices = [value for value, _ in member_client.get("/me/ratings/").context["form"].fields["genre"].choices]
    assert choices == ["", "Comedy", "Drama", "Horror", "Romance", "Sci-Fi"]


def test_history_ignores_bad_filters_with_a_warning(member_client, library):
    response = member_client.get("/me/ratings/", {"score": "9", "sort": "nonsense"})
    assert response.status_code == 200
    assert len(names(response)) == 5
    assert "were not understood" in response.content.decode()


def test_history_headers_link_to_sorts_and_keep_filters(member_client, library):
    response = member_client.get("/me/ratings/", {"genre": "Sci-Fi", "sort": "title"})
    columns = {column["label"]: column for column in response.context["columns"]}
    assert columns["Title"]["aria_sort"] == "ascending"
    assert columns["Title"]["url"] == "?genre=Sci-Fi&sort=-title"
    assert columns["Your score"]["url"] == "?genre=Sci-Fi&sort=-score"
    assert columns["Genres"]["url"] is None


def test_history_paginates(member_client, member, title_factory, monkeypatch):
    from ratings import views

    monkeypatch.setattr(views, "HISTORY_PAGE_SIZE", 2)
    for index in range(5):
        Rating.objects.create(user=member, title=title_factory(primary_title=f"T{index}"), score=3)
    first = member_client.get("/me/ratings/", {"sort": "title", "score": "3"})
    third = member_client.get("/me/ratings/", {"sort": "title", "score": "3", "page": "3"})
    assert names(first) == ["T0", "T1"] and names(third) == ["T4"]
    html = first.content.decode()
    assert "Page 1 of 3" in html and 'href="?sort=title&amp;score=3&amp;page=2"' in html
    assert names(member_client.get("/me/ratings/", {"sort": "title", "page": "99"})) == ["T4"]


def test_history_csv_export_follows_filters_and_sort(member_client, library):
    response = member_client.get("/me/ratings/", {"format": "csv", "genre": "Sci-Fi", "sort": "-score"})
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    assert "attachment" in response["Content-Disposition"]
    rows = list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert [(row["title"], row["score"]) for row in rows] == [("Alien", "5"), ("Brazil", "4"), ("Dune", "2")]
    assert rows[0]["tconst"] == library["Alien"].tconst
    assert rows[0]["genres"] == "Horror,Sci-Fi"
    assert rows[0]["rated_at"].startswith("2024-01-05")
    assert rows[0]["url"] == f"https://www.imdb.com/title/{library['Alien'].tconst}/"


def test_history_csv_export_of_everything_is_only_mine(member_client, library):
    response = member_client.get("/me/ratings/?format=csv")
    rows = list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert sorted(row["title"] for row in rows) == ["Alien", "Brazil", "Casablanca", "Dune", "Eraserhead"]


def test_statistics_selector_numbers(member, library):
    stats = selectors.rating_statistics_for_user(user=member)
    assert stats["count"] == 5
    assert stats["average"] == pytest.approx(17 / 5)
    assert stats["distribution"] == [(1, 1), (2, 1), (3, 0), (4, 1), (5, 2)]
    by_genre = {row["genre"]: (row["count"], row["average"]) for row in stats["by_genre"]}
    assert by_genre == {
        "Sci-Fi": (3, pytest.approx(11 / 3)),
        "Horror": (2, 3.0),
        "Drama": (2, 3.5),
        "Comedy": (1, 4.0),
        "Romance": (1, 5.0),
    }
    assert stats["by_genre"][0]["genre"] == "Sci-Fi"
    assert stats["by_month"] == [
        (dt.date(2024, 1, 1), 2, 4.5),
        (dt.date(2024, 3, 1), 2, 3.5),
        (dt.date(2024, 4, 1), 1, 1.0),
    ]
    assert [(row["decade"], row["count"], row["average"]) for row in stats["by_decade"]] == [
        (1940, 1, 5.0),
        (1970, 1, 5.0),
        (1980, 1, 4.0),
        (2020, 1, 2.0),
    ]
    # No decade has two ratings, so all count; best average first, then more ratings, then older.
    assert [row["decade"] for row in stats["favourite_decades"]] == [1940, 1970, 1980, 2020]


def test_favourite_decades_prefer_decades_with_several_ratings(member, title_factory):
    for year, score in [(1995, 4), (1999, 5), (1960, 5)]:
        Rating.objects.create(user=member, title=title_factory(start_year=year), score=score)
    stats = selectors.rating_statistics_for_user(user=member)
    assert [row["decade"] for row in stats["favourite_decades"]] == [1990]


def test_statistics_page_has_charts_and_the_numbers_as_text(member_client, library):
    response = member_client.get("/me/stats/")
    assert response.status_code == 200
    html = response.content.decode()
    for chart_id in ("chart-distribution", "chart-genres", "chart-genre-average", "chart-over-time", "chart-decades"):
        assert html.count(f'id="{chart_id}"') == 1
        assert f'aria-labelledby="{chart_id}-title {chart_id}-desc"' in html
    assert '<span class="stat-value" id="stat-count">5</span>' in html
    assert '<span class="stat-value" id="stat-average">3.40</span>' in html
    # The tables carry every number: distribution, genres, months, decades.
    assert '<th scope="row">5 stars</th><td class="num">2</td><td class="num">40%</td>' in html
    assert '<th scope="row">Sci-Fi</th><td class="num">3</td><td class="num">3.67</td>' in html
    assert '<th scope="row">January 2024</th><td class="num">2</td><td class="num">4.50</td>' in html
    assert '<th scope="row">1940s</th><td class="num">1</td><td class="num">5.00</td>' in html
    # Chart descriptions repeat the numbers for screen readers.
    assert '<desc id="chart-distribution-desc">1★: 1; 2★: 1; 3★: 0; 4★: 1; 5★: 2</desc>' in html


def test_statistics_page_without_ratings(member_client):
    html = member_client.get("/me/stats/").content.decode()
    assert "No ratings yet" in html and "<svg" not in html


def test_chart_labels_are_escaped(member, title_factory, member_client):
    Rating.objects.create(user=member, title=title_factory(genres=['<script>alert("x")</script>']), score=4)
    html = member_client.get("/me/stats/").content.decode()
    assert "<script>alert" not in html
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;" in html


def test_profile_summary_partial(rf, member, library):
    from ratings.providers import profile_summary_section

    request = rf.get("/accounts/profile/")
    request.user = member
    html = str(profile_summary_section(request=request))
    assert '<dd id="summary-count">5</dd>' in html
    assert "3.40 of 5" in html
    assert "Eraserhead" in html  # last rated
    assert "<dt>Best-liked genre</dt><dd>Sci-Fi</dd>" in html  # best average among genres with 2+ ratings
    for url in ("/me/ratings/", "/me/stats/", "/me/watchlist/", "/me/not-interested/", "/me/import/"):
        assert f'href="{url}' in html


def test_timeline_fills_empty_months():
    from ratings.charts import timeline_bars

    bars = timeline_bars([(dt.date(2024, 11, 1), 2, 4.0), (dt.date(2025, 2, 1), 1, 3.0)])
    assert [(bar.label, bar.value) for bar in bars] == [
        ("Nov 2024", 2),
        ("Dec 2024", 0),
        ("Jan 2025", 0),
        ("Feb 2025", 1),
    ]
    assert timeline_bars([]) == []


def test_timeline_of_a_long_history_is_yearly():
    from ratings.charts import timeline_bars

    bars = timeline_bars([(dt.date(2010, 5, 1), 3, 4.0), (dt.date(2010, 9, 1), 1, 4.0), (dt.date(2014, 6, 1), 2, 2.0)])
    assert [(bar.label, bar.value) for bar in bars] == [("2010", 4), ("2011", 0), ("2012", 0), ("2013", 0), ("2014", 2)]


def test_statistics_page_over_a_long_history(member_client, member, title_factory):
    for when in [at(2009, 1, 1), at(2015, 6, 1), at(2024, 12, 31)]:
        rating = Rating.objects.create(user=member, title=title_factory(), score=4)
        Rating.objects.filter(pk=rating.pk).update(updated_at=when)
    html = member_client.get("/me/stats/").content.decode()
    assert "Ratings per year" in html
    assert html.count('<th scope="row">') >= 3


@pytest.mark.parametrize("path", ["/me/ratings/", "/me/stats/", "/me/watchlist/"])
def test_pages_use_a_fixed_number_of_queries(member_client, member, title_factory, path, django_assert_max_num_queries):
    from ratings.models import WatchlistItem

    def add(count):
        for index in range(count):
            title = title_factory(start_year=1950 + index, genres=[["Drama"], ["Comedy", "Drama"]][index % 2])
            Rating.objects.create(user=member, title=title, score=index % 5 + 1)
            WatchlistItem.objects.create(user=member, title=title)

    add(3)
    with CaptureQueriesContext(connection) as few:
        assert member_client.get(path).status_code == 200
    add(30)
    with django_assert_max_num_queries(len(few.captured_queries)):
        assert member_client.get(path).status_code == 200


def test_history_csv_export_defuses_titles_a_spreadsheet_would_run(member, member_client, title_factory):
    for name in ('=HYPERLINK("http://evil.example","click")', "+1 (2019)", "-", "@Home", "Plain"):
        Rating.objects.create(user=member, title=title_factory(primary_title=name), score=3)
    response = member_client.get("/me/ratings/?format=csv")
    rows = list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert sorted(row["title"] for row in rows) == sorted(
        ['\'=HYPERLINK("http://evil.example","click")', "'+1 (2019)", "'-", "'@Home", "Plain"]
    )


def test_implausible_dates_never_stretch_the_timeline(member_client, member, title_factory):
    """Ratings dated year 1 and 9999 (stored before imports checked dates) are left out of the
    timeline: it spans the member's real years, not 9,999 bars."""
    real = [title_factory(tconst=f"tt00002{n:02d}") for n in range(3)]
    Rating.objects.create(user=member, title=real[0], score=4)
    Rating.objects.create(user=member, title=real[1], score=3)
    Rating.objects.create(user=member, title=real[2], score=5)
    Rating.objects.filter(title=real[0]).update(updated_at=at(2019, 3, 1))
    Rating.objects.filter(title=real[1]).update(updated_at=dt.datetime(1, 1, 1, 12, tzinfo=dt.UTC))
    Rating.objects.filter(title=real[2]).update(updated_at=dt.datetime(9999, 12, 31, 12, tzinfo=dt.UTC))
    stats = selectors.rating_statistics_for_user(user=member)
    assert [month for month, _, _ in stats["by_month"]] == [dt.date(2019, 3, 1)]
    html = member_client.get("/me/stats/").content.decode()
    assert len(html) < 200_000
    assert "0001" not in html and "9999" not in html


def test_statistics_are_cached_until_a_rating_changes(member, title_factory, django_assert_max_num_queries):
    titles = [title_factory(tconst=f"tt00005{n:02d}") for n in range(3)]
    Rating.objects.create(user=member, title=titles[0], score=4)
    assert selectors.rating_statistics_for_user(user=member)["count"] == 1
    with django_assert_max_num_queries(1):  # the state query; the numbers come from the cache
        assert selectors.rating_statistics_for_user(user=member)["count"] == 1
    Rating.objects.create(user=member, title=titles[1], score=2)
    assert selectors.rating_statistics_for_user(user=member)["average"] == 3.0
    Rating.objects.filter(user=member, title=titles[1]).update(score=5, updated_at=at(2030, 1, 1))
    assert selectors.rating_statistics_for_user(user=member)["average"] == 4.5
