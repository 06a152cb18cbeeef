"""TitleAka.name_first: only the first aka of a title spelled a given way is in the search indexes
of akas (migration 0011). The importer sets the flag while it streams the file and keeps it exact
on a refresh; the search still finds a title by an aka that repeats, whichever copy is left."""

import importlib

import pytest
from django.db import connection

from catalog.importing.convert import Context, convert_title_akas
from catalog.models import ImportRun, TitleAka
from catalog.search import title_search
from tests.catalog.importing_helpers import run_import, write_file
from tests.factories import make_aka, make_title

pytestmark = pytest.mark.django_db

BASICS = [
    "tt0050083\tmovie\t12 Angry Men\t12 Angry Men\t0\t1957\t\\N\t96\tCrime,Drama",
    "tt0050084\tmovie\tSome Other Film\tSome Other Film\t0\t1957\t\\N\t90\tDrama",
]
# "Zwölf Geschworene" three times (Germany, Austria, Switzerland), as IMDb lists one name per region
AKAS = [
    "tt0050083\t1\tZwölf Geschworene\tDE\t\\N\t\\N\t\\N\t0",
    "tt0050083\t2\t12 Angry Men\tUS\t\\N\t\\N\t\\N\t0",
    "tt0050083\t3\tZwölf Geschworene\tAT\t\\N\t\\N\t\\N\t0",
    "tt0050083\t4\tZwölf Geschworene\tCH\t\\N\t\\N\t\\N\t0",
    "tt0050083\t5\tzwölf geschworene\tLI\t\\N\t\\N\t\\N\t0",
    "tt0050084\t1\tZwölf Geschworene\tDE\t\\N\t\\N\t\\N\t0",
]


def flags(tconst: str = "tt0050083") -> dict[int, bool]:
    return dict(
        TitleAka.objects.filter(title_id=tconst, removed_at=None).values_list("ordering", "name_first").order_by()
    )


def test_the_converter_flags_the_first_line_of_each_name_in_a_titles_run():
    context = Context(lambda *reject: None, numbered=False)
    lines = [line.encode() for line in AKAS] + [b"tt0050083\t6\tZw\xc3\xb6lf Geschworene\tBE\t\\N\t\\N\t\\N\t0"]
    rows = convert_title_akas(lines[:3], 0, context) + convert_title_akas(lines[3:], 3, context)  # two chunks
    # byte for byte: another case is another name; another title, or the same title coming back
    # after another one (its lines not contiguous), starts afresh
    assert [row.split(b"\t")[-1] for row in rows] == [b"t", b"t", b"f", b"f", b"t", b"t", b"t"]


def import_akas(directory, akas, **options) -> ImportRun:
    directory.mkdir()
    write_file(directory, "title.basics", BASICS)
    write_file(directory, "title.akas", akas)
    run = run_import(directory, **options)
    assert run.status == ImportRun.Status.SUCCEEDED, run.error
    return run


@pytest.mark.parametrize("defer_indexes_min_bytes", [None, 0], ids=["indexes-kept", "indexes-deferred"])
def test_a_refresh_that_removes_or_renames_the_first_copy_makes_the_next_one_first(tmp_path, defer_indexes_min_bytes):
    options = {} if defer_indexes_min_bytes is None else {"defer_indexes_min_bytes": defer_indexes_min_bytes}
    import_akas(tmp_path / "first", AKAS, **options)
    assert flags() == {1: True, 2: True, 3: False, 4: False, 5: True}
    assert flags("tt0050084") == {1: True}

    run = import_akas(tmp_path / "removed", AKAS[1:])  # the German line is gone
    assert flags() == {2: True, 3: True, 4: False, 5: True}
    counts = run.counts["title.akas"]
    assert (counts["updated"], counts["removed"]) == (1, 1)  # the Austrian line's flag only

    renamed = AKAS[2].replace("Zwölf Geschworene", "Die zwölf Geschworenen")
    run = import_akas(tmp_path / "renamed", [AKAS[1], renamed, *AKAS[3:]])
    assert flags() == {2: True, 3: True, 4: True, 5: True}
    assert run.counts["title.akas"]["updated"] == 2  # the renamed line, the Swiss line's flag

    run = import_akas(tmp_path / "back", AKAS)  # the first copy comes back: the others follow it
    assert flags() == {1: True, 2: True, 3: False, 4: False, 5: True}


def test_a_repeated_key_leaves_the_flag_on_the_first_line_that_is_kept(tmp_path):
    # The rejected line (ordering 1 again) was the first "Zwölf Geschworene" of the converter.
    akas = [AKAS[1], AKAS[0].replace("\t1\t", "\t2\t"), AKAS[2]]
    run = import_akas(tmp_path / "dump", akas)
    assert run.counts["title.akas"]["rejected"] == 1
    assert flags() == {2: True, 3: True}


def test_search_finds_a_title_by_a_repeated_aka_after_its_first_copy_is_removed(tmp_path):
    import_akas(tmp_path / "first", AKAS)
    import_akas(tmp_path / "removed", AKAS[1:])
    for query in ("zwolf geschworene", "zwölf geschwornee"):  # exact (tier 2), typo (the tail)
        hits = {hit.tconst: hit for hit in title_search(query=query)}
        assert set(hits) == {"tt0050083", "tt0050084"}, query
        assert hits["tt0050083"].matched_title.lower() == "zwölf geschworene"
        assert hits["tt0050083"].exact_rank == (1 if query == "zwolf geschworene" else 0)


def test_the_migration_flags_akas_already_loaded_first_by_id_among_live_rows():
    migration = importlib.import_module("catalog.migrations.0011_aka_name_first_partial_indexes")
    title = make_title(primary_title="12 Angry Men")
    removed = make_aka(title, "Zwölf Geschworene", removed_at="2026-01-01T00:00Z")
    akas = [make_aka(title, name) for name in ("Zwölf Geschworene", "Zwölf Geschworene", "12 Angry Men")]
    with connection.cursor() as cursor:
        cursor.execute(migration.FLAGS_SET)
    assert [TitleAka.objects.get(pk=aka.pk).name_first for aka in akas] == [True, False, True]
    assert TitleAka.objects.get(pk=removed.pk).name_first  # not indexed anyway (removed)
