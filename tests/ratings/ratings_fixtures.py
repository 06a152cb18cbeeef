"""Small catalogue builders shared by the ratings tests (imported, not a conftest)."""

import itertools

import pytest

_numbers = itertools.count(9_100_000)


def make_title(**fields):
    from catalog.models import Title

    number = next(_numbers)
    defaults = {
        "tconst": f"tt{number:07d}",
        "title_type": "movie",
        "primary_title": f"Film {number}",
        "start_year": 2000,
        "genres": ["Drama"],
        "num_votes": 1000,
    }
    defaults.update(fields)
    return Title.objects.create(**defaults)


@pytest.fixture
def title_factory(db):
    return make_title


@pytest.fixture
def member(user_factory):
    return user_factory(username="member")


@pytest.fixture
def member_client(client, member):
    client.force_login(member)
    return client


AJAX = {"HTTP_X_REQUESTED_WITH": "XMLHttpRequest"}
