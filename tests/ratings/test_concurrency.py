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
