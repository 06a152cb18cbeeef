"""Taste communities: every user of a run gets one, they recover the generator's personas, and the
pages show them."""

import re

import numpy as np
import pytest
from django.test import override_settings
from django.urls import reverse

from accounts.models import User
from ratings.services import rating_set
from recommender.communities import selectors as community_selectors
from recommender.communities import statistics, storing
from recommender.models import TasteCommunity, TitleFactor, UserFactor
from recommender.serving import ranking
from tests.recommender.recsys_factories import PERSONAS, numpy_run_train

# Every test only reads the world or writes inside its own transaction: one world for the module.
pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("world_module")]


@pytest.fixture
def built(world):
    run = world["run"]
    found = storing.communities_build(run=run)
    run.refresh_from_db()
    return {**world, "communities": found, "run": run}


def test_every_user_of_the_run_has_a_community_and_a_place_on_the_map(built):
    run = built["run"]
    factors = UserFactor.objects.filter(run=run)
    assert factors.count() == len(built["users"])
    assert not factors.filter(community__isnull=True).exists()
    assert not factors.filter(x__isnull=True).exists() and not factors.filter(y__isnull=True).exists()
    assert not TitleFactor.objects.filter(run=run, x__isnull=True).exists()
    rows = TasteCommunity.objects.filter(run=run)
    assert sum(rows.values_list("size", flat=True)) == factors.count()
    for community in rows:
        assert community.size == factors.filter(community=community).count()
        assert community.x is not None and len(community.centroid) == len(factors.first().factors)


def test_communities_recover_the_personas(built):
    metrics = built["run"].metrics
    assert metrics["community_k_chosen_by"] == "silhouette"
    # 3..10, capped at one community per 10 users: 40 users allow 3 or 4.
    assert [entry["k"] for entry in metrics["community_silhouettes"]] == [3, 4]
    assert metrics["community_k"] == max(metrics["community_silhouettes"], key=lambda e: e["silhouette"])["k"]
    assert metrics["community_ari_users"] == 40
    # Four clean personas of ten users: the clusters should match them closely (1.0 is perfect).
    assert metrics["community_ari"] >= 0.7, metrics["community_persona_table"]


def test_names_come_from_the_distinctive_genres(built):
    names = [community.name for community in built["communities"]]
    assert len(names) == len(set(names))
    for community in built["communities"]:
        members = UserFactor.objects.filter(run=built["run"], community__number=community.number)
        personas = User.objects.filter(pk__in=members.values("user_id")).values_list("persona", flat=True)
        majority = max(set(personas), key=list(personas).count)
        top_genres = [entry["genre"] for entry in community.defining_genres[:2]]
        assert set(top_genres) & set(PERSONAS[majority]), (community.name, majority)
        assert community.defining_genres[0]["lift"] > 1
        assert community.top_titles and all(entry["share"] > entry["overall_share"] for entry in community.top_titles)


def test_configured_k_and_rebuilding_is_idempotent(built):
    with override_settings(RECOMMENDER_COMMUNITIES_K=2):
        again = storing.communities_build(run=built["run"])
    assert len(again) == 2 and TasteCommunity.objects.filter(run=built["run"]).count() == 2
    built["run"].refresh_from_db()
    assert built["run"].metrics["community_k_chosen_by"] == "configured"
    assert not UserFactor.objects.filter(run=built["run"], community__isnull=True).exists()


def test_a_folded_in_user_is_placed_in_the_community_of_their_taste(built, user_factory):
    user = user_factory(kind=User.Kind.SITE)
    assert community_selectors.user_place(user=user, run=built["run"]) is None
    for title in [title for title in built["titles"] if title.genres[0] == "Comedy"][:6]:
        rating_set(user=user, title=title, score=5)
    ranking.recommendation_list_live(user=user)
    place = community_selectors.user_place(user=user, run=built["run"])
    assert place.source == "fold-in" and place.x is not None
    members = UserFactor.objects.filter(run=built["run"], community=place.community).values("user_id")
    personas = list(User.objects.filter(pk__in=members).values_list("persona", flat=True))
    assert max(set(personas), key=personas.count) == "comedy_fan"


def test_placing_a_members_vector_gives_their_own_community(built):
    for row in UserFactor.objects.filter(run=built["run"]).select_related("community")[:15]:
        place = community_selectors.place_vector(run=built["run"], factors=np.asarray(row.factors))
        assert place.community.pk == row.community_id
        assert place.x == pytest.approx(row.x, abs=1e-9) and place.y == pytest.approx(row.y, abs=1e-9)


def test_community_pages(built, client, user_factory):
    member = built["users"][0]
    viewer = user_factory(kind=User.Kind.SITE)
    client.force_login(viewer)
    listing = client.get(reverse("recommender:community_list"))
    assert listing.status_code == 200
    body = listing.content.decode()
    assert all(community.name.replace("&", "&amp;") in body for community in built["communities"])
    assert "<svg" in body and "community-map" in body

    mine = UserFactor.objects.get(run=built["run"], user=member).community
    User.objects.filter(pk=member.pk).update(kind=User.Kind.SITE)  # synthetic users cannot log in
    client.force_login(User.objects.get(pk=member.pk))
    assert client.get(reverse("recommender:community_list")).status_code == 200
    detail = client.get(reverse("recommender:community_detail", args=[mine.pk])).content.decode()
    assert "this is your community" in detail and "map-you" in detail
    assert "Popular in neighbouring communities" in detail
    assert mine.defining_genres[0]["genre"] in detail

    old_run_community = mine.pk
    numpy_run_train(seed=11)
    assert client.get(reverse("recommender:community_detail", args=[old_run_community])).status_code == 404
    assert client.get(reverse("recommender:community_detail", args=[999999])).status_code == 404


def test_a_community_page_needs_a_login(client, db):
    response = client.get(reverse("recommender:community_detail", args=[1]))
    assert response.status_code == 302 and "/accounts/login/" in response["Location"]


def test_visitors_see_a_public_overview_with_a_sign_up_call(built, client, django_assert_max_num_queries):
    with django_assert_max_num_queries(4):  # active run, communities, their titles, (session)
        response = client.get(reverse("recommender:community_list"))
    assert response.status_code == 200
    html = response.content.decode()
    assert "Log in to continue" not in html
    assert f'href="{reverse("accounts:signup")}"' in html and "Create a free account" in html
    for community in built["communities"]:
        assert community.name.replace("&", "&amp;") in html
        assert f"{community.size} member" in html
        assert community.defining_genres[0]["genre"] in html
    loved = community_selectors.community_overview(run=built["run"])[0]["titles"]
    assert loved and f'href="{loved[0].get_absolute_url()}"' in html
    # Totals only: no map of viewers, no member's name, no link to pages that need a login.
    assert "<svg" not in html and "community-map" not in html
    assert not any(user.username in html for user in built["users"])
    assert reverse("recommender:community_detail", args=[built["communities"][0].pk]) not in html


def test_visitors_without_a_model_see_the_invitation(client, db):
    html = client.get(reverse("recommender:community_list")).content.decode()
    assert "Create a free account" in html and "Communities appear after the first model training" in html


def test_metrics_written_over_after_the_build_are_recovered(built):
    """If the training replaces run.metrics after communities_build, the ARI and the map projection
    are recomputed from the stored assignment and positions, identical to the originals."""
    run = built["run"]
    original = dict(run.metrics)
    run.metrics = {"rmse": 0.9}
    run.save(update_fields=["metrics"])
    recovered = community_selectors.community_metrics(run=run)
    assert recovered["community_ari"] == original["community_ari"]
    assert recovered["community_k"] == original["community_k"]
    assert recovered["rmse"] == 0.9
    for row in UserFactor.objects.filter(run=run)[:10]:
        place = community_selectors.place_vector(run=run, factors=np.asarray(row.factors))
        assert place.x == pytest.approx(row.x, abs=1e-6) and place.y == pytest.approx(row.y, abs=1e-6)


def test_distinctive_titles_and_genre_lifts_by_hand(monkeypatch):
    from catalog.models import Title

    # Hand-sized: minimums of two members per title share and one high rating per genre share
    # (test_shares_need_enough_members_behind_them checks the real ones).
    monkeypatch.setattr(statistics, "SHARE_MIN_MEMBERS", 2)
    monkeypatch.setattr(statistics, "GENRE_MIN_RATINGS", 1)

    for tconst, genres in (("tt0000101", ["Drama"]), ("tt0000102", ["Comedy"]), ("tt0000103", ["Drama", "Comedy"])):
        Title.objects.create(
            tconst=tconst, title_type="movie", primary_title=tconst, original_title=tconst, genres=genres
        )
    users, labels = [11, 12, 13, 14], np.array([0, 0, 1, 1])
    liked = statistics.Liked(
        np.array([11, 12, 13, 11, 14, 99]),
        np.array(["tt0000101", "tt0000101", "tt0000102", "tt0000103", "tt0000103", "tt0000101"]),
    )

    counted = statistics.liked_count(liked, users, labels, 2)
    titles = statistics.distinctive_titles(counted=counted, user_ids=users, labels=labels, k=2)
    # tt0000101: both of community 0 (share 1.0) against 2 of 4 users overall (user 99 is not clustered);
    # tt0000103: one member of each (0.5 = 0.5: not distinctive); tt0000102: liked by one user only.
    assert titles == {
        0: [
            {
                "tconst": "tt0000101",
                "share": 1.0,
                "overall_share": 0.5,
                "lift": 2.0,
                "count": 2,
                "members": 2,
                "overall_count": 2,
                "overall_members": 4,
                "by_community": [2, 0],
            }
        ],
        1: [],
    }

    genres = statistics.genre_lifts(counted=counted, k=2)
    # Community 0's high ratings: Drama 3 (101, 101, 103), Comedy 1 (103); everyone's: Drama 4, Comedy 3.
    assert genres[0][0] == {
        "genre": "Drama",
        "share": 0.75,
        "overall_share": round(4 / 7, 4),
        "lift": round(0.75 / (4 / 7), 3),
        "count": 3,
        "total": 4,
        "overall_count": 4,
        "overall_total": 7,
    }
    assert {entry["genre"]: entry["share"] for entry in genres[1]} == {
        "Comedy": round(2 / 3, 4),
        "Drama": round(1 / 3, 4),
    }


def test_statistics_from_the_trainings_export_match_the_database(built, tmp_path):
    """The training describes communities from the high ratings it exported; without that file
    they are read from the database: both give the same communities."""
    from recommender.training.communities import liked_from_export
    from recommender.training.export import ratings_export

    ratings_export(directory=tmp_path)
    exported = liked_from_export(tmp_path / "ratings.parquet")
    user_ids = list(UserFactor.objects.filter(run=built["run"]).values_list("user_id", flat=True))
    stored = statistics.liked_from_database(user_ids)
    assert sorted(zip(exported.users.tolist(), exported.tconsts.tolist(), strict=True)) == sorted(
        zip(stored.users.tolist(), stored.tconsts.tolist(), strict=True)
    )
    again = storing.communities_build(run=built["run"], liked=exported)
    assert [(c.name, c.defining_genres, c.top_titles) for c in again] == [
        (c.name, c.defining_genres, c.top_titles) for c in built["communities"]
    ]


def test_shares_need_enough_members_behind_them():
    """A title's share needs SHARE_MIN_MEMBERS members who loved it, a genre's GENRE_MIN_RATINGS
    high ratings: one member of a community of two is not "loved by 50%"."""
    from catalog.models import Title

    Title.objects.create(tconst="tt0000201", title_type="movie", primary_title="A", genres=["Drama"])
    Title.objects.create(tconst="tt0000202", title_type="movie", primary_title="B", genres=["Comedy"])
    minimum = statistics.SHARE_MIN_MEMBERS
    users = list(range(1, 41))
    labels = np.array([0] * 20 + [1] * 20)
    # tt0000201: exactly the minimum of community 0's members; tt0000202: one fewer.
    liked_users = users[:minimum] + users[: minimum - 1]
    liked_titles = ["tt0000201"] * minimum + ["tt0000202"] * (minimum - 1)
    counted = statistics.liked_count(statistics.Liked(np.array(liked_users), np.array(liked_titles)), users, labels, 2)
    titles = statistics.distinctive_titles(counted=counted, user_ids=users, labels=labels, k=2)
    assert [entry["tconst"] for entry in titles[0]] == ["tt0000201"]
    assert titles[0][0]["count"] == minimum and titles[0][0]["members"] == 20
    genres = statistics.genre_lifts(counted=counted, k=2)
    assert all(entry["count"] >= statistics.GENRE_MIN_RATINGS for entry in genres[0])
    assert len(liked_users) < statistics.GENRE_MIN_RATINGS and genres[0] == []


@pytest.mark.parametrize(
    "count, members, other, other_members, favoured",
    [
        (20, 50, 2, 50, True),  # 40% there, 4% in yours
        (20, 50, 15, 50, False),  # 40% vs 30%: not 1.5 times
        (4, 10, 0, 10, False),  # fewer members than the minimum
        (6, 200, 1, 200, False),  # 3% vs 0.5%: 6 times, but not significant
        (0, 50, 0, 50, False),
    ],
)
def test_discover_needs_the_neighbour_to_really_favour_the_title(count, members, other, other_members, favoured):
    entry = {"tconst": "tt1", "count": count, "members": members, "by_community": [count, other]}
    compared = statistics.favoured_over(entry, community_number=2, community_size=other_members)
    assert (compared is not None) is favoured
    if compared:
        assert compared["share"] == count / members and compared["other_share"] == other / other_members
    # Entries stored before the counts were: nothing is claimed.
    assert statistics.favoured_over({"tconst": "tt1", "share": 0.4}, community_number=2, community_size=50) is None


def test_the_discover_list_and_the_community_page_show_counts_not_bare_shares(built, client):
    run = built["run"]
    communities = community_selectors.community_list(run=run)
    User.objects.filter(pk=built["users"][0].pk).update(kind=User.Kind.SITE)  # synthetic users cannot log in
    member = User.objects.get(pk=built["users"][0].pk)
    mine = community_selectors.user_place(user=member, run=run).community
    client.force_login(member)
    compared = 0
    for neighbour in community_selectors.community_neighbours(community=mine):
        for title in community_selectors.community_titles(community=neighbour, limit=20, versus=mine):
            compared += 1
            versus = title.community_versus
            assert versus["count"] >= statistics.SHARE_MIN_MEMBERS
            assert versus["share"] >= statistics.FAVOUR_RATIO * versus["other_share"]
            entry = next(entry for entry in neighbour.top_titles if entry["tconst"] == title.tconst)
            assert entry["by_community"][mine.number - 1] == versus["other_count"]
    assert compared, "the personas' communities favour some titles over each other"
    html = client.get(f"/communities/{communities[0].pk}/").content.decode()
    assert "Loved by 0%" not in html and " 0% overall" not in html
    shown = re.findall(r"Loved by ([\d.]+%) (?:here|there) \((\d+) of (\d+)", html)
    assert shown and all(int(match[1]) >= statistics.SHARE_MIN_MEMBERS for match in shown)
    assert re.search(r"lift-counts\">\d+ of \d+ high ratings here · \d+ of \d+ overall", html)
    body = client.get("/recommendations/").content.decode()
    assert "vs 0% overall" not in body and "Loved by 0%" not in body
    for shown in re.findall(r"Loved by [\d.]+% there \((\d+) of", body):
        assert int(shown) >= statistics.SHARE_MIN_MEMBERS


def test_the_staff_models_page_gives_each_lift_its_counts(built, staff_user, client):
    client.force_login(staff_user)
    html = client.get(reverse("system:models")).content.decode()
    community = built["communities"][0]
    entry = community.defining_genres[0]
    assert (
        f'{entry["genre"]} ×{entry["lift"]:.2f} <span class="muted">({entry["count"]} of {entry["total"]} high ratings)'
        in html
    )
