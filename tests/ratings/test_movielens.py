"""MovieLens import on a tiny hand-written release (tests/fixtures/movielens-tiny, see its README)."""

import shutil
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import numpy as np
import pytest
from django.core.exceptions import ValidationError
from django.core.management import CommandError, call_command

from accounts.models import User
from catalog.models import Title
from ratings.models import Rating
from ratings.movielens import movielens_import, movielens_stars

TINY = Path(__file__).resolve().parents[1] / "fixtures" / "movielens-tiny"
CATALOG = ["tt0034583", "tt0038650", "tt0047478", "tt10872600", "tt0033467"]  # not tt0111161 (movie 5)


@pytest.fixture
def catalog(db):
    return Title.objects.bulk_create(
        Title(tconst=tconst, title_type="movie", primary_title=tconst, average_rating=Decimal("8.0"), num_votes=1000)
        for tconst in CATALOG
    )


def stars_by_user() -> dict:
    rows = Rating.objects.filter(user__kind=User.Kind.MOVIELENS).values_list("user__external_id", "title_id", "score")
    result = {}
    for external_id, tconst, score in rows:
        result.setdefault(external_id, {})[tconst] = score
    return result


def test_half_stars_round_half_up():
    halves = np.arange(1, 11) / 2
    assert movielens_stars(halves).tolist() == [1, 1, 2, 2, 3, 3, 4, 4, 5, 5]


def test_tiny_release_is_imported_exactly(catalog):
    report = movielens_import(directory=TINY)

    assert stars_by_user() == {
        # user 1: 0.5, 1.0, 1.5, 2.0, (2.5 on a movie not in the catalog), 2.5
        "1": {"tt0034583": 1, "tt0038650": 1, "tt0047478": 2, "tt10872600": 2, "tt0033467": 3},
        # user 2: 3.0, 3.5, 4.0, 4.5, 5.0 (imdbId "38650" without its leading zero, 8-digit tt10872600)
        "2": {"tt0034583": 3, "tt0038650": 4, "tt0047478": 4, "tt10872600": 5, "tt0033467": 5},
        # user 3 rated movies 1 and 7, both Casablanca: the later rating (2.0) wins
        "3": {"tt0034583": 2},
        "4": {"tt0033467": 3},
    }
    assert (report.lines, report.users_created, report.ratings_created) == (20, 4, 12)
    assert (report.movies_not_in_catalog, report.ratings_not_in_catalog) == (1, 3)
    assert (report.movies_not_linked, report.ratings_not_linked) == (1, 1)
    assert report.duplicates == 1
    assert report.rejected == 5
    assert sorted(report.rejects) == sorted(
        [
            'links.csv:9: imdbId "notanumber" is not an IMDb number',
            'ratings.csv:17: rating "5.5" is not a half star from 0.5 to 5',
            'ratings.csv:18: rating "abc" is not a half star from 0.5 to 5',
            'ratings.csv:19: userId "x" is not a positive whole number',
            "ratings.csv:20: expected 4 fields, saw 5",
        ]
    )
    # User 5 only rated a movie that is not in the catalog: no user for them.
    assert not User.objects.filter(kind=User.Kind.MOVIELENS, external_id="5").exists()

    users = User.objects.filter(kind=User.Kind.MOVIELENS).order_by("external_id")
    assert [user.username for user in users] == ["movielens:1", "movielens:2", "movielens:3", "movielens:4"]
    assert all(not user.has_usable_password() and user.persona == "" for user in users)
    rating = Rating.objects.get(user__external_id="2", user__kind=User.Kind.MOVIELENS, title_id="tt0033467")
    assert rating.created_at == datetime.fromtimestamp(1000000015, tz=UTC)


def test_import_is_idempotent_and_takes_newer_stars(catalog, tmp_path):
    movielens_import(directory=TINY)
    before = stars_by_user()
    again = movielens_import(directory=TINY)
    assert (again.users_created, again.users_existing, again.ratings_created, again.ratings_updated) == (0, 4, 0, 0)
    assert again.ratings_unchanged == 12
    assert stars_by_user() == before
    assert User.objects.filter(kind=User.Kind.MOVIELENS).count() == 4

    # A newer release where user 1 changed their mind about Casablanca (0.5 → 4.5, later timestamp).
    newer = tmp_path / "newer"
    shutil.copytree(TINY, newer)
    ratings = (newer / "ratings.csv").read_text().replace("1,1,0.5,1000000001", "1,1,4.5,1100000001")
    (newer / "ratings.csv").write_text(ratings)
    report = movielens_import(directory=newer)
    assert (report.ratings_created, report.ratings_updated, report.ratings_unchanged) == (0, 1, 11)
    assert stars_by_user()["1"]["tt0034583"] == 5


def test_movielens_users_cannot_log_in(catalog, client):
    movielens_import(directory=TINY)
    user = User.objects.get(kind=User.Kind.MOVIELENS, external_id="1")
    user.set_password("a-Strong-pass-123")
    user.save()
    response = client.post("/accounts/login/", {"username": user.username, "password": "a-Strong-pass-123"})
    assert response.status_code == 200 and "_auth_user_id" not in client.session


def test_bad_directories_write_nothing(catalog, tmp_path):
    with pytest.raises(ValidationError, match="not a directory"):
        movielens_import(directory=tmp_path / "missing")
    (tmp_path / "ratings.csv").write_text("userId,movieId,rating,timestamp\n1,1,4.0,1\n")
    with pytest.raises(ValidationError, match="no links.csv"):
        movielens_import(directory=tmp_path)
    (tmp_path / "links.csv").write_text("movie,imdb\n1,0034583\n")
    with pytest.raises(ValidationError, match="expected the header movieId,imdbId,tmdbId"):
        movielens_import(directory=tmp_path)
    (tmp_path / "links.csv").write_text("movieId,imdbId,tmdbId\n1,0034583,1\n")
    (tmp_path / "ratings.csv").write_text("user,movie,stars\n1,1,4.0\n")
    with pytest.raises(ValidationError, match="expected the header userId"):
        movielens_import(directory=tmp_path)
    assert not User.objects.filter(kind=User.Kind.MOVIELENS).exists() and not Rating.objects.exists()


def test_a_header_only_release_imports_nothing(catalog, tmp_path):
    (tmp_path / "links.csv").write_text("movieId,imdbId,tmdbId\n")
    (tmp_path / "ratings.csv").write_text("userId,movieId,rating,timestamp\n")
    report = movielens_import(directory=tmp_path)
    assert (report.lines, report.ratings_created, report.rejected) == (0, 0, 0)


def test_import_command_reports_what_was_left_out(catalog, capsys):
    call_command("import_movielens", str(TINY))
    captured = capsys.readouterr()
    assert "20 ratings read" in captured.out and "12 imported" in captured.out
    assert "4 MovieLens users created" in captured.out
    assert "1 movies not in the catalog (3 ratings)" in captured.out
    assert "5 rejected lines" in captured.out
    assert 'rejected ratings.csv:17: rating "5.5"' in captured.err
    with pytest.raises(CommandError, match="not a directory"):
        call_command("import_movielens", str(TINY / "nope"))


def test_chunked_reading_keeps_results_and_line_numbers(catalog, tmp_path, monkeypatch):
    import ratings.movielens

    release = tmp_path / "release"
    shutil.copytree(TINY, release)
    with (release / "ratings.csv").open("a") as handle:
        handle.write("6,6,7.0,1000000040\n")  # line 23, after the malformed line 20
    monkeypatch.setattr(ratings.movielens, "CHUNK_ROWS", 4)
    report = movielens_import(directory=release)
    assert (report.lines, report.ratings_created, report.duplicates) == (21, 12, 1)
    assert sorted(r for r in report.rejects if r.startswith("ratings.csv")) == [
        'ratings.csv:17: rating "5.5" is not a half star from 0.5 to 5',
        'ratings.csv:18: rating "abc" is not a half star from 0.5 to 5',
        'ratings.csv:19: userId "x" is not a positive whole number',
        "ratings.csv:20: expected 4 fields, saw 5",
        'ratings.csv:23: rating "7.0" is not a half star from 0.5 to 5',
    ]
