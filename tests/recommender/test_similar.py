"""More like this: the run's nearest titles, and the content fallback for titles the model does not know."""

import pytest
from django.test import RequestFactory
from django.urls import reverse
from django.utils import timezone

from catalog.models import Crew, Person, Principal, Title
from recommender.models import SimilarTitle
from recommender.providers import similar_titles_section
from recommender.serving.similar import similar_title_list, similar_title_list_by_content

pytestmark = pytest.mark.django_db


def _title(tconst, genres, votes=1000, title_type="movie", **fields):
    return Title.objects.create(
        tconst=tconst,
        title_type=title_type,
        primary_title=f"Film {tconst}",
        start_year=1960,
        genres=genres,
        num_votes=votes,
        average_rating=7.0,
        **fields,
    )


def test_model_neighbours_come_first_in_the_runs_order(world):
    title = world["titles"][0]
    rows = list(SimilarTitle.objects.filter(run=world["run"], title_id=title.tconst).order_by("rank"))
    items = similar_title_list(title=title, limit=len(rows))
    assert [item.title.tconst for item in items] == [row.similar_id for row in rows]
    assert all(item.source == "model" for item in items)


def test_model_list_is_topped_up_from_content_and_skips_removed_titles(world):
    title = world["titles"][0]
    first = SimilarTitle.objects.filter(run=world["run"], title_id=title.tconst).order_by("rank").first()
    Title.objects.filter(pk=first.similar_id).update(removed_at=timezone.now())
    items = similar_title_list(title=title, limit=12)
    tconsts = [item.title.tconst for item in items]
    assert first.similar_id not in tconsts and title.tconst not in tconsts
    assert len(tconsts) == len(set(tconsts)) == 12
    # The run stores 10 per title, one was removed: 9 from the model, then content.
    assert [item.source for item in items] == ["model"] * 9 + ["content"] * 3


def test_content_fallback_ranks_same_director_then_cast_then_genre(db, recommender_caches):
    director, actor, other = (
        Person.objects.create(nconst=f"nm90000{n}", primary_name=name)
        for n, name in enumerate(["Ada Director", "Bo Actor", "Cy Other"])
    )
    target = _title("tt8000001", ["Drama", "Mystery"])
    same_director = _title("tt8000002", ["Comedy"], votes=10)
    same_actor = _title("tt8000003", ["Western"], votes=10)
    same_genres = _title("tt8000004", ["Drama", "Mystery"], votes=10)
    unrelated = _title("tt8000005", ["Horror"], votes=10_000_000)
    episode = _title("tt8000006", ["Drama", "Mystery"], title_type="tvEpisode")
    for title in (target, same_director):
        Crew.objects.create(title=title, person=director, role="director")
    for n, title in enumerate((target, same_actor)):
        Principal.objects.create(title=title, person=actor, ordering=n + 1, category="actor")
    Principal.objects.create(title=unrelated, person=other, ordering=1, category="actor")

    items = similar_title_list_by_content(title=target)
    tconsts = [item.title.tconst for item in items]
    # director (3) > both genres (2 × Jaccard 1.0) > one actor (1); same type and popularity equal
    assert tconsts[:3] == [same_director.tconst, same_genres.tconst, same_actor.tconst]
    assert unrelated.tconst not in tconsts and episode.tconst not in tconsts and target.tconst not in tconsts
    reasons = {item.title.tconst: item.reason for item in items}
    assert reasons[same_director.tconst].startswith("Directed by Ada Director")
    assert reasons[same_actor.tconst] == "With Bo Actor"
    assert reasons[same_genres.tconst] == "Drama, Mystery"
    # Without an active run the title page's list is the content list.
    assert [item.title.tconst for item in similar_title_list(title=target)] == tconsts


def test_similar_page_and_partial(world, client):
    title = world["titles"][3]
    response = client.get(reverse("recommender:similar_titles", args=[title.tconst]))
    assert response.status_code == 200
    body = response.content.decode()
    neighbour = SimilarTitle.objects.filter(run=world["run"], title_id=title.tconst).order_by("rank").first()
    assert f"More like {title.primary_title}" in body and neighbour.similar.primary_title in body
    assert client.get(reverse("recommender:similar_titles", args=["tt0000000"])).status_code == 404
    section = similar_titles_section(request=RequestFactory().get("/"), title=title)
    partial = str(section)
    assert "More like this" in partial and neighbour.similar.primary_title in partial
    assert section.stylesheets == ("css/recommender.css",)


def test_no_section_for_a_title_with_nothing_similar(db, recommender_caches):
    lonely = _title("tt8000009", [])
    assert similar_titles_section(request=RequestFactory().get("/"), title=lonely) is None
