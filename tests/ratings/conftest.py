"""Fixtures shared by the ratings tests: titles to rate."""

import pytest

from tests.factories import make_title


@pytest.fixture
def title_factory(db):
    """``make_title`` with this folder's defaults: titles from 2000 with some votes, so the pages'
    messages read "Ikiru (2000)"."""

    def make(**fields):
        fields.setdefault("start_year", 2000)
        fields.setdefault("num_votes", 1000)
        return make_title(**fields)

    return make
