"""Predicted stars on every catalog card and title page, and the members' ratings beside IMDb's."""

import re
from datetime import timedelta

import numpy as np
import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from accounts.models import User
from catalog.models import Title
from ratings.models import Rating
from ratings.selectors import MEMBER_RATINGS_MIN, title_member_ratings
from ratings.services import rating_set
from recommender.models import UserFactor, UserFoldIn
from recommender.serving.foldin import UserVectors, user_ratings_and_exclusions, user_vectors_solve
from recommender.serving.predictions import predicted_stars, prediction_state_get
from recommender.serving.ranking import predictions_for, ranked_titles
from recommender.serving.run_model import active_run, run_model_get
from tests.factories import make_person

pytestmark = pytest.mark.django_db


@pytest.fixture
def member(world):
    user = world["users"][0]
    User.objects.filter(pk=user.pk).update(kind=User.Kind.SITE)
    return User.objects.get(pk=user.pk)


def _card_predictions(html: str) -> dict[str, float]:
    cards = re.findall(r'data-tconst="(tt\d+)">(.*?)</li>', html, flags=re.S)
    found = {}
    for tconst, card in cards:
        match = re.search(r"Predicted for you: ([\d.]+) ★", card)
        if match:
            found[tconst] = float(match.group(1))
    return found


def test_the_batch_prediction_equals_the_single_title_fold_in(world, member):
    """One product for a page of titles gives, title by title, the stars of a fold-in asked about
    that title alone, and the stars the live list shows for it."""
    rating_set(user=member, title=world["titles"][-1], score=2)  # stale: the batch folds in now
    model = run_model_get(run=active_run())
    tconsts = [title.tconst for title in world["titles"][:50]]
    batch = predicted_stars(user=User.objects.get(pk=member.pk), tconsts=tconsts)
    assert len(batch) == sum(1 for tconst in tconsts if tconst in model.index) >= 40
    ratings, excluded = user_ratings_and_exclusions(user=member)
    vectors = user_vectors_solve(model=model, ratings=ratings)
    for tconst, stars in batch.items():
        single, _ = predictions_for(model=model, vectors=vectors, positions=np.array([model.index[tconst]]))
        assert stars == pytest.approx(float(single[0]), abs=1e-9)
    for item in ranked_titles(model=model, vectors=vectors, excluded=excluded, limit=30):
        if item.tconst in batch:
            assert batch[item.tconst] == pytest.approx(item.predicted_rating, abs=1e-9)
    # The next request folds in again from the same ratings (nothing was saved): the same stars; and
    # once the recommendations page saved the fold-in, it reads that (one query): the same stars.
    assert predicted_stars(user=User.objects.get(pk=member.pk), tconsts=tconsts) == pytest.approx(batch, abs=1e-12)
    assert UserFoldIn.objects.get(user=member).stale
    from recommender.serving.ranking import recommendation_list_live

    assert recommendation_list_live(user=member).state.folded
    reader = User.objects.get(pk=member.pk)
    assert predicted_stars(user=reader, tconsts=tconsts) == pytest.approx(batch, abs=1e-12)
    assert prediction_state_get(user=reader).vectors.source == "fold-in (saved)"


def test_predictions_after_a_rating_use_it_and_a_run_switch_falls_back_to_the_run(world, member):
    """The in-memory fold-in after a rating counts that rating; an untouched member after a new run
    (fold-in of another run, stale) is served the run's own vectors as the list page does."""
    model = run_model_get(run=active_run())
    tconsts = [title.tconst for title in world["titles"][:50] if title.tconst in model.index]
    before = predicted_stars(user=User.objects.get(pk=member.pk), tconsts=tconsts)
    rated = next(title for title in world["titles"] if title.tconst in model.index and title.tconst not in before)
    rating_set(user=member, title=rated, score=1)
    after = predicted_stars(user=User.objects.get(pk=member.pk), tconsts=tconsts)
    ratings, _ = user_ratings_and_exclusions(user=member)
    assert rated.tconst in ratings
    expected = user_vectors_solve(model=model, ratings=ratings)
    for tconst, stars in after.items():
        single, _ = predictions_for(model=model, vectors=expected, positions=np.array([model.index[tconst]]))
        assert stars == pytest.approx(float(single[0]), abs=1e-9)
    assert after != pytest.approx(before, abs=1e-6)

    # What a run switch leaves for a member who did not rate since the run started: a stale row
    # older than the run (the switch's bulk update keeps updated_at). Served the run's own vectors
    # for an untouched member, through user_state_get, as the list page does.
    other = User.objects.get(pk=world["users"][1].pk)
    run = active_run()
    UserFoldIn.objects.update_or_create(user=other, defaults={"stale": False, "run": run})
    UserFoldIn.objects.filter(user=other).update(stale=True, updated_at=run.started_at - timedelta(days=1))
    reader = User.objects.get(pk=other.pk)
    served = predicted_stars(user=reader, tconsts=tconsts)
    assert prediction_state_get(user=reader).vectors.source == "run"
    own = UserFactor.objects.get(run=run, user=other)
    vectors = UserVectors(
        factors=np.asarray(own.factors),
        rating_factors=np.asarray(own.rating_factors) if own.rating_factors else None,
        bias=float(own.bias or 0.0),
        known_ratings=0,
        source="run",
    )
    for tconst, stars in served.items():
        single, _ = predictions_for(model=model, vectors=vectors, positions=np.array([model.index[tconst]]))
        assert stars == pytest.approx(float(single[0]), abs=1e-9)


def test_catalog_cards_show_predictions_for_a_member_with_a_model(world, member, client, user_factory):
    person = make_person(known_for_titles=[title.tconst for title in world["titles"][:4]]).nconst
    client.force_login(member)
    expected = predicted_stars(user=User.objects.get(pk=member.pk), tconsts=list(world["by_tconst"]))
    for url in ("/", "/titles/?sort=popularity", "/search/?q=Drama+Story", f"/people/{person}/"):
        shown = _card_predictions(client.get(url).content.decode())
        assert shown, url
        for tconst, stars in shown.items():
            assert stars == pytest.approx(round(expected[tconst], 1)), (url, tconst)
    # Nothing for a visitor, nor for a member below the unlock threshold.
    client.logout()
    assert not _card_predictions(client.get("/titles/?sort=popularity").content.decode())
    newcomer = user_factory()
    rating_set(user=newcomer, title=world["titles"][0], score=5)
    client.force_login(newcomer)
    assert "Predicted for you" not in client.get("/titles/?sort=popularity").content.decode()


def test_the_title_page_folds_in_once_and_shows_prediction_and_similar_predictions(world, member, client):
    client.force_login(member)
    model = run_model_get(run=active_run())
    title = next(title for title in world["titles"] if title.tconst in model.index)
    rating_set(user=member, title=world["titles"][-1], score=1)  # stale
    with CaptureQueriesContext(connection) as queries:
        body = client.get(title.get_absolute_url()).content.decode()
    writes = [
        query
        for query in queries
        if "recommender_userfoldin" in query["sql"] and query["sql"].lstrip().startswith(("UPDATE", "INSERT"))
    ]
    reads = [query for query in queries if "FROM recommender_userfoldin f" in query["sql"]]
    # One fold-in for the page, its similar titles included, from the ratings read with the fold-in
    # row; in memory: the first page after a rating does not pay a write and a commit.
    assert len(reads) == 1 and not writes
    assert UserFoldIn.objects.get(user=member).stale
    stars = predicted_stars(user=User.objects.get(pk=member.pk), tconsts=[title.tconst])[title.tconst]
    head = body.split('class="title-rating-box"', 1)[1].split("</header>", 1)[0]
    assert f"Predicted for you: <strong>{stars:.1f} ★</strong>" in head
    similar = body.split('id="h-similar"', 1)[1]
    assert similar.count("Predicted for you") >= 5
    page = client.get(f"/titles/{title.tconst}/similar/").content.decode()
    assert page.count("Predicted for you") >= 5


def test_members_ratings_count_only_site_members_and_need_enough_of_them(world, client, user_factory):
    title = world["titles"][3]
    synthetic = Rating.objects.filter(title=title).count()
    assert synthetic > 0  # the persona crowd rated it: not members
    assert title_member_ratings(tconst=title.tconst) == {"count": 0, "enough": False, "minimum": MEMBER_RATINGS_MIN}
    members = [user_factory() for _ in range(MEMBER_RATINGS_MIN)]
    for member, score in zip(members[:-1], [5, 4, 4, 2], strict=True):
        rating_set(user=member, title=title, score=score)
    body = client.get(title.get_absolute_url()).content.decode()
    assert "4 members rated this: too few for an average" in body
    assert "member-distribution" not in body
    rating_set(user=members[-1], title=title, score=5)
    summary = title_member_ratings(tconst=title.tconst)
    assert summary["count"] == 5 and summary["average"] == pytest.approx(4.0)
    assert [row["count"] for row in summary["distribution"]] == [2, 2, 0, 1, 0]
    body = client.get(title.get_absolute_url()).content.decode()
    box = body.split('class="member-ratings"', 1)[1].split("</table>", 1)[0]
    assert "<strong>4.0</strong>" in box and "Members, 5 ratings" in box and "5★" in box


def _similar_entries(html: str) -> dict[str, str]:
    """{tconst: the entry's markup} of a "More like this" list."""
    return {
        tconst: entry
        for entry in re.findall(r'<li data-source="[a-z]+">(.*?)</li>', html, flags=re.S)
        for tconst in re.findall(r'href="/titles/(tt\d+)/"', entry)[:1]
    }


def test_more_like_this_shows_the_members_own_stars_on_titles_they_rated(world, member, client):
    """A prediction guesses what the member would say: on a title they rated, they already said it."""
    client.force_login(member)
    model = run_model_get(run=active_run())
    title = next(title for title in world["titles"] if title.tconst in model.index)
    entries = _similar_entries(client.get(title.get_absolute_url()).content.decode().split('id="h-similar"', 1)[1])
    unrated = [tconst for tconst in entries if not Rating.objects.filter(user=member, title_id=tconst).exists()]
    assert len(unrated) >= 5
    for tconst, stars in ((unrated[0], 2), (unrated[2], 5)):
        rating_set(user=member, title=Title.objects.get(pk=tconst), score=stars)
    for url, marker in ((title.get_absolute_url(), 'id="h-similar"'), (f"/titles/{title.tconst}/similar/", "<h1>")):
        entries = _similar_entries(client.get(url).content.decode().split(marker, 1)[1])
        scores = dict(Rating.objects.filter(user=member, title_id__in=entries).values_list("title_id", "score"))
        assert {unrated[0]: 2, unrated[2]: 5}.items() <= scores.items()
        for tconst, entry in entries.items():
            if tconst in scores:
                assert f"You rated {scores[tconst]} ★" in entry and "Predicted for you" not in entry, (url, tconst)
            else:
                assert "You rated" not in entry, (url, tconst)
        assert sum("Predicted for you" in entries[tconst] for tconst in entries if tconst not in scores) >= 3, url
