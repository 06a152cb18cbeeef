"""Delta refresh: a newer dump read side by side with the file imported last gives the same tables
as comparing the whole file, and falls back to that whenever the shortcut cannot be trusted."""

import gzip
from pathlib import Path

import pytest
from django.conf import settings

from catalog.models import ImportReject, ImportRun
from tests.catalog.importing_helpers import CATALOG_MODELS, HEADERS, run_import, sample_lines, split, write_file

pytestmark = pytest.mark.django_db

NAMES = ("name.basics", "title.ratings", "title.basics", "title.akas", "title.crew", "title.principals")
# title.akas is always compared in full (catalog.services.DELTA_WHOLE_FILE: its name_first flag)
DELTA_NAMES = tuple(name for name in NAMES if name != "title.akas")
BIG_TITLE = "tt" + "9" * 10  # after every id of the sample, in IMDb's (numeric) order
BIG_NAME = "nm" + "9" * 10


def _kept(name: str) -> Path:
    return Path(settings.IMDB_LAST_IMPORTED_DIR) / f"{name}.tsv.gz"


def _tables() -> dict:
    """The catalog tables with removed_at as a flag (its time differs from run to run)."""
    tables = {}
    for model in CATALOG_MODELS:
        names = [f.attname for f in model._meta.concrete_fields if f.attname != "id"]
        tables[model.__name__] = sorted(
            tuple(
                str(value) if name != "removed_at" else value is not None
                for name, value in zip(names, row, strict=True)
            )
            for row in model.objects.values_list(*names)
        )
    return tables


def _changed_dump() -> dict[str, list[str]]:
    """Every file with a line changed, one gone and one added; crew loses one of two people."""
    dump = {}
    for name in NAMES:
        lines = [line.decode() for line in sample_lines(name)]
        fields = lines[0].split("\t")
        if name == "title.crew":
            several = next(i for i, line in enumerate(lines) if "," in line.split("\t")[1])
            crew = lines[several].split("\t")
            crew[1] = crew[1].split(",")[0]  # a director dropped from a changed line
            lines[several] = "\t".join(crew)
            lines[0] = "\t".join([fields[0], fields[1], "nm0000001"])
            lines.append(f"{BIG_TITLE}\tnm0000001,nm0000002\t\\N")
        elif name == "name.basics":
            lines[0] = "\t".join([fields[0], fields[1] + " Jr.", *fields[2:]])
            lines.append(f"{BIG_NAME}\tSomeone New\t1990\t\\N\tactor\t\\N")
        elif name == "title.ratings":
            lines[0] = "\t".join([fields[0], fields[1], str(int(fields[2]) + 7)])
            lines.append(f"{BIG_TITLE}\t8.1\t12")
        elif name == "title.basics":
            lines[0] = "\t".join([fields[0], fields[1], fields[2] + " (restored)", *fields[3:]])
            lines.append(f"{BIG_TITLE}\tmovie\tNew\tNew\t0\t2030\t\\N\t95\tDrama")
        elif name == "title.akas":
            lines[0] = "\t".join([fields[0], fields[1], fields[2] + " (aka)", *fields[3:]])
            lines.append(f"{BIG_TITLE}\t1\tNew\tUS\t\\N\t\\N\t\\N\t0")
        else:  # title.principals
            lines[0] = "\t".join([*fields[:5], '["Someone Else"]'])
            lines.append(f'{BIG_TITLE}\t1\tnm0000001\tactor\t\\N\t["Lead"]')
        del lines[len(lines) // 2]  # a line gone
        dump[name] = lines
    return dump


def _write(directory: Path, dump: dict) -> Path:
    directory.mkdir()
    for name, lines in dump.items():
        write_file(directory, name, lines, gz=True)
    return directory


COUNTS = ("lines", "loaded", "rejected", "inserted", "updated", "removed")


def test_delta_refresh_gives_the_same_tables_as_a_full_one(tmp_path):
    old = _write(tmp_path / "old", {name: [line.decode() for line in sample_lines(name)] for name in NAMES})
    new = _write(tmp_path / "new", _changed_dump())
    assert run_import(old).status == ImportRun.Status.SUCCEEDED
    assert _kept("title.crew").is_file()

    delta = run_import(new, chunk_bytes=4096)

    assert delta.status == ImportRun.Status.SUCCEEDED, delta.error
    assert delta.counts["title.akas"]["refresh"].startswith("full: an aka's name_first flag")
    for name in DELTA_NAMES:
        assert delta.counts[name]["mode"] == "delta update", name
        assert delta.counts[name]["refresh"] == "delta"
        assert delta.counts[name]["phases"]["delta"] == {
            "changed_lines": 2 if name == "title.crew" else 1,  # noqa
            "added_lines": 1,
            "gone_lines": 1,
        }
    after_delta = _tables()
    # back and forth again (the added rows now exist, flagged removed), then the full comparison
    assert run_import(old).counts["title.crew"]["refresh"] == "delta"
    again = run_import(new)
    assert _tables() == after_delta
    assert run_import(old).status == ImportRun.Status.SUCCEEDED
    for name in NAMES:
        _kept(name).unlink()
    full = run_import(new, chunk_bytes=4096)

    assert full.status == ImportRun.Status.SUCCEEDED
    for name in DELTA_NAMES:
        assert again.counts[name]["mode"] == "delta update"
        assert full.counts[name]["mode"] == "update"
        assert full.counts[name]["refresh"] == "full: no kept copy of the file imported last"
        assert {key: again.counts[name][key] for key in COUNTS} == {key: full.counts[name][key] for key in COUNTS}, name
    assert _tables() == after_delta
    assert delta.counts["title.crew"]["removed"] >= 2  # a dropped director and a gone title's crew
    assert delta.counts["title.basics"]["inserted"] == 1


def test_delta_falls_back_when_the_kept_file_is_not_the_last_import(tmp_path):
    old = _write(tmp_path / "old", {"title.basics": [line.decode() for line in sample_lines("title.basics")]})
    new = _write(tmp_path / "new", {"title.basics": _changed_dump()["title.basics"]})
    run_import(old)
    _kept("title.basics").unlink()  # a hard link to the old file: replaced, not rewritten
    _kept("title.basics").write_bytes(gzip.compress(b"something else\n"))

    run = run_import(new)

    assert run.counts["title.basics"]["refresh"].startswith("full: the kept file is not the one imported last")
    assert run.counts["title.basics"]["mode"] == "update"
    assert run.counts["title.basics"]["updated"] == 1
    # the new file is kept now, with its checksum: the next refresh is a delta again
    assert _kept("title.basics").read_bytes() == (new / "title.basics.tsv.gz").read_bytes()
    assert run_import(old).counts["title.basics"]["refresh"] == "delta"


def test_delta_falls_back_when_a_file_is_out_of_order(tmp_path):
    basics = [line.decode() for line in sample_lines("title.basics")]
    old = _write(tmp_path / "old", {"title.basics": basics})
    new = _write(tmp_path / "new", {"title.basics": [basics[1], basics[0], *basics[3:]]})
    run_import(old)
    full_before = _tables()

    run = run_import(new)

    counts = run.counts["title.basics"]
    assert run.status == ImportRun.Status.SUCCEEDED
    assert counts["refresh"] == "delta"
    assert counts["mode"] == "update"
    assert counts["phases"]["delta_fallback"] == (
        "title.basics.tsv.gz is not sorted by its key at line 3; "
        "title.basics.tsv.gz is not sorted by its key at line 3; compared the whole file"
    )
    assert counts["removed"] == 1 and counts["lines"] == len(basics) - 1
    assert _tables() != full_before


def test_delta_reports_a_malformed_new_line_with_its_number(tmp_path):
    basics = [line.decode() for line in sample_lines("title.basics")]
    old = _write(tmp_path / "old", {"title.basics": basics})
    broken = split(basics[10].encode())
    broken[4] = "maybe"
    changed = [*basics[:10], "\t".join(broken), *basics[11:]]
    new = _write(tmp_path / "new", {"title.basics": changed})
    run_import(old)

    run = run_import(new)

    counts = run.counts["title.basics"]
    assert counts["mode"] == "delta update"
    assert (counts["rejected"], counts["removed"], counts["lines"]) == (1, 1, len(basics))
    reject = ImportReject.objects.get(run=run)
    assert (reject.line, reject.reason) == (12, 'isAdult "maybe" is not 0 or 1')  # header is line 1


def test_failed_refresh_keeps_the_previous_kept_file(tmp_path):
    basics = [line.decode() for line in sample_lines("title.basics")]
    old = _write(tmp_path / "old", {"title.basics": basics})
    run_import(old)
    kept_before = _kept("title.basics").read_bytes()
    before = _tables()
    broken = tmp_path / "broken"
    broken.mkdir()
    renamed = ["\t".join([f[0], f[1], f[2] + " (changed)", *f[3:]]) for f in map(split, sample_lines("title.basics"))]
    complete = gzip.compress("\n".join([HEADERS["title.basics"], *renamed, ""]).encode(), mtime=0)
    (broken / "title.basics.tsv.gz").write_bytes(complete[:-2000])

    run = run_import(broken, chunk_bytes=4096)

    assert run.status == ImportRun.Status.FAILED
    assert "truncated or corrupt" in run.counts["title.basics"]["error"]
    assert _kept("title.basics").read_bytes() == kept_before
    assert _tables() == before
    # the failed run recorded no checksum: the next refresh still reads side by side
    assert run_import(_write(tmp_path / "new", {"title.basics": renamed})).counts["title.basics"]["refresh"] == "delta"
