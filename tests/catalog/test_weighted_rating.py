"""The stored weighted rating (migration 0010): kept equal to its definition by the import, a
newer dump and any other write of a rating, and the "highest rated" sort reads it in order."""

from decimal import Decimal

import pytest
from django.db import connection

from catalog import selectors
from catalog.models import WEIGHTED_RATING_MIN_VOTES, ImportRun, Title
from tests.catalog.importing_helpers import run_import, sample_lines, split, write_file
from tests.catalog.test_views import browse
from tests.factories import make_title, weighted_rating_refresh

pytestmark = pytest.mark.django_db


def definition() -> dict[str, float | None]:
    """Every title's weighted rating by the definition, worked out here from the raw columns:
    ``v/(v+m)·R + m/(v+m)·C``, C the mean IMDb rating of the rated titles to two decimals."""
    rows = list(Title.objects.values_list("tconst", "average_rating", "num_votes"))
    rated = [float(rating) for _tconst, rating, votes in rows if votes > 0 and rating is not None]
    mean = round(sum(rated) / len(rated), 2)
    m = WEIGHTED_RATING_MIN_VOTES
    return {
        tconst: (votes / (votes + m)) * float(rating) + (m / (votes + m)) * mean
        if votes > 0 and rating is not None
        else None
        for tconst, rating, votes in rows
    }


def stored() -> dict[str, float | None]:
    return dict(Title.objects.values_list("tconst", "weighted_rating"))


def assert_stored_is_the_definition() -> None:
    expected, actual = definition(), stored()
    assert actual.keys() == expected.keys()
    wrong = {
        tconst: (actual[tconst], value)
        for tconst, value in expected.items()
        if (value is None) != (actual[tconst] is None) or (value is not None and abs(actual[tconst] - value) > 1e-9)
    }
    assert not wrong, list(wrong.items())[:5]


@pytest.mark.parametrize("first_load_bytes", [8 << 20, 0], ids=["small-first-load", "deferred-first-load"])
def test_imports_and_a_newer_dump_keep_the_stored_key_equal_to_the_definition(tmp_path, first_load_bytes):
    old_dir, new_dir = tmp_path / "old", tmp_path / "new"
    old_dir.mkdir(), new_dir.mkdir()
    basics, ratings = sample_lines("title.basics"), sample_lines("title.ratings")
    write_file(old_dir, "title.basics", basics, gz=True)
    write_file(old_dir, "title.ratings", ratings, gz=True)
    # defer_indexes_min_bytes=0: the big-file path, whose COPY runs without the row trigger
    first = run_import(old_dir, defer_indexes_min_bytes=first_load_bytes)
    assert first.status == ImportRun.Status.SUCCEEDED, first.error
    assert Title.objects.filter(weighted_rating__isnull=False).count() > 1000
    assert_stored_is_the_definition()

    # The daily refresh: one title re-rated with many more votes, one losing its rating, and
    # enough low ratings that the catalogue mean C moves (every key is rewritten then).
    rerated, unrated = split(ratings[0])[0], split(ratings[1])[0]
    before = Title.objects.get(tconst=rerated).weighted_rating
    new_ratings = [f"{rerated}\t9.9\t2000000"]
    new_ratings += [
        line if n % 3 else "\t".join(split(line)[:1] + ["1.0"] + split(line)[2:]) for n, line in enumerate(ratings[2:])
    ]
    write_file(new_dir, "title.ratings", new_ratings, gz=True)
    with connection.cursor() as cursor:
        cursor.execute("SELECT mean FROM catalog_weightedrating")
        mean_before = cursor.fetchone()[0]

    run = run_import(new_dir, ["title.ratings"])

    assert run.status == ImportRun.Status.SUCCEEDED, run.error
    with connection.cursor() as cursor:
        cursor.execute("SELECT mean FROM catalog_weightedrating")
        assert cursor.fetchone()[0] < mean_before - Decimal("0.5")
    title = Title.objects.get(tconst=rerated)
    assert title.weighted_rating > before
    assert Title.objects.get(tconst=unrated).weighted_rating is None
    assert_stored_is_the_definition()


def test_any_write_of_a_rating_recomputes_the_key():
    make_title("tt0000001", average_rating=Decimal("6.0"), num_votes=1000)
    title = make_title("tt0000002", average_rating=Decimal("8.0"), num_votes=1000)
    weighted_rating_refresh()
    assert_stored_is_the_definition()
    Title.objects.filter(pk=title.pk).update(average_rating=Decimal("9.0"), num_votes=50_000)
    fresh = Title.objects.get(pk=title.pk)
    m, mean = WEIGHTED_RATING_MIN_VOTES, 7.0  # C stays until the next import refreshes it
    assert fresh.weighted_rating == pytest.approx(50_000 / (50_000 + m) * 9.0 + m / (50_000 + m) * mean)
    fresh.primary_title = "Renamed"
    fresh.save()  # a save of the whole row (the admin) writes the rating columns again
    assert Title.objects.get(pk=title.pk).weighted_rating == pytest.approx(fresh.weighted_rating)
    Title.objects.filter(pk=title.pk).update(average_rating=None, num_votes=0)
    assert Title.objects.get(pk=title.pk).weighted_rating is None


def test_the_rating_sort_is_the_order_of_the_definition(client):
    # Close calls between many votes and a high mean, ties, several genres, unrated titles.
    specs = [
        ("8.0", 90_000, ["Drama", "Romance"]),
        ("9.0", 80_000, ["Drama", "Romance"]),
        ("6.0", 70_000, ["Drama"]),
        ("10.0", 5, ["Drama", "Romance"]),
        ("9.5", 20_000, ["Comedy", "Drama", "Romance"]),
        ("7.1", 1_000_000, ["Romance"]),
        ("7.1", 1_000_000, ["Drama", "Romance"]),
        ("3.0", 400_000, ["Drama", "Romance"]),
        (None, 0, ["Drama", "Romance"]),
        (None, 0, ["Drama", "Romance"]),
        ("5.0", 10, ["Drama", "Romance"]),
    ]
    titles = [
        make_title(
            f"tt{n + 1:07}",
            average_rating=Decimal(rating) if rating else None,
            num_votes=votes,
            genres=genres,
        )
        for n, (rating, votes, genres) in enumerate(specs)
    ]
    weighted_rating_refresh()
    key = definition()

    def by_definition(candidates):
        return [
            title.tconst
            for title in sorted(
                candidates,
                key=lambda title: (
                    key[title.tconst] is None,
                    -(key[title.tconst] or 0),
                    -title.num_votes,
                    title.tconst,
                ),
            )
        ]

    assert browse(client, "sort=rating") == by_definition(titles)
    both = [title for title in titles if {"Drama", "Romance"} <= set(title.genres)]
    assert browse(client, "genre=Drama&genre=Romance&sort=rating") == by_definition(both)
    assert [title.tconst for title in selectors.title_popular_list(by="rating", limit=3)] == by_definition(
        [title for title in titles if title.num_votes]
    )[:3]


@pytest.mark.parametrize(
    "filters",
    [{}, {"genres": ["Drama", "Romance"]}, {"genres": ["Comedy"], "year_min": 1980, "title_types": ["movie"]}],
    ids=["no-filter", "two-genres", "every-filter"],
)
def test_the_rating_sort_reads_its_index(filters):
    make_title(primary_title="Anything", average_rating=Decimal("7.0"), num_votes=10)
    queryset = selectors.title_browse(sort="rating", **filters)[:24]
    with connection.cursor() as cursor:
        # What a big table gets: no scan of the whole table, no bitmap (unordered) then sort.
        cursor.execute("SET LOCAL enable_seqscan = off; SET LOCAL enable_bitmapscan = off; SET LOCAL enable_sort = off")
        sql, params = queryset.query.sql_with_params()
        cursor.execute("EXPLAIN " + sql, params)
        plan = "\n".join(row[0] for row in cursor.fetchall())
    assert "Index Scan using catalog_title_browse_rating" in plan and "Sort" not in plan, plan


def test_the_per_row_function_is_never_jit_compiled():
    # At full size the trigger's function, planned for each row, costs more than jit_above_cost:
    # compiled with LLVM per row, the first import's ratings sync ran for over 20 minutes.
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT proconfig FROM pg_proc WHERE oid = 'catalog_title_weighted_rating(numeric, integer)'::regprocedure"
        )
        assert "jit=off" in cursor.fetchone()[0]
        # and with JIT forced on for everything, a write through the trigger still works
        cursor.execute("SET LOCAL jit_above_cost = 0")
        make_title("tt0000001", average_rating=Decimal("6.0"), num_votes=1000)
        make_title("tt0000002", average_rating=Decimal("8.0"), num_votes=1000)
        weighted_rating_refresh()
    assert_stored_is_the_definition()
