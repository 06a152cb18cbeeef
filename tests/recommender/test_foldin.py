"""Fold-in: a user's vectors solved against the active run, the live list, and its bookkeeping."""

import numpy as np
import pytest

from accounts.models import User
from ratings.models import NotInterested, Rating, WatchlistItem
from ratings.services import not_interested_add, rating_set, watchlist_add
from recommender.models import Recommendation, UserFactor, UserFoldIn
from recommender.serving import foldin, ranking, run_model
from tests.recommender.recsys_factories import PERSONAS, numpy_run_train

pytestmark = pytest.mark.django_db


def _site_user(user_factory, **fields):
    return user_factory(kind=User.Kind.SITE, **fields)


def test_fold_in_reproduces_the_runs_own_user_vectors(world):
    """The training's last step solves users against the final title vectors: the fold-in of an
    unchanged user is that same solve, so it must give the run's stored vectors back."""
    run = world["run"]
    model = run_model.run_model_get(run=run)
    for user in world["users"][:8]:
        stored = UserFactor.objects.get(run=run, user=user)
        vectors = foldin.user_vectors_solve(model=model, ratings=foldin.user_ratings(user=user))
        np.testing.assert_allclose(vectors.factors, stored.factors, rtol=1e-6, atol=1e-9)
        np.testing.assert_allclose(vectors.rating_factors, stored.rating_factors, rtol=1e-5, atol=1e-8)


def test_live_list_of_an_unchanged_user_is_the_runs_list(world):
    run = world["run"]
    for user in world["users"][:6]:
        live = ranking.recommendation_list_live(user=user, limit=50)
        assert live.state.vectors.source == "run"
        stored = list(Recommendation.objects.filter(run=run, user=user).order_by("rank"))
        assert [item.tconst for item in live.items] == [row.title_id for row in stored]
        for item, row in zip(live.items, stored, strict=True):
            assert item.predicted_rating == pytest.approx(row.predicted_rating, abs=1e-6)
            assert item.confidence == pytest.approx(row.confidence, abs=1e-6)


def test_rating_folds_the_user_in_on_the_next_view(world):
    user = world["users"][0]
    before = ranking.recommendation_list_live(user=user)
    top = world["by_tconst"][before.items[0].tconst]
    rating_set(user=user, title=top, score=1)
    assert UserFoldIn.objects.get(user=user).stale

    after = ranking.recommendation_list_live(user=user)
    assert after.state.folded
    assert after.state.vectors.source == "fold-in"
    assert top.tconst not in [item.tconst for item in after.items]
    fold_in = UserFoldIn.objects.get(user=user)
    assert not fold_in.stale and fold_in.run_id == world["run"].pk
    np.testing.assert_allclose(fold_in.factors, after.state.vectors.factors)

    again = ranking.recommendation_list_live(user=user)
    assert not again.state.folded and again.state.vectors.source == "fold-in (saved)"
    assert [item.tconst for item in again.items] == [item.tconst for item in after.items]


def test_a_one_star_rating_pushes_similar_titles_down(world):
    """Stars matter: the same title rated 1 or 5 gives different lists (star weight in the confidence)."""
    user = world["users"][5]
    unseen = ranking.recommendation_list_live(user=user).items[0].tconst
    title = world["by_tconst"][unseen]
    rating_set(user=user, title=title, score=5)
    loved = ranking.recommendation_list_live(user=user).state.vectors.factors
    rating_set(user=user, title=title, score=1)
    disliked = ranking.recommendation_list_live(user=user).state.vectors.factors
    model = run_model.run_model_get(run=world["run"])
    position = model.index[unseen]
    assert model.factors[position] @ loved > model.factors[position] @ disliked


def test_watchlist_not_interested_and_rated_titles_are_never_listed(world):
    user = world["users"][3]
    items = ranking.recommendation_list_live(user=user).items
    watch, dismiss = world["by_tconst"][items[0].tconst], world["by_tconst"][items[1].tconst]
    watchlist_add(user=user, title=watch)
    not_interested_add(user=user, title=dismiss)
    shown = [item.tconst for item in ranking.recommendation_list_live(user=user, limit=500).items]
    assert watch.tconst not in shown and dismiss.tconst not in shown
    assert not set(Rating.objects.filter(user=user).values_list("title_id", flat=True)) & set(shown)
    assert WatchlistItem.objects.filter(user=user).exists() and NotInterested.objects.filter(user=user).exists()


def test_a_new_user_becomes_personal_after_a_few_ratings_of_one_taste(world, user_factory):
    newcomer = _site_user(user_factory)
    empty = ranking.recommendation_list_live(user=newcomer)
    assert not empty.personal and empty.items == []

    liked = PERSONAS["scifi_geek"]
    picks = [title for title in world["titles"] if title.genres[0] in liked][:5]
    for title in picks:
        rating_set(user=newcomer, title=title, score=5)
    live = ranking.recommendation_list_live(user=newcomer)
    assert live.personal and live.state.folded
    top = [world["by_tconst"][item.tconst] for item in live.items[:10]]
    in_taste = sum(1 for title in top if set(title.genres) & set(liked))
    # 30 of the 120 titles are sci-fi, fantasy or horror; chance would give about 3 of 10.
    assert in_taste >= 7, [title.genres for title in top]


def test_filters_by_genre_type_and_year(world):
    user = world["users"][10]
    filters = ranking.LiveFilters(genre="Drama", title_type="movie", year_min=1960, year_max=1990)
    items = ranking.recommendation_list_live(user=user, filters=filters).items
    assert items
    for item in items:
        title = world["by_tconst"][item.tconst]
        assert "Drama" in title.genres and title.title_type == "movie" and 1960 <= title.start_year <= 1990
    assert ranking.recommendation_list_live(user=user, filters=ranking.LiveFilters(genre="No-Such")).items == []


def test_a_rating_saved_during_a_fold_in_keeps_the_user_stale(world):
    """The fold-in read the ratings, then a new rating committed before it saved: the saved vectors
    miss that rating, so the row must stay stale and the next view folds again."""
    user = world["users"][2]
    rating_set(user=user, title=world["titles"][0], score=4)
    seen = UserFoldIn.objects.get(user=user).updated_at
    rating_set(user=user, title=world["titles"][1], score=2)  # lands "during" the solve
    model = run_model.run_model_get(run=world["run"])
    vectors = foldin.user_vectors_solve(model=model, ratings=foldin.user_ratings(user=user))
    saved = foldin.user_fold_in_save(user=user, run=world["run"], vectors=vectors, seen_updated_at=seen)
    assert saved.stale
    assert ranking.recommendation_list_live(user=user).state.folded


def test_a_new_run_serves_unchanged_users_from_its_own_vectors(world):
    user = world["users"][7]
    rating_set(user=user, title=world["titles"][3], score=5)
    assert ranking.recommendation_list_live(user=user).state.folded
    new_run = numpy_run_train(seed=9)  # trained after the rating: the user is in it
    live = ranking.recommendation_list_live(user=user)
    assert live.run.pk == new_run.pk
    assert live.state.vectors.source == "run"
    assert [item.tconst for item in live.items[:20]] == list(
        Recommendation.objects.filter(run=new_run, user=user).order_by("rank").values_list("title_id", flat=True)[:20]
    )


def test_fold_in_agrees_with_a_full_retrain(world, user_factory):
    """The folded user's top 10 against the run is close to their top 10 after retraining with them.

    Threshold: at least 6 of the 10 titles in common (measured here: 8-10; a random list of 10 of the
    ~110 unrated titles would share about 1).
    """
    newcomer = _site_user(user_factory)
    liked = PERSONAS["comedy_fan"]
    mine = [title for title in world["titles"] if set(title.genres) & set(liked)]
    others = [title for title in world["titles"] if not set(title.genres) & set(liked)]
    for n, title in enumerate(mine[:10]):
        rating_set(user=newcomer, title=title, score=5 if n % 3 else 4)
    for title in others[:3]:
        rating_set(user=newcomer, title=title, score=2)
    folded = [item.tconst for item in ranking.recommendation_list_live(user=newcomer).items[:10]]
    retrained = numpy_run_train(seed=3)
    assert UserFactor.objects.filter(run=retrained, user=newcomer).exists()
    full = list(
        Recommendation.objects.filter(run=retrained, user=newcomer)
        .order_by("rank")
        .values_list("title_id", flat=True)[:10]
    )
    overlap = len(set(folded) & set(full))
    assert overlap >= 6, (overlap, folded, full)


def test_no_active_run_means_no_personal_list(db, user_factory, recommender_caches):
    user = _site_user(user_factory)
    live = ranking.recommendation_list_live(user=user)
    assert live.run is None and not live.personal and live.items == []


def test_a_second_process_reads_the_run_from_the_file_cache(world, django_assert_num_queries, settings):
    """Gunicorn workers share the matrices through a file: only the first one reads the factors."""
    run = world["run"]
    first = run_model.run_model_get(run=run)
    files = list(settings.RECOMMENDER_MODEL_CACHE_DIR.glob(f"recommender-*-run{run.pk}-*.npz"))
    assert len(files) == 1
    run_model.run_model_forget()  # as if another process
    with django_assert_num_queries(1):  # only the catalog facts, never the factors
        second = run_model.run_model_get(run=run)
    np.testing.assert_array_equal(first.factors, second.factors)
    np.testing.assert_array_equal(first.rating_factors, second.rating_factors)
    assert list(first.tconsts) == list(second.tconsts)
    assert sorted(first.genre_masks) == sorted(second.genre_masks)
    # A torn file is ignored, not trusted.
    files[0].write_bytes(b"not a numpy file")
    run_model.run_model_forget()
    third = run_model.run_model_get(run=run)
    np.testing.assert_array_equal(first.factors, third.factors)


def test_after_a_switch_marks_fold_ins_stale_unchanged_users_are_served_from_the_run(world):
    """The training's switch marks every fold-in of another run stale (a bulk update that keeps
    ``updated_at``). A user who rated nothing since the run's export gets the run's own vectors,
    and the flag is cleared so the next views are cached again."""
    user = world["users"][9]
    rating_set(user=user, title=world["titles"][5], score=4)
    ranking.recommendation_list_live(user=user)  # folded into the first run
    new_run = numpy_run_train(seed=13)
    UserFoldIn.objects.exclude(run=new_run).update(stale=True)  # what the switch does
    live = ranking.recommendation_list_live(user=user)
    assert live.state.vectors.source == "run" and not live.state.folded
    row = UserFoldIn.objects.get(user=user)
    assert not row.stale and row.run_id == new_run.pk
    np.testing.assert_allclose(row.factors, UserFactor.objects.get(run=new_run, user=user).factors)
    assert ranking.recommendation_list_live(user=user).state.vectors.source == "fold-in (saved)"
