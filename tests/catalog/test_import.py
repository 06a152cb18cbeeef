"""The importer on real IMDb files: the tiny cross-linked fixtures, their traps, the 50,001-row slice."""

import json
import shutil

import pytest
from django.db import connection

from catalog.importing.indexes import indexes_deferred
from catalog.models import Crew, Episode, ImportReject, ImportRun, Person, Principal, Title, TitleAka, TitleRating
from tests.catalog.importing_helpers import MODELS_BY_FILE, crew_relations, data_lines, run_import, snapshot, split

pytestmark = [pytest.mark.django_db, pytest.mark.shared_data]


@pytest.fixture
def fixtures_dir(shared_data):
    return shared_data / "imdb-fixtures"


@pytest.mark.parametrize("defer_indexes_min_bytes", [None, 0], ids=["indexes-kept", "indexes-deferred"])
def test_fixtures_load_with_exact_counts(fixtures_dir, defer_indexes_min_bytes):
    options = {} if defer_indexes_min_bytes is None else {"defer_indexes_min_bytes": defer_indexes_min_bytes}
    indexes_before = _indexes()

    run = run_import(fixtures_dir, **options)

    assert run.status == ImportRun.Status.SUCCEEDED, run.error
    assert Title.objects.count() == 75
    assert Person.objects.count() == 219
    assert Principal.objects.count() == 572
    assert TitleAka.objects.count() == 240
    assert Episode.objects.count() == 43
    assert TitleRating.objects.count() == 12
    # title.crew's 75 lines list 188 distinct (title, person, role) relations
    assert Crew.objects.count() == 188
    assert Crew.objects.filter(role="director").exists() and Crew.objects.filter(role="writer").exists()
    for name, result in run.counts.items():
        assert result["lines"] == result["loaded"] and result["rejected"] == 0, name
        assert result["mode"] == "first load" and result["updated"] == result["removed"] == 0, name
    assert run.counts["title.crew"]["inserted"] == 188
    assert not ImportReject.objects.filter(run=run).exists()
    # dropped for the load or not, every index and constraint is there afterwards
    assert _indexes() == indexes_before
    assert not indexes_deferred()
    if defer_indexes_min_bytes == 0:
        assert run.counts["title.basics"]["phases"]["indexes_deferred"] >= 4


def _indexes():
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT tablename, indexname, indexdef FROM pg_indexes WHERE tablename LIKE 'catalog_%' "
            "AND tablename <> 'catalog_import_deferred_index' ORDER BY 1, 2"
        )
        return cursor.fetchall()


def test_fixture_rows_are_stored_exactly(fixtures_dir):
    run_import(fixtures_dir)

    for line in data_lines(fixtures_dir / "title.basics.tsv"):
        tconst, title_type, primary, original, adult, start, end, runtime, genres = split(line)
        title = Title.objects.get(tconst=tconst)
        assert (title.title_type, title.primary_title, title.original_title) == (title_type, primary, original)
        assert title.is_adult == (adult == "1")
        assert title.start_year == (None if start == r"\N" else int(start))
        assert title.end_year == (None if end == r"\N" else int(end))
        assert title.runtime_minutes == (None if runtime == r"\N" else int(runtime))
        assert title.genres == ([] if genres == r"\N" else genres.split(","))
    for line in data_lines(fixtures_dir / "title.principals.tsv"):
        tconst, ordering, nconst, category, job, characters = split(line)
        principal = Principal.objects.get(title_id=tconst, ordering=int(ordering))
        assert (principal.person_id, principal.category) == (nconst, category)
        assert principal.job == ("" if job == r"\N" else job)
        assert principal.characters == ([] if characters == r"\N" else json.loads(characters))
    # the denormalised rating is the one title.ratings published
    for line in data_lines(fixtures_dir / "title.ratings.tsv"):
        tconst, average, votes = split(line)
        rating = TitleRating.objects.get(title_id=tconst)
        assert (str(rating.average_rating), rating.num_votes) == (average, int(votes))
        title = Title.objects.filter(tconst=tconst).first()
        if title is not None:
            assert (str(title.average_rating), title.num_votes) == (average, int(votes))
    assert Title.objects.filter(average_rating__isnull=True, num_votes=0).count() == (
        Title.objects.count() - Title.objects.filter(tconst__in=TitleRating.objects.values("title_id")).count()
    )


def test_raw_quotes_in_titles_are_stored_exactly(fixtures_dir, tmp_path):
    shutil.copy(fixtures_dir / "quote-in-title.title.basics.tsv", tmp_path / "title.basics.tsv")

    run = run_import(tmp_path)

    assert run.status == ImportRun.Status.SUCCEEDED, run.error
    lines = data_lines(tmp_path / "title.basics.tsv")
    assert Title.objects.count() == len(lines) == 2
    for line in lines:
        fields = split(line)
        title = Title.objects.get(tconst=fields[0])
        assert (title.primary_title, title.original_title) == (fields[2], fields[3])
    assert Title.objects.get(tconst="tt0544863").primary_title == "\"Consuela\" (Or 'The New Mrs Saunders')"


@pytest.mark.parametrize("table_already_loaded", [False, True], ids=["first-load", "update"])
def test_duplicate_key_file_is_reported_not_fatal(fixtures_dir, tmp_path, table_already_loaded):
    if table_already_loaded:
        run_import(fixtures_dir, ["name.basics"])
    shutil.copy(fixtures_dir / "duplicate-key.name.basics.tsv", tmp_path / "name.basics.tsv")

    run = run_import(tmp_path)

    assert run.status == ImportRun.Status.SUCCEEDED, run.error
    result = run.counts["name.basics"]
    assert (result["lines"], result["loaded"], result["rejected"]) == (2, 1, 1)
    assert result["mode"] == "update"  # a first load falls back to the staged path to name the duplicate
    reject = ImportReject.objects.get(run=run)
    assert (reject.file, reject.line) == ("name.basics.tsv", 3)
    assert reject.reason == "duplicate nconst nm0000647 (first on line 2)"
    assert reject.raw == data_lines(tmp_path / "name.basics.tsv")[1].decode()
    assert str(reject) == "name.basics.tsv:3: duplicate nconst nm0000647 (first on line 2)"
    assert Person.objects.get(nconst="nm0000647").primary_name == "Alan Smithee"
    if table_already_loaded:
        # the rest of name.basics is not in this file: flagged, not deleted
        assert result["removed"] == 218
        assert Person.objects.count() == 219
        assert Person.objects.filter(removed_at__isnull=True).count() == 1


def test_reimport_is_a_noop(fixtures_dir):
    run_import(fixtures_dir)
    before = snapshot()

    again = run_import(fixtures_dir)

    assert again.status == ImportRun.Status.SUCCEEDED
    for name, result in again.counts.items():
        # the files kept from the first import, read side by side; title.akas always in full
        # (catalog.services.DELTA_WHOLE_FILE)
        assert result["mode"] == ("update" if name == "title.akas" else "delta update"), name
        assert (result["inserted"], result["updated"], result["removed"], result["rejected"]) == (0, 0, 0, 0), name
        assert result["loaded"] == result["lines"] > 0, name
    assert snapshot() == before


def test_whole_slice_every_line_accounted_for(shared_data):
    slice_dir = shared_data / "imdb-sample"

    run = run_import(slice_dir)

    assert run.status == ImportRun.Status.SUCCEEDED, run.error
    for name, result in run.counts.items():
        assert result["lines"] == 50_001, name
        assert result["loaded"] + result["rejected"] == result["lines"], name
        assert ImportReject.objects.filter(run=run, file=result["file"]).count() == result["rejected"], name
    for model, name in MODELS_BY_FILE:
        assert model.objects.count() == run.counts[name]["loaded"], name
    assert Crew.objects.count() == len(crew_relations(slice_dir / "title.crew.tsv.gz"))
    # cross-file references dangle in a partial dump and are kept, not dropped
    assert Principal.objects.exclude(person_id__in=Person.objects.values("nconst")).exists()
    assert Episode.objects.exclude(parent_id__in=Title.objects.values("tconst")).exists()
    # ratings reach tt0071050, titles stop at tt0050928: kept all the same
    assert TitleRating.objects.exclude(title_id__in=Title.objects.values("tconst")).exists()
    assert (
        Title.objects.filter(num_votes__gt=0).count()
        == TitleRating.objects.filter(title_id__in=Title.objects.values("tconst")).count()
    )
