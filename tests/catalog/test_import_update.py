"""Newer dumps, failures midway, malformed rows, bad files: on the bundled sample and handmade files."""

import gzip
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.db import connection

from catalog.models import Crew, ImportReject, ImportRun, Person, Principal, Title, TitleAka, TitleRating
from catalog.services import import_run_create
from tests.catalog.importing_helpers import HEADERS, SAMPLE_DIR, run_import, sample_lines, snapshot, split, write_file

pytestmark = pytest.mark.django_db


def _write_sample(directory, name, lines):
    write_file(directory, name, lines, gz=True)


@pytest.mark.parametrize(
    ("options", "deferred"),
    [
        ({}, False),
        ({"defer_indexes_min_rows": 0, "defer_indexes_min_share": 0.0}, True),
        # no row minimum, but three written rows are a small share of the table: kept
        ({"defer_indexes_min_rows": 0}, False),
    ],
    ids=["indexes-kept", "indexes-deferred", "small-share-kept"],
)
def test_newer_dump_is_applied_as_an_update(tmp_path, options, deferred):
    old_dir, new_dir = tmp_path / "old", tmp_path / "new"
    old_dir.mkdir(), new_dir.mkdir()
    basics, ratings, principals = (sample_lines(name) for name in ("title.basics", "title.ratings", "title.principals"))
    for name, lines in (("title.basics", basics), ("title.ratings", ratings), ("title.principals", principals)):
        _write_sample(old_dir, name, lines)
    first = run_import(old_dir)
    assert first.status == ImportRun.Status.SUCCEEDED

    changed = split(basics[0])
    changed[2] = changed[2] + " (restored)"
    gone = split(basics[1])[0]
    added = 'tt9999991\tmovie\tA "New" Film\tA "New" Film\t0\t2030\t\\N\t95\tDrama,Sci-Fi'
    new_basics = ["\t".join(changed)] + basics[2:] + [added]
    rated = split(ratings[0])
    new_votes = int(rated[2]) + 1000
    new_ratings = [f"{rated[0]}\t{rated[1]}\t{new_votes}"] + ratings[1:]
    recast = split(principals[0])
    recast[5] = '["Someone \\"Else\\""]'
    # a new row after a first load whose ids were its line numbers: the next id is free
    new_principals = ["\t".join(recast)] + principals[2:] + ['tt9999991\t1\tnm0000001\tactor\t\\N\t["Lead"]']
    _write_sample(new_dir, "title.basics", new_basics)
    _write_sample(new_dir, "title.ratings", new_ratings)
    _write_sample(new_dir, "title.principals", new_principals)

    run = run_import(new_dir, **options)

    assert run.status == ImportRun.Status.SUCCEEDED, run.error
    assert ("indexes_deferred" in run.counts["title.basics"]["phases"]) == deferred
    counts = run.counts
    assert {key: counts["title.basics"][key] for key in ("inserted", "updated", "removed", "rejected")} == {
        "inserted": 1,
        "updated": 1,
        "removed": 1,
        "rejected": 0,
    }
    assert {key: counts["title.ratings"][key] for key in ("inserted", "updated", "removed")} == {
        "inserted": 0,
        "updated": 1,
        "removed": 0,
    }
    assert {key: counts["title.principals"][key] for key in ("inserted", "updated", "removed")} == {
        "inserted": 1,
        "updated": 1,
        "removed": 1,
    }
    assert Principal.objects.get(title_id="tt9999991").characters == ["Lead"]
    assert Title.objects.get(tconst=changed[0]).primary_title == changed[2]
    assert Title.objects.get(tconst="tt9999991").primary_title == 'A "New" Film'
    removed = Title.objects.get(tconst=gone)  # flagged, not deleted: ratings may point at it
    assert removed.removed_at is not None
    assert Title.objects.filter(removed_at__isnull=True).count() == len(new_basics)
    assert Title.objects.get(tconst=rated[0]).num_votes == new_votes  # kept in sync from title.ratings
    assert Principal.objects.get(title_id=recast[0], ordering=int(recast[1])).characters == ['Someone "Else"']
    second = split(principals[1])
    assert Principal.objects.get(title_id=second[0], ordering=int(second[1])).removed_at is not None

    # the old dump again: the flagged title comes back, the changes are undone
    back = run_import(old_dir, **options)
    assert back.counts["title.basics"]["updated"] == 2  # the renamed and the returning title
    assert back.counts["title.basics"]["removed"] == 1  # the added one is not in the old dump
    assert Title.objects.get(tconst=gone).removed_at is None
    assert Title.objects.get(tconst=changed[0]).primary_title == split(basics[0])[2]


@pytest.mark.parametrize("already_loaded", [False, True], ids=["first-load", "update"])
def test_failure_midway_leaves_the_previous_data(tmp_path, already_loaded):
    good_dir, broken_dir = tmp_path / "good", tmp_path / "broken"
    good_dir.mkdir(), broken_dir.mkdir()
    basics = sample_lines("title.basics")
    _write_sample(good_dir, "title.basics", basics)
    if already_loaded:
        assert run_import(good_dir).status == ImportRun.Status.SUCCEEDED
    before = snapshot()
    with connection.cursor() as cursor:
        cursor.execute("SELECT indexdef FROM pg_indexes WHERE tablename = 'catalog_title' ORDER BY indexname")
        indexes_before = cursor.fetchall()
    # a newer dump that changes every title, cut off mid-stream (a truncated download)
    renamed = [
        "\t".join([fields[0], fields[1], fields[2] + " (changed)", *fields[3:]]) for fields in map(split, basics)
    ]
    complete = gzip.compress("\n".join([HEADERS["title.basics"], *renamed, ""]).encode(), mtime=0)
    (broken_dir / "title.basics.tsv.gz").write_bytes(complete[:-2000])
    seen = []

    run = run_import(broken_dir, listener=lambda event: seen.append(event), chunk_bytes=4096, defer_indexes_min_bytes=0)

    assert run.status == ImportRun.Status.FAILED
    assert "truncated or corrupt" in run.counts["title.basics"]["error"]
    sent = max(event["lines"] for event in seen if event["phase"] == "rows")
    assert sent > 1000  # thousands of rows had gone to Postgres when the file broke
    assert snapshot() == before
    assert not ImportReject.objects.filter(run=run).exists()
    with connection.cursor() as cursor:
        cursor.execute("SELECT indexdef FROM pg_indexes WHERE tablename = 'catalog_title' ORDER BY indexname")
        assert cursor.fetchall() == indexes_before


def test_deferred_first_load_with_a_repeated_key_falls_back_and_reports_it(tmp_path):
    principals = sample_lines("title.principals")
    write_file(tmp_path, "title.principals", [*principals, principals[10]], gz=True)

    run = run_import(tmp_path, defer_indexes_min_bytes=0)

    result = run.counts["title.principals"]
    assert run.status == ImportRun.Status.SUCCEEDED
    assert (result["mode"], result["lines"], result["loaded"], result["rejected"]) == (
        "update",
        len(principals) + 1,
        len(principals),
        1,
    )
    tconst, ordering = split(principals[10])[:2]
    assert (
        ImportReject.objects.get(run=run).reason
        == f"duplicate tconst, ordering {tconst}, {ordering} (first on line 12)"
    )
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM pg_constraint WHERE conname = 'catalog_principal_unique'")
        assert cursor.fetchone()[0] == 1


def _constraints():
    """Every constraint on a catalog table or pointing at one (users' ratings of titles)."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT conrelid::regclass::text, conname, pg_get_constraintdef(oid) FROM pg_constraint "
            "WHERE (conrelid::regclass::text LIKE 'catalog_%%' OR confrelid::regclass::text LIKE 'catalog_%%') "
            "AND conrelid::regclass::text <> 'catalog_import_deferred_index' "
            "ORDER BY 1, 2"
        )
        return cursor.fetchall()


def test_deferred_first_load_drops_and_restores_the_primary_key_and_the_keys_pointing_at_it(tmp_path):
    before = _constraints()
    assert any(row[0] == "ratings_rating" and "REFERENCES catalog_title(tconst)" in row[2] for row in before)
    write_file(tmp_path, "title.basics", sample_lines("title.basics"), gz=True)

    run = run_import(tmp_path, defer_indexes_min_bytes=0)

    assert run.counts["title.basics"]["mode"] == "first load"
    assert _constraints() == before
    with connection.cursor() as cursor:  # the foreign key works again: a rating of no title is refused
        cursor.execute("SELECT convalidated FROM pg_constraint WHERE conname LIKE 'ratings_rating_title_id%%'")
        assert cursor.fetchone() == (True,)


def test_deferred_first_load_with_a_repeated_title_falls_back_and_keeps_the_primary_key(tmp_path):
    basics = sample_lines("title.basics")
    before = _constraints()
    write_file(tmp_path, "title.basics", [*basics, basics[5]], gz=True)

    run = run_import(tmp_path, defer_indexes_min_bytes=0)

    result = run.counts["title.basics"]
    assert (result["mode"], result["loaded"], result["rejected"]) == ("update", len(basics), 1)
    tconst = split(basics[5])[0]
    assert ImportReject.objects.get(run=run).reason == f"duplicate tconst {tconst} (first on line 7)"
    assert _constraints() == before


MALFORMED_BASICS = [
    b"tt0000001\tmovie\tGood One\tGood One\t0\t1999\t\\N\t90\tDrama",  # 2
    b"tt0000002\tmovie\tShort Row\tShort Row\t0\t1999\t\\N\t90",  # 3
    b"tt0000003\tmovie\tBad Year\tBad Year\t0\t19x4\t\\N\t90\tDrama",  # 4
    b"tt0000004\tmovie\tCaf\xe9 Latin-1\tCaf\xe9\t0\t1999\t\\N\t90\tDrama",  # 5
    b"tt0000005\tmovie\tNul\x00Byte\tNul\t0\t1999\t\\N\t90\tDrama",  # 6
    b"tt0000001\tmovie\tDuplicate\tDuplicate\t0\t2001\t\\N\t90\tComedy",  # 7
    b"tt0000006\tmovie\tBad Runtime\tBad Runtime\t0\t1999\t\\N\tabc\tDrama",  # 8
    b"tt0000007\tmovie\tBad Adult\tBad Adult\t2\t1999\t\\N\t90\tDrama",  # 9
    b'tt0000008\tmovie\tSay "Hi" \\o/ C:\\path\tSay "Hi"\t0\t\\N\t\\N\t\\N\t\\N',  # 10
    b"xx0000009\tmovie\tBad Id\tBad Id\t0\t1999\t\\N\t90\tDrama",  # 11
    b"",  # 12
    b"tt0000010\tmovie\tFirst \xe2\x80\x9cUnicode\xe2\x80\x9d \xc3\xa9\tx\t1\t2020\t2022\t\\N\tAdult,Sci-Fi",  # 13
]
EXPECTED_REJECTS = [
    (3, "expected 9 tab-separated columns, found 8"),
    (4, 'startYear "19x4" is not a year'),
    (5, "invalid UTF-8 at byte 20 (0xE9)"),
    (6, "NUL byte inside the row at byte 20"),
    (7, "duplicate tconst tt0000001 (first on line 2)"),
    (8, 'runtimeMinutes "abc" is not a number of minutes'),
    (9, 'isAdult "2" is not 0 or 1'),
    (11, 'tconst "xx0000009" is not a title id'),
    (12, "expected 9 tab-separated columns, found 1"),
]


@pytest.mark.parametrize("already_loaded", [False, True], ids=["first-load", "update"])
def test_malformed_rows_are_reported_and_the_rest_loads(tmp_path, already_loaded):
    if already_loaded:
        write_file(tmp_path, "title.basics", [MALFORMED_BASICS[0]])
        run_import(tmp_path)
    # the last line has no newline: still a line
    write_file(tmp_path, "title.basics", MALFORMED_BASICS, final_newline=False)

    run = run_import(tmp_path)

    result = run.counts["title.basics"]
    assert run.status == ImportRun.Status.SUCCEEDED
    assert (result["lines"], result["loaded"], result["rejected"]) == (12, 3, 9)
    rejects = list(ImportReject.objects.filter(run=run).order_by("line"))
    assert [(reject.line, reject.reason) for reject in rejects] == EXPECTED_REJECTS
    assert all(reject.file == "title.basics.tsv" for reject in rejects)
    raw = {reject.line: reject.raw for reject in rejects}
    assert raw[5] == "tt0000004\tmovie\tCaf\\xe9 Latin-1\tCaf\\xe9\t0\t1999\t\\N\t90\tDrama"
    assert raw[6] == "tt0000005\tmovie\tNul\\x00Byte\tNul\t0\t1999\t\\N\t90\tDrama"
    assert raw[7] == MALFORMED_BASICS[5].decode()
    assert Title.objects.get(tconst="tt0000001").primary_title == "Good One"  # the first line wins
    quoted = Title.objects.get(tconst="tt0000008")
    assert quoted.primary_title == 'Say "Hi" \\o/ C:\\path' and quoted.start_year is None and quoted.genres == []
    unicode_title = Title.objects.get(tconst="tt0000010")
    assert unicode_title.primary_title == "First \u201cUnicode\u201d \u00e9"
    assert (unicode_title.is_adult, unicode_title.end_year, unicode_title.genres) == (True, 2022, ["Adult", "Sci-Fi"])
    assert set(Title.objects.values_list("tconst", flat=True)) == {"tt0000001", "tt0000008", "tt0000010"}


def test_other_files_parse_lists_json_and_odd_values(tmp_path):
    write_file(
        tmp_path,
        "title.principals",
        [
            'tt0000001\t1\tnm0000001\tactor\t\\N\t["Dr. \\"Doc\\" Brown","A\\\\B","\\u00e9t\\u00e9"]',
            'tt0000001\t2\tnm0000002\tactress\tplayed by\t["Plain, with comma","Second"]',
            'tt0000001\t3\tnm0000003\tself\t\\N\t["unterminated"',
            "tt0000001\t4\tnm0000004\tdirector\t\\N\t\\N",
            'tt0000001\t5\tnm0000005\tactor\t\\N\t["a"b"]',
            "tt0000001\tx\tnm0000006\tactor\t\\N\t\\N",
        ],
    )
    write_file(
        tmp_path,
        "title.akas",
        [
            'tt0000001\t1\tLe "Titre"\tFR\tfr\timdbDisplay\\x02\tliteral title\x02recut version\t0',
            "tt0000001\t2\tOriginal\t\\N\t\\N\toriginal\t\\N\t1",
            "tt0000001\t3\tToo Long Region\tABCDEFGHIJ\t\\N\t\\N\t\\N\t0",
            "tt0000001\t4\tBad Flag\t\\N\t\\N\t\\N\t\\N\tyes",
        ],
    )
    write_file(
        tmp_path,
        "title.crew",
        [
            "tt0000002\tnm0000001,nm0000002,nm0000001\tnm0000001",
            "tt0000003\t\\N\t\\N",
            "tt0000004\tnm0000009\tbadid",
            "tt0000001\tnm0000003\t\\N",  # out of order: the first load checks for repeats the slow way
            "tt0000002\tnm0000007\t\\N",  # a repeated tconst: reported, the first line wins
        ],
    )
    write_file(
        tmp_path,
        "name.basics",
        [
            'nm0000001\tFred "The Feet" Astaire\t1899\t1987\tactor,miscellaneous\ttt0000001,tt0000002',
            "nm0000002\t\\N\t\\N\t\\N\t\\N\t\\N",
            "nm0000003\tBad Birth\tc.1900\t\\N\tactor\t\\N",
        ],
    )
    write_file(
        tmp_path,
        "title.ratings",
        ["tt0000001\t7.5\t12", "tt0000002\t10\t3", "tt0000003\t7.55\t1", "tt0000004\t8.0\tmany"],
    )

    run = run_import(tmp_path)

    assert run.status == ImportRun.Status.SUCCEEDED, run.error
    reasons = {(reject.file, reject.line): reject.reason for reject in ImportReject.objects.filter(run=run)}
    assert reasons == {
        ("title.principals.tsv", 4): 'characters "["unterminated"" is not a JSON array of strings',
        ("title.principals.tsv", 6): 'characters "["a"b"]" is not a JSON array of strings',
        ("title.principals.tsv", 7): 'ordering "x" is not a number',
        ("title.akas.tsv", 4): 'region "ABCDEFGHIJ" is longer than 8 characters',
        ("title.akas.tsv", 5): 'isOriginalTitle "yes" is not 0 or 1',
        ("title.crew.tsv", 4): 'writers has "badid", which is not a name id',
        ("title.crew.tsv", 6): "duplicate tconst tt0000002 (first on line 2)",
        ("name.basics.tsv", 4): 'birthYear "c.1900" is not a year',
        ("title.ratings.tsv", 4): 'averageRating "7.55" is not a rating like 7.5',
        ("title.ratings.tsv", 5): 'numVotes "many" is not a number',
    }
    characters = dict(Principal.objects.values_list("ordering", "characters"))
    assert characters == {1: ['Dr. "Doc" Brown', "A\\B", "été"], 2: ["Plain, with comma", "Second"], 4: []}
    assert Principal.objects.get(ordering=2).job == "played by"
    first_aka = TitleAka.objects.get(ordering=1)
    assert first_aka.aka_title == 'Le "Titre"'
    assert first_aka.types == ["imdbDisplay\\x02"]  # a literal backslash-x, not IMDb's separator byte
    assert first_aka.attributes == ["literal title", "recut version"]
    assert (first_aka.region, first_aka.language, first_aka.is_original_title) == ("FR", "fr", False)
    assert TitleAka.objects.get(ordering=2).region == "" and TitleAka.objects.get(ordering=2).is_original_title
    crew = sorted(Crew.objects.values_list("title_id", "person_id", "role", "ordering"))
    assert crew == [
        ("tt0000001", "nm0000003", "director", 0),
        ("tt0000002", "nm0000001", "director", 0),
        ("tt0000002", "nm0000001", "writer", 0),
        ("tt0000002", "nm0000002", "director", 1),
    ]
    fred = Person.objects.get(nconst="nm0000001")
    assert fred.primary_name == 'Fred "The Feet" Astaire'
    assert (fred.primary_profession, fred.known_for_titles) == (["actor", "miscellaneous"], ["tt0000001", "tt0000002"])
    assert Person.objects.get(nconst="nm0000002").primary_name == ""
    assert sorted(TitleRating.objects.values_list("title_id", "average_rating", "num_votes")) == [
        ("tt0000001", Decimal("7.5"), 12),
        ("tt0000002", Decimal("10.0"), 3),
    ]


def test_bad_files_fail_alone_with_a_clear_message(tmp_path):
    write_file(tmp_path, "name.basics", ["nm0000001\tFred Astaire\t1899\t1987\tactor\t\\N"])
    (tmp_path / "title.basics.tsv").write_text("tconst\ttitleType\tprimaryTitle\n")  # wrong header
    (tmp_path / "title.ratings.tsv.gz").write_bytes(b"not gzip at all")

    run = run_import(tmp_path)

    assert run.status == ImportRun.Status.PARTIAL
    assert run.counts["name.basics"]["loaded"] == 1 and Person.objects.count() == 1
    assert run.counts["title.basics"]["error"] == (
        "title.basics.tsv: the header is 'tconst titleType primaryTitle', expected "
        "'tconst titleType primaryTitle originalTitle isAdult startYear endYear runtimeMinutes genres' for title.basics"
    )
    assert "title.ratings.tsv.gz: cannot be read" in run.counts["title.ratings"]["error"]
    assert "title.basics" in run.error and "title.ratings" in run.error

    missing = run_import(tmp_path, ["title.episode", "name.basics"])
    assert missing.status == ImportRun.Status.PARTIAL
    assert missing.counts["title.episode"]["error"] == f"title.episode.tsv.gz (or .tsv) not found in {tmp_path}"
    assert missing.counts["name.basics"]["error"] == ""


def test_import_runs_are_validated_before_anything_is_written(tmp_path):
    with pytest.raises(ValidationError, match="is not a directory"):
        import_run_create(source=str(tmp_path / "nowhere"))
    with pytest.raises(ValidationError, match="holds none of the IMDb files"):
        import_run_create(source=str(tmp_path))
    with pytest.raises(ValidationError, match="unknown IMDb file"):
        import_run_create(source=str(tmp_path), files=["title.basic"])
    write_file(tmp_path, "name.basics", [])
    with pytest.raises(ValidationError, match="holds none of the IMDb files"):
        import_run_create(source=str(tmp_path), files=["title.episode"])
    assert not ImportRun.objects.exists()


def test_bundled_sample_loads_completely_and_is_small():
    run = run_import(SAMPLE_DIR)

    assert run.status == ImportRun.Status.SUCCEEDED, run.error
    for name, result in run.counts.items():
        assert result["lines"] == len(sample_lines(name)) == result["loaded"], name
    assert Title.objects.filter(title_type="movie", num_votes__gt=0).count() >= 4000
    assert Principal.objects.exists() and Crew.objects.exists() and TitleAka.objects.exists()
    assert sum(path.stat().st_size for path in SAMPLE_DIR.glob("*.tsv.gz")) <= 5 * 1024 * 1024
    assert "non-commercial" in (SAMPLE_DIR / "README.md").read_text()


def test_database_failure_midway_through_the_writes_rolls_the_file_back(tmp_path):
    old_dir, new_dir = tmp_path / "old", tmp_path / "new"
    old_dir.mkdir(), new_dir.mkdir()
    basics = sample_lines("title.basics")
    _write_sample(old_dir, "title.basics", basics)
    run_import(old_dir)
    renamed = [
        "\t".join([fields[0], fields[1], fields[2] + " (changed)", *fields[3:]]) for fields in map(split, basics)
    ]
    last = split(basics[-1])[0]
    _write_sample(new_dir, "title.basics", renamed[1:] + ["tt9999991\tmovie\tNew\tNew\t0\t2030\t\\N\t95\tDrama"])
    _write_sample(new_dir, "title.ratings", [])
    before = snapshot()
    # A fault inside Postgres while the file's rows are being written: the new title is
    # already inserted, renames are under way, and the update of one title raises.
    with connection.cursor() as cursor:
        cursor.execute(
            "CREATE FUNCTION pg_temp.fail_import() RETURNS trigger LANGUAGE plpgsql AS "
            "$$ BEGIN RAISE EXCEPTION 'injected failure'; END $$"
        )
        cursor.execute(
            "CREATE TRIGGER fail_import BEFORE UPDATE ON catalog_title FOR EACH ROW "
            f"WHEN (NEW.tconst = '{last}') EXECUTE FUNCTION pg_temp.fail_import()"
        )

    run = run_import(new_dir)

    assert run.status == ImportRun.Status.PARTIAL
    assert "injected failure" in run.counts["title.basics"]["error"]
    assert run.counts["title.ratings"]["error"] == ""
    after = snapshot()
    assert after["Title"] == before["Title"]  # no rename, no new title, nothing flagged removed
    assert after["TitleRating"] == []
