"""The import_imdb management command: the path `make demo` takes."""

import io

import pytest
from django.core.management import CommandError, call_command

from catalog.models import ImportRun, Title
from tests.catalog.importing_helpers import SAMPLE_DIR, write_file

pytestmark = pytest.mark.django_db


def _call(*args):
    out, err = io.StringIO(), io.StringIO()
    call_command("import_imdb", *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def test_sample_import_reports_each_file_and_is_idempotent():
    out, _err = _call("--dir", str(SAMPLE_DIR))

    assert (
        "title.basics.tsv.gz: first load, 4,541 lines: 4,541 loaded (4,541 new, 0 changed, 0 removed), 0 rejected"
        in out
    )
    assert "import #" in out and "succeeded" in out
    titles = Title.objects.count()

    again, _err = _call("--dir", str(SAMPLE_DIR))

    # the files kept from the first import are the same: read side by side, nothing differs
    assert (
        "title.basics.tsv.gz: delta update, 4,541 lines: 4,541 loaded (0 new, 0 changed, 0 removed), 0 rejected"
        in again
    )
    assert again.count("(0 new, 0 changed, 0 removed)") == 7
    assert Title.objects.count() == titles
    assert ImportRun.objects.filter(status=ImportRun.Status.SUCCEEDED).count() == 2


def test_keep_missing_adds_a_partial_file_without_flagging_the_rest(tmp_path):
    _call("--dir", str(SAMPLE_DIR), "--only", "title.basics")
    write_file(tmp_path, "title.basics", ["tt9999991\tmovie\tA New Film\tA New Film\t0\t2030\t\\N\t95\tDrama"])

    out, _err = _call("--dir", str(tmp_path), "--keep-missing")

    assert "1 loaded (1 new, 0 changed, 0 removed)" in out
    assert not Title.objects.filter(removed_at__isnull=False).exists()
    out, _err = _call("--dir", str(tmp_path))
    assert "(0 new, 0 changed, 4,541 removed)" in out


def test_rejects_are_listed_with_file_line_and_reason(tmp_path):
    write_file(tmp_path, "title.ratings", ["tt0000001\t7.5\t12", "tt0000002\tseven\t3", "tt0000003\t6.0"])

    out, _err = _call("--dir", str(tmp_path))

    assert "title.ratings.tsv: first load, 3 lines: 1 loaded (1 new, 0 changed, 0 removed), 2 rejected" in out
    assert 'title.ratings.tsv:3: averageRating "seven" is not a rating like 7.5' in out
    assert "title.ratings.tsv:4: expected 3 tab-separated columns, found 2" in out


def test_only_and_dry_run(tmp_path):
    write_file(tmp_path, "title.ratings", ["tt0000001\t7.5\t12", "tt0000002\tbad\t3"])
    write_file(tmp_path, "name.basics", ["nm0000001\tFred Astaire\t1899\t1987\tactor\t\\N"])

    out, _err = _call("--dir", str(tmp_path), "--dry-run")

    assert "title.ratings.tsv: 2 lines, 1 good, 1 rejected (dry run, nothing written)" in out
    assert 'title.ratings.tsv:3: averageRating "bad" is not a rating like 7.5' in out
    assert "name.basics.tsv: 1 lines, 1 good, 0 rejected" in out
    assert not ImportRun.objects.exists() and not Title.objects.exists()

    out, _err = _call("--dir", str(tmp_path), "--only", "name.basics", "-v", "0")
    assert out == ""
    assert list(ImportRun.objects.get().counts) == ["name.basics"]


def test_failures_make_the_command_fail(tmp_path):
    with pytest.raises(CommandError, match="--dir DIR, or --download"):
        _call()
    with pytest.raises(CommandError, match="is not a directory"):
        _call("--dir", str(tmp_path / "missing"))
    with pytest.raises(CommandError, match="unknown IMDb file"):
        _call("--dir", str(tmp_path), "--only", "title.everything")
    (tmp_path / "title.basics.tsv").write_text("not\tthe\theader\n")
    write_file(tmp_path, "name.basics", ["nm0000001\tFred Astaire\t1899\t1987\tactor\t\\N"])
    with pytest.raises(CommandError, match="finished with failed files:\ntitle.basics: title.basics.tsv: the header"):
        _call("--dir", str(tmp_path))
