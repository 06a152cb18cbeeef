"""Concurrent clicks on the same title by the same user: one row, holding the last committed value.

Real threads, each with its own Postgres connection, start together at a barrier and call the
service (and, in the second test, the rate endpoint through the Django test client).
"""

import threading

import pytest
from django.db import connection
from django.test import Client

from ratings import services
from ratings.models import Rating
from tests.factories import make_title

THREADS = 8


def _run_concurrently(worker, count: int):
    barrier = threading.Barrier(count)
    errors: list[BaseException] = []
    results: list = [None] * count

    def run(index: int):
        try:
            barrier.wait(timeout=10)
            results[index] = worker(index)
        except BaseException as error:  # reported to the test below
            errors.append(error)
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(index,)) for index in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not any(thread.is_alive() for thread in threads), "a rating thread hung"
    assert not errors, errors
    return results


@pytest.mark.django_db(transaction=True)
def test_concurrent_first_ratings_end_with_one_row_holding_the_last_value(user_factory):
    user = user_factory()
    title = make_title()

    def rate(index: int):
        rating = services.rating_set(user=user, title=title, score=index % 5 + 1)
        return rating.score, rating.updated_at

    results = _run_concurrently(rate, THREADS)
    rows = list(Rating.objects.filter(user=user, title=title))
    assert len(rows) == 1
    # The row lock serialises the writers: the write stamped last is the one that committed last.
    last_score, last_stamp = max(results, key=lambda result: result[1])
    assert rows[0].score == last_score
    assert rows[0].updated_at == last_stamp


@pytest.mark.django_db(transaction=True)
def test_concurrent_posts_to_the_rate_endpoint(user_factory):
    user = user_factory()
    title = make_title()
    Rating.objects.create(user=user, title=title, score=1)

    def post(index: int):
        client = Client()
        client.force_login(user)
        response = client.post(
            f"/titles/{title.tconst}/rate/", {"score": str(index % 4 + 2)}, HTTP_X_REQUESTED_WITH="XMLHttpRequest"
        )
        assert response.status_code == 200, response.content
        return index % 4 + 2

    sent = _run_concurrently(post, 6)
    rows = list(Rating.objects.filter(user=user, title=title).values_list("score", flat=True))
    assert len(rows) == 1
    assert rows[0] in sent
    # And after the burst, a single click still lands.
    services.rating_set(user=user, title=title, score=5)
    assert list(Rating.objects.filter(user=user, title=title).values_list("score", flat=True)) == [5]


@pytest.mark.django_db(transaction=True)
def test_watchlist_and_not_interested_at_the_same_moment_leave_one_list(user_factory):
    """Each round, half the threads put the title on the watchlist and half mark it "not
    interested", all at once: it ends on exactly one of the two lists, every time."""
    from ratings.models import NotInterested, WatchlistItem

    user = user_factory()
    for round_number in range(10):
        title = make_title(f"tt09000{round_number:02d}")

        def mark(index: int, title=title):
            if index % 2:
                services.watchlist_add(user=user, title=title)
            else:
                services.not_interested_add(user=user, title=title)

        _run_concurrently(mark, 6)
        on_watchlist = WatchlistItem.objects.filter(user=user, title=title).count()
        dismissed = NotInterested.objects.filter(user=user, title=title).count()
        assert on_watchlist + dismissed == 1, (round_number, on_watchlist, dismissed)


@pytest.mark.django_db(transaction=True)
def test_concurrent_watchlist_and_not_interested_posts(user_factory):
    from ratings.models import NotInterested, WatchlistItem

    user = user_factory()
    title = make_title("tt0900100")

    def post(index: int):
        client = Client()
        client.force_login(user)
        path = f"/titles/{title.tconst}/{'watchlist' if index % 2 else 'not-interested'}/"
        response = client.post(path, {"action": "add"})
        assert response.status_code in (200, 302), (path, response.status_code)

    for _ in range(3):
        _run_concurrently(post, 6)
        assert WatchlistItem.objects.filter(user=user).count() + NotInterested.objects.filter(user=user).count() == 1


def test_the_database_refuses_a_title_on_both_lists(db, user_factory):
    from django.db import IntegrityError, transaction

    from ratings.models import NotInterested, WatchlistItem

    user = user_factory()
    title = make_title("tt0900200")
    WatchlistItem.objects.create(user=user, title=title)
    with pytest.raises(IntegrityError, match="other list"), transaction.atomic():
        NotInterested.objects.create(user=user, title=title)
    services.not_interested_add(user=user, title=title)  # the service moves it instead
    assert not WatchlistItem.objects.filter(user=user).exists()
    with pytest.raises(IntegrityError, match="other list"), transaction.atomic():
        WatchlistItem.objects.create(user=user, title=title)
