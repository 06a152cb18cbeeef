"""Rating, watchlist and not-interested services against the real database and its constraints."""

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction

from ratings import selectors, services
from ratings.models import NotInterested, Rating, WatchlistItem
from ratings.signals import rating_changed
from recommender.models import UserFoldIn

pytestmark = pytest.mark.django_db


def test_rating_set_creates_then_replaces_one_row(member, title_factory):
    title = title_factory()
    first = services.rating_set(user=member, title=title, score=2)
    second = services.rating_set(user=member, title=title, score=5)
    assert first.pk == second.pk
    assert list(Rating.objects.filter(user=member).values_list("title_id", "score")) == [(title.tconst, 5)]


@pytest.mark.parametrize("score", [0, 6, -1, 2.5, "4", "four", None, True, 4.0])
def test_rating_set_refuses_bad_scores_and_stores_nothing(member, title_factory, score):
    title = title_factory()
    with pytest.raises(ValidationError) as raised:
        services.rating_set(user=member, title=title, score=score)
    assert "score" in str(raised.value).lower()
    assert not Rating.objects.exists()
    assert not UserFoldIn.objects.filter(user=member).exists()


def test_bad_score_keeps_the_previous_rating(member, title_factory):
    title = title_factory()
    services.rating_set(user=member, title=title, score=3)
    with pytest.raises(ValidationError):
        services.rating_set(user=member, title=title, score=9)
    assert Rating.objects.get(user=member, title=title).score == 3


@pytest.mark.parametrize("score", [0, 6])
def test_database_check_constraint_rejects_out_of_range_scores(member, title_factory, score):
    """The constraint holds even for code that skips the service."""
    title = title_factory()
    rating = Rating.objects.create(user=member, title=title, score=3)
    with pytest.raises(IntegrityError), transaction.atomic():
        Rating.objects.filter(pk=rating.pk).update(score=score)
    assert Rating.objects.get(pk=rating.pk).score == 3


def test_database_unique_constraint_rejects_a_second_row(member, title_factory):
    title = title_factory()
    Rating.objects.create(user=member, title=title, score=3)
    with pytest.raises(IntegrityError), transaction.atomic():
        Rating.objects.create(user=member, title=title, score=4)
    assert Rating.objects.filter(user=member, title=title).count() == 1


def test_rating_remove(member, title_factory):
    title = title_factory()
    services.rating_set(user=member, title=title, score=4)
    assert services.rating_remove(user=member, title=title) is True
    assert services.rating_remove(user=member, title=title) is False
    assert not Rating.objects.exists()


def test_rating_changed_notify_creates_a_stale_fold_in(member):
    assert not UserFoldIn.objects.filter(user=member).exists()
    services.rating_changed_notify(user=member)
    assert UserFoldIn.objects.get(user=member).stale is True


def test_rating_changed_notify_flips_a_fresh_fold_in_to_stale(member):
    fold_in = UserFoldIn.objects.create(user=member, stale=False, factors=[0.1, 0.2], bias=0.5)
    services.rating_changed_notify(user=member)
    fold_in.refresh_from_db()
    assert fold_in.stale is True
    assert fold_in.factors == [0.1, 0.2]  # the old factor stays usable until the recommender refreshes it


def test_marking_an_already_stale_user_bumps_updated_at(member, title_factory):
    """The recommender compares ``updated_at`` to spot ratings saved while it was folding in."""
    services.rating_set(user=member, title=title_factory(), score=2)
    before = UserFoldIn.objects.get(user=member).updated_at
    services.rating_set(user=member, title=title_factory(), score=3)
    after = UserFoldIn.objects.get(user=member)
    assert after.stale is True and after.updated_at > before


@pytest.mark.parametrize("action", ["set", "change", "remove"])
def test_every_rating_change_marks_the_user_stale(member, title_factory, action):
    title = title_factory()
    if action != "set":
        services.rating_set(user=member, title=title, score=2)
    UserFoldIn.objects.update_or_create(user=member, defaults={"stale": False})
    if action == "remove":
        services.rating_remove(user=member, title=title)
    else:
        services.rating_set(user=member, title=title, score=4)
    assert UserFoldIn.objects.get(user=member).stale is True


def test_removing_nothing_does_not_mark_stale(member, title_factory):
    UserFoldIn.objects.create(user=member, stale=False)
    services.rating_remove(user=member, title=title_factory())
    assert UserFoldIn.objects.get(user=member).stale is False


def test_other_users_are_not_marked_stale(member, user_factory, title_factory):
    other = user_factory()
    UserFoldIn.objects.create(user=other, stale=False)
    services.rating_set(user=member, title=title_factory(), score=5)
    assert UserFoldIn.objects.get(user=other).stale is False


def test_watchlist_add_is_idempotent_and_undoes_not_interested(member, title_factory):
    title = title_factory()
    services.not_interested_add(user=member, title=title)
    services.watchlist_add(user=member, title=title)
    services.watchlist_add(user=member, title=title)
    assert WatchlistItem.objects.filter(user=member, title=title).count() == 1
    assert not NotInterested.objects.filter(user=member).exists()
    assert services.watchlist_remove(user=member, title=title) is True
    assert services.watchlist_remove(user=member, title=title) is False


def test_not_interested_leaves_the_watchlist_and_marks_stale(member, title_factory):
    title = title_factory()
    services.watchlist_add(user=member, title=title)
    UserFoldIn.objects.create(user=member, stale=False)
    services.not_interested_add(user=member, title=title)
    services.not_interested_add(user=member, title=title)
    assert NotInterested.objects.filter(user=member, title=title).count() == 1
    assert not WatchlistItem.objects.filter(user=member).exists()
    assert UserFoldIn.objects.get(user=member).stale is True
    assert services.not_interested_remove(user=member, title=title) is True
    assert not NotInterested.objects.exists()


def test_rating_scores_for_user_is_one_query(member, user_factory, title_factory, django_assert_num_queries):
    titles = [title_factory() for _ in range(4)]
    services.rating_set(user=member, title=titles[0], score=5)
    services.rating_set(user=member, title=titles[2], score=1)
    services.rating_set(user=user_factory(), title=titles[1], score=3)  # someone else's
    with django_assert_num_queries(1):
        scores = selectors.rating_scores_for_user(user=member, tconsts=[t.tconst for t in titles] + ["tt0000000"])
    assert scores == {titles[0].tconst: 5, titles[2].tconst: 1}


def test_rating_scores_for_anonymous_user_is_empty_without_a_query(django_assert_num_queries):
    from django.contrib.auth.models import AnonymousUser

    with django_assert_num_queries(0):
        assert selectors.rating_scores_for_user(user=AnonymousUser(), tconsts=["tt0000001"]) == {}


def test_excluded_tconsts_combines_rated_watchlist_and_not_interested(member, title_factory):
    from catalog.models import Title

    rated, watched, ignored, free = (title_factory() for _ in range(4))
    services.rating_set(user=member, title=rated, score=3)
    services.watchlist_add(user=member, title=watched)
    services.not_interested_add(user=member, title=ignored)
    excluded = selectors.excluded_tconsts_for_user(user=member)
    assert set(excluded) == {rated.tconst, watched.tconst, ignored.tconst}
    remaining = Title.objects.filter(tconst__in=[t.tconst for t in (rated, watched, ignored, free)])
    assert list(remaining.exclude(tconst__in=excluded).values_list("tconst", flat=True)) == [free.tconst]


def test_a_rating_change_sends_rating_changed_with_the_user(member, title_factory):
    """Ratings tells the apps above through its signal; a refused rating sends nothing."""
    received = []

    def receiver(sender, *, user, **kwargs):
        received.append(user.pk)

    rating_changed.connect(receiver)
    try:
        services.rating_set(user=member, title=title_factory(), score=4)
        assert received == [member.pk]
        with pytest.raises(ValidationError):
            services.rating_set(user=member, title=title_factory(), score=0)
        assert received == [member.pk]
    finally:
        rating_changed.disconnect(receiver)


def test_the_recommender_real_time_path_runs_after_commit(
    member, title_factory, monkeypatch, django_capture_on_commit_callbacks
):
    """The recommender's receiver calls ``recommendation_mark_stale`` once the rating is committed."""
    from recommender import receivers

    calls = []
    monkeypatch.setattr(receivers, "recommendation_mark_stale", lambda *, user: calls.append(user.pk))
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        services.rating_set(user=member, title=title_factory(), score=4)
        assert calls == []  # not before the commit
    assert len(callbacks) == 1 and calls == [member.pk]
    with django_capture_on_commit_callbacks(execute=True), pytest.raises(ValidationError):
        services.rating_set(user=member, title=title_factory(), score=0)
    assert calls == [member.pk]  # refused rating: no call


def test_the_recommender_connects_rating_changed():
    from recommender import receivers

    connected = [entry[1]() for entry in rating_changed.receivers]  # (key, weak reference, ...)
    assert receivers.rating_changed_receive in connected
