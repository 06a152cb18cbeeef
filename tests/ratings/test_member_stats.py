"""Top people by the member's ratings and the year in review (``/me/stats/``)."""

import datetime as dt

import pytest
from django.urls import reverse

from ratings.member_stats import rating_years_for_user, top_people_for_user, year_review_for_user
from ratings.models import Rating
from tests.factories import make_crew, make_person, make_principal

pytestmark = pytest.mark.django_db


def _rate(user, title, score, when):
    rating = Rating.objects.create(user=user, title=title, score=score)
    Rating.objects.filter(pk=rating.pk).update(created_at=when, updated_at=when)


@pytest.fixture
def filmography(member, title_factory):
    kubrick = make_person(primary_name="Stanley Kubrick")
    lean = make_person(primary_name="David Lean")
    once = make_person(primary_name="One-Film Director")
    writer = make_person(primary_name="Jean-Claude Carrière")
    actress = make_person(primary_name="Shelley Duvall")
    actor = make_person(primary_name="Peter O'Toole")
    titles = {}
    plan = [
        ("Paths of Glory", kubrick, 5, ["War"], dt.datetime(2023, 3, 1, tzinfo=dt.UTC)),
        ("The Shining", kubrick, 4, ["Horror"], dt.datetime(2023, 3, 9, tzinfo=dt.UTC)),
        ("Barry Lyndon", kubrick, 5, ["Drama"], dt.datetime(2023, 7, 2, tzinfo=dt.UTC)),
        ("Lawrence of Arabia", lean, 5, ["Drama", "War"], dt.datetime(2024, 1, 5, tzinfo=dt.UTC)),
        ("Doctor Zhivago", lean, 3, ["Drama"], dt.datetime(2024, 1, 6, tzinfo=dt.UTC)),
        ("Brief Encounter", lean, 3, ["Drama"], dt.datetime(2024, 2, 6, tzinfo=dt.UTC)),
        ("Masterpiece", once, 5, ["Drama"], dt.datetime(2024, 2, 7, tzinfo=dt.UTC)),
    ]
    for name, director, score, genres, when in plan:
        title = title_factory(primary_title=name, genres=genres)
        make_crew(title, director, "director")
        make_crew(title, writer, "writer")
        titles[name] = title
        _rate(member, title, score, when)
    for name in ("The Shining", "Paths of Glory", "Barry Lyndon"):
        make_principal(titles[name], actress, category="actress")
    for name in ("Lawrence of Arabia", "Brief Encounter"):
        make_principal(titles[name], actor, category="actor")
    return {"kubrick": kubrick, "lean": lean, "writer": writer, "actress": actress, "titles": titles}


def test_top_people_need_the_minimum_count_and_rank_by_average(member, filmography):
    directors = top_people_for_user(user=member, role="director")
    assert [(row["name"], row["count"], round(row["average"], 2)) for row in directors] == [
        ("Stanley Kubrick", 3, 4.67),
        ("David Lean", 3, 3.67),
    ]  # the one-film director's 5 stars do not make a favourite
    assert directors[0]["best"] in ("Paths of Glory", "Barry Lyndon")
    writers = top_people_for_user(user=member, role="writer")
    assert [(row["name"], row["count"]) for row in writers] == [("Jean-Claude Carrière", 7)]
    actors = top_people_for_user(user=member, role="actor")
    assert [row["name"] for row in actors] == ["Shelley Duvall"]  # actresses count; 2 titles is too few
    assert top_people_for_user(user=member, role="actor", min_count=2)[1]["name"] == "Peter O'Toole"


def test_year_review_counts_genres_people_and_best(member, filmography):
    assert rating_years_for_user(user=member) == [{"year": 2024, "count": 4}, {"year": 2023, "count": 3}]
    review = year_review_for_user(user=member, year=2023)
    assert review["count"] == 3 and review["average"] == pytest.approx(14 / 3)
    assert (
        review["by_month"][2] == (3, 2)
        and review["by_month"][6] == (7, 1)
        and sum(n for _, n in review["by_month"]) == 3
    )
    assert [row["name"] for row in review["directors"]] == ["Stanley Kubrick"]
    assert [row["name"] for row in review["actors"]] == ["Shelley Duvall"]
    assert {row["genre"] for row in review["genres"]} == {"War", "Horror", "Drama"}
    assert [rating.score for rating in review["best"]] == [5, 5, 4]
    assert year_review_for_user(user=member, year=1999)["count"] == 0


def test_the_statistics_page_shows_people_and_the_chosen_year(member_client, filmography):
    html = member_client.get(reverse("ratings:stats")).content.decode()
    assert 'id="chart-people-director"' in html and "Stanley Kubrick" in html
    assert "Your 2024 in review" in html and 'id="chart-year-months"' in html
    assert "One-Film Director" not in html.split('id="stats-people"')[1].split("</section>")[0]
    html = member_client.get(reverse("ratings:stats") + "?year=2023").content.decode()
    assert "Your 2023 in review" in html and '<span class="stat-value" id="year-count">3</span>' in html
    fallback = member_client.get(reverse("ratings:stats") + "?year=1850").content.decode()
    assert "Your 2024 in review" in fallback
    assert "Our predictions in 2024" in fallback  # the recommender's part, through the extension point


def test_a_member_without_ratings_sees_no_review(member_client):
    html = member_client.get(reverse("ratings:stats")).content.decode()
    assert "in review" not in html
