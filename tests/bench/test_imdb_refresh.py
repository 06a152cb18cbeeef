"""bench/imdb_refresh.py: tomorrow's dump from a tiny generated one. Deterministic, still sorted
and readable without a reject, with the shares asked for; and an import of it over the first
dump changes, adds and flags as removed exactly the rows the refresh says it made."""

from __future__ import annotations

import gzip
import json
import subprocess
import sys
from pathlib import Path

import pytest

from catalog.importing.datasets import DATASETS, DATASETS_BY_NAME
from catalog.importing.loader import check_file
from catalog.models import Crew, ImportRun, Principal, Title, TitleAka, TitleRating
from tests.catalog.importing_helpers import SAMPLE_DIR, run_import

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "bench"))
from imdbgen.refresh import Shares, crew_rows, refresh_file  # noqa: E402

GENERATOR = ROOT / "bench" / "imdb_generate.py"
REFRESH = ROOT / "bench" / "imdb_refresh.py"
NAMES = [dataset.name for dataset in DATASETS]
# Big shares, so that even the tiny files get every kind of change many times over.
SHARES = ["--changed", "0.1", "--added", "0.05", "--gone", "0.02"]


def data_lines(path: Path) -> list[bytes]:
    with gzip.open(path, "rb") as stream:
        return stream.read().split(b"\n")[1:-1]


@pytest.fixture(scope="module")
def dump(tmp_path_factory) -> Path:
    """A tiny generated dump on the bundled sample (no shared data needed)."""
    out = tmp_path_factory.mktemp("imdb-today")
    subprocess.run(
        [sys.executable, str(GENERATOR), "--scale", "0.0002", "--seed", "5", "--out", str(out)]
        + ["--real", str(SAMPLE_DIR)],
        check=True,
        capture_output=True,
        timeout=600,
    )
    return out


def refresh(source: Path, out: Path, *extra: str) -> dict:
    done = subprocess.run(
        [sys.executable, str(REFRESH), "--from", str(source), "--out", str(out), *SHARES, *extra],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return json.loads((out / "refresh-expected.json").read_text())["files"]


@pytest.fixture(scope="module")
def tomorrow(dump, tmp_path_factory) -> tuple[Path, dict]:
    out = tmp_path_factory.mktemp("imdb-tomorrow")
    return out, refresh(dump, out, "--seed", "9", "--jobs", "2")


def test_same_seed_same_bytes_another_seed_differs(dump, tomorrow, tmp_path):
    out, expected = tomorrow
    again = refresh(dump, tmp_path / "again", "--seed", "9")
    assert again == {
        name: {**counts, **{key: again[name][key] for key in ("seconds", "cpu_seconds", "peak_rss_mb")}}
        for name, counts in expected.items()
    }
    for name in NAMES:
        assert (tmp_path / "again" / f"{name}.tsv.gz").read_bytes() == (out / f"{name}.tsv.gz").read_bytes(), name
    refresh(dump, tmp_path / "other", "--seed", "10")
    assert (tmp_path / "other" / "title.basics.tsv.gz").read_bytes() != (out / "title.basics.tsv.gz").read_bytes()


@pytest.mark.parametrize("name", NAMES)
def test_new_dump_is_sorted_readable_and_has_the_shares(dump, tomorrow, name):
    out, expected = tomorrow
    before, after = data_lines(dump / f"{name}.tsv.gz"), data_lines(out / f"{name}.tsv.gz")
    counts = expected[name]
    assert counts["lines_in"] == len(before) and counts["lines_out"] == len(after)

    result, rejects = check_file(dataset=DATASETS_BY_NAME[name], path=out / f"{name}.tsv.gz")
    assert rejects == [] and result.lines == len(after)

    grouped = name in ("title.akas", "title.principals")
    keys = [(int(line.split(b"\t")[0][2:]), int(line.split(b"\t")[1]) if grouped else 0) for line in after]
    old_keys = {(int(line.split(b"\t")[0][2:]), int(line.split(b"\t")[1]) if grouped else 0) for line in before}
    assert len(set(keys)) == len(keys)
    new_keys = set(keys)
    # the lines kept are in their old order; new ones go after their title (akas, principals)
    # or after the last line, with ids above every old one (the other files)
    old_order = [
        key
        for key in ((int(line.split(b"\t")[0][2:]), int(line.split(b"\t")[1]) if grouped else 0) for line in before)
        if key in new_keys
    ]
    assert [key for key in keys if key in old_keys] == old_order
    added = [key for key in keys if key not in old_keys]
    if grouped:
        titles = [key[0] for key in keys]
        starts = [title for index, title in enumerate(titles) if index == 0 or titles[index - 1] != title]
        assert len(starts) == len(set(starts))  # each title's lines are together
    else:
        assert added == sorted(added) and added[0][0] > max(key[0] for key in old_keys)
    new_lines = sum(key not in old_keys for key in keys)
    gone_lines = sum(key not in new_keys for key in old_keys)
    assert len(after) == len(before) - gone_lines + new_lines
    changed_lines = len(set(before) - set(after)) - gone_lines
    # the shares asked for (10 %, 5 %, 2 %), within what chance gives a file of a few thousand lines
    assert 0.02 * len(before) < new_lines < 0.09 * len(before), (name, new_lines)
    assert 0.005 * len(before) < gone_lines < 0.04 * len(before), (name, gone_lines)
    if name != "title.crew":  # crew changes only lines with two people or more
        assert 0.06 * len(before) < changed_lines < 0.14 * len(before), (name, changed_lines)
        # plus, for akas, the unchanged rows whose name_first flag flips (checked against the rows below)
        assert counts["updated"] - counts["name_first_flips"] == changed_lines
        assert counts["inserted"] == new_lines and counts["removed"] == gone_lines
    else:
        assert changed_lines > 0 and counts["updated"] >= changed_lines


def test_crew_rows_follow_the_importer():
    line = b"tt0000001\tnm0000001,nm0000002,nm0000001\tnm0000003"
    assert crew_rows(line) == {
        (b"nm0000001", b"director"): 0,
        (b"nm0000002", b"director"): 1,
        (b"nm0000003", b"writer"): 0,
    }
    assert crew_rows(b"tt0000002\t\\N\t\\N") == {}


def test_bad_shares_and_unknown_files_are_refused(tmp_path):
    with pytest.raises(ValueError, match="between 0 and 1"):
        Shares(changed=1.5)
    with pytest.raises(ValueError, match="unknown IMDb file"):
        refresh_file(name="title.nothing", source=tmp_path / "x.tsv.gz", target=tmp_path / "y.tsv.gz", seed=1)
    done = subprocess.run(
        [sys.executable, str(REFRESH), "--from", str(tmp_path), "--out", str(tmp_path / "out")],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode != 0 and "holds none of the IMDb files" in done.stderr


def _akas() -> dict:
    """{(title, ordering): (the row's fields from the file and removed_at, its name_first flag)}."""
    fields = [column for column in DATASETS_BY_NAME["title.akas"].columns if column != "name_first"]
    return {
        (row[0], row[1]): (row[2:-1], row[-1])
        for row in TitleAka.objects.values_list(*fields, "removed_at", "name_first")
    }


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_import_of_the_refresh_changes_exactly_the_rows_it_made(dump, tomorrow):
    out, expected = tomorrow
    first = run_import(dump)
    assert first.status == ImportRun.Status.SUCCEEDED, first.error
    titles_before = {title.tconst: title.runtime_minutes for title in Title.objects.all()}
    ratings_before = dict(TitleRating.objects.values_list("title_id", "num_votes"))

    akas_before = _akas()

    second = run_import(out)

    assert second.status == ImportRun.Status.SUCCEEDED, second.error
    # An aka whose earlier namesake changed or went now carries the title's name in the search
    # indexes (its name_first flag flips: migration 0011): the refresh counts those updates too,
    # and they are the flips the rows themselves show.
    akas_after = _akas()
    flips = sum(
        1
        for key, (fields, first) in akas_before.items()
        if key in akas_after and akas_after[key][0] == fields and akas_after[key][1] != first
    )
    assert flips == expected["title.akas"]["name_first_flips"] > 0
    for name, counts in expected.items():
        got = second.counts[name]
        assert (got["inserted"], got["updated"], got["removed"], got["rejected"]) == (
            counts["inserted"],
            counts["updated"],
            counts["removed"],
            0,
        ), name
    # and they are the rows the new files hold: runtimes and votes moved by one, new ids there
    titles_after = {title.tconst: title.runtime_minutes for title in Title.objects.filter(removed_at=None)}
    changed = [t for t, minutes in titles_after.items() if t in titles_before and titles_before[t] != minutes]
    assert len(changed) == expected["title.basics"]["updated"]
    assert all(titles_after[t] == (titles_before[t] or 89) + 1 for t in changed)
    assert len(set(titles_after) - set(titles_before)) == expected["title.basics"]["inserted"]
    assert Title.objects.exclude(removed_at=None).count() == expected["title.basics"]["removed"]
    ratings_after = dict(TitleRating.objects.filter(removed_at=None).values_list("title_id", "num_votes"))
    moved = [t for t, votes in ratings_after.items() if t in ratings_before and ratings_before[t] != votes]
    assert all(ratings_after[t] == ratings_before[t] + 1 for t in moved)
    assert len(moved) == expected["title.ratings"]["updated"]
    assert (
        TitleAka.objects.filter(aka_title__endswith=" (refreshed)", removed_at=None).count()
        >= expected["title.akas"]["updated"] - flips
    )
    assert Principal.objects.exclude(removed_at=None).count() == expected["title.principals"]["removed"]
    assert Crew.objects.exclude(removed_at=None).count() == expected["title.crew"]["removed"]
