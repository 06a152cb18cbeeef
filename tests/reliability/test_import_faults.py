"""Bad input files and a full disk during an import: a clear error naming the file and the
problem, and the data that was there before stays intact and served.

Unreadable files run in ``make test`` (small, in-process). The full disks are real: a tmpfs of a
few megabytes mounted for the test, holding either a Postgres tablespace (the database's disk
fills up during the COPY) or the download directory (the worker's disk fills up while fetching).
"""

from __future__ import annotations

import gzip
import http.server
import os
import shutil
import subprocess
import tempfile
import threading
from pathlib import Path

import pytest
from django.contrib.messages import get_messages
from django.test import Client

from catalog.models import ImportRun, Title, TitleRating
from catalog.services import import_run_create, import_run_execute
from tests.factories import make_title
from tests.helpers import wait_for
from tests.reliability.conftest import SAMPLE_DIR, STAFF
from tests.reliability.http import Browser
from tests.reliability.procs import ROOT

SAMPLE = ROOT / SAMPLE_DIR


@pytest.fixture
def existing_catalog(transactional_db):
    """What the site served before the import: a title with its rating."""
    title = make_title("tt0960001", primary_title="Was Here Before", average_rating=7.5, num_votes=1234)
    TitleRating.objects.create(title=title, average_rating=7.5, num_votes=1234)
    return title


def _good_ratings(directory: Path) -> None:
    shutil.copy(SAMPLE / "title.ratings.tsv.gz", directory / "title.ratings.tsv.gz")


def _truncated(directory: Path) -> str:
    data = (SAMPLE / "title.basics.tsv.gz").read_bytes()
    (directory / "title.basics.tsv.gz").write_bytes(data[: len(data) // 2])
    return "title.basics.tsv.gz"


def _not_gzip(directory: Path) -> str:
    (directory / "title.basics.tsv.gz").write_bytes(b"this is not gzip at all\n" * 100)
    return "title.basics.tsv.gz"


def _binary(directory: Path) -> str:
    with gzip.open(directory / "title.basics.tsv.gz", "wb") as output:
        output.write(bytes(range(256)) * 400)
    return "title.basics.tsv.gz"


def _directory(directory: Path) -> str:
    (directory / "title.basics.tsv.gz").mkdir()
    return "title.basics.tsv.gz"


def _dangling_link(directory: Path) -> str:
    (directory / "title.basics.tsv.gz").symlink_to(directory / "gone-away.tsv.gz")
    return "title.basics.tsv.gz"


def _unreadable(directory: Path) -> str:
    path = directory / "title.basics.tsv.gz"
    shutil.copy(SAMPLE / "title.basics.tsv.gz", path)
    path.chmod(0)
    return "title.basics.tsv.gz"


@pytest.mark.parametrize(
    "damage",
    [_truncated, _not_gzip, _binary, _directory, _dangling_link, _unreadable],
    ids=["truncated-gzip", "not-gzip", "binary", "a-directory", "dangling-link", "no-permission"],
)
def test_an_unreadable_file_is_reported_and_the_old_data_stays(existing_catalog, tmp_path, damage):
    if damage is _unreadable and os.geteuid() == 0:
        pytest.skip("root reads files whatever their mode; run as a normal user to test permissions")
    _good_ratings(tmp_path)
    name = damage(tmp_path)
    titles_before = Title.objects.count()
    files = ["title.basics", "title.ratings"]
    try:
        run = import_run_create(source=str(tmp_path), files=files)
    except Exception as error:  # refused up front is fine too, if it says why
        assert name.split(".tsv")[0] in str(error) or "title.basics" in str(error), error
        return
    run = import_run_execute(run_id=run.pk)
    assert run.status in (ImportRun.Status.PARTIAL, ImportRun.Status.FAILED), run.status
    error = run.counts["title.basics"]["error"]
    assert error and "title.basics" in error, run.counts
    assert "Traceback" not in error and len(error) < 1000  # a message, not a dump
    # The good file went in; the bad one changed nothing.
    assert not run.counts["title.ratings"]["error"]
    assert TitleRating.objects.count() > 4000
    assert Title.objects.count() == titles_before
    assert Title.objects.get(tconst="tt0960001").primary_title == "Was Here Before"
    assert Client().get("/titles/tt0960001/").status_code == 200
    print(f"{damage.__name__[1:]}: {error}")


# --- full disks -------------------------------------------------------------------------------


class Tmpfs:
    """A tmpfs of ``size`` mounted on a temporary directory (needs root)."""

    def __init__(self, size: str, owner: str | None = None):
        self.path = Path(tempfile.mkdtemp(prefix="imdbrec-full-"))
        result = subprocess.run(
            ["mount", "-t", "tmpfs", "-o", f"size={size},mode=0755", "tmpfs", str(self.path)],
            capture_output=True,
            text=True,
        )
        if result.returncode:
            self.path.rmdir()
            pytest.skip(f"cannot mount a tmpfs to fill up ({result.stderr.strip()}); needs root")
        if owner:
            shutil.chown(self.path, owner, owner)

    def close(self) -> None:
        subprocess.run(["umount", "-l", str(self.path)], capture_output=True)
        self.path.rmdir()


@pytest.mark.reliability
@pytest.mark.shared_data
def test_database_disk_full_during_an_import(
    private_postgres, private_database, private_redis, site_factory, shared_data
):
    """The akas table lives on a 2 MB disk: loading 50,000 akas fills it in the middle of the COPY."""
    database = private_database.rsplit("/", 1)[1]
    disk = Tmpfs("2m", owner="postgres")
    try:
        (disk.path / "tablespace").mkdir()
        shutil.chown(disk.path / "tablespace", "postgres", "postgres")
        private_postgres.psql(f"CREATE TABLESPACE tiny_{database} LOCATION '{disk.path / 'tablespace'}'")
        private_postgres.psql(f"ALTER TABLE catalog_titleaka SET TABLESPACE tiny_{database}", database=database)
        akas_before = private_postgres.psql(
            "SELECT count(*) || ':' || sum(hashtext(aka_title)) FROM catalog_titleaka", database=database
        )
        site = site_factory(private_database, private_redis.url(0))
        site.create_users()
        server = site.gunicorn(workers=1, threads=2)
        site.worker(queues="default")
        staff = Browser(server.url, timeout=30)
        staff.login(*STAFF)
        response = staff.post(
            "/system/catalog/import/",
            {
                "source": "directory",
                "directory": str(shared_data / "imdb-sample"),
                "files": ["title.akas", "title.ratings"],
            },
        )
        assert response.status == 302
        run_id = private_postgres.psql("SELECT max(id) FROM catalog_importrun", database=database)
        wait_for(
            lambda: (
                private_postgres.psql(f"SELECT status FROM catalog_importrun WHERE id = {run_id}", database=database)
                in ("succeeded", "partial", "failed")
            ),
            timeout=300,
            what="import finished",
        )
        status, error = private_postgres.psql(
            f"SELECT status, error FROM catalog_importrun WHERE id = {run_id}", database=database
        ).split("|", 1)
        assert status == "partial", (status, error)
        assert "title.akas" in error and "No space left on device" in error, error
        # The akas are exactly the ones from before (the failed file rolled back); ratings went in.
        assert (
            private_postgres.psql(
                "SELECT count(*) || ':' || sum(hashtext(aka_title)) FROM catalog_titleaka", database=database
            )
            == akas_before
        )
        assert int(private_postgres.psql("SELECT count(*) FROM catalog_titlerating", database=database)) >= 50_000
        # The system page shows the error; title pages keep serving the old akas.
        system = staff.get("/system/")
        assert system.status == 200 and "No space left on device" in system.body
        tconst = private_postgres.psql("SELECT title_id FROM catalog_titleaka LIMIT 1", database=database)
        assert staff.get(f"/titles/{tconst}/").status == 200
        print(f"database disk full: run {status}: {error.strip()[:200]}")
    finally:
        private_postgres.psql(f"DROP DATABASE IF EXISTS {database} WITH (FORCE)")
        private_postgres.psql(f"DROP TABLESPACE IF EXISTS tiny_{database}")
        disk.close()


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


@pytest.mark.reliability
@pytest.mark.shared_data
def test_download_disk_full_during_an_import(existing_catalog, shared_data, settings):
    """IMDB_DATA_DIR is a 512 kB disk; the 1 MB title.basics download fills it."""
    disk = Tmpfs("512k")
    handler = lambda *args, **kwargs: _QuietHandler(*args, directory=str(shared_data / "imdb-sample"), **kwargs)  # noqa: E731
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        settings.IMDB_DATA_DIR = str(disk.path)
        titles_before = Title.objects.count()
        run = import_run_create(source=f"http://127.0.0.1:{server.server_port}/", files=["title.basics"])
        run = import_run_execute(run_id=run.pk, download_dir=disk.path)
        assert run.status == ImportRun.Status.FAILED
        assert "No space left on device" in run.error and "title.basics" in run.error, run.error
        assert Title.objects.count() == titles_before
        assert not any(path.name == "title.basics.tsv.gz" for path in disk.path.iterdir()), (
            "a partial file under the final name"
        )
        print(f"download disk full: {run.error}")
    finally:
        server.shutdown()
        disk.close()


def test_import_start_refusals_are_messages_not_errors(transactional_db, staff_user, tmp_path):
    client = Client()
    client.force_login(staff_user)
    for data in (
        {"source": "directory", "directory": "/does/not/exist"},
        {"source": "directory", "directory": str(tmp_path)},
        {"source": "directory", "directory": "../../etc"},
        {"source": "directory", "directory": str(SAMPLE), "files": ["title.secrets"]},
        {"source": "nonsense"},
    ):
        response = client.post("/system/catalog/import/", data)
        assert response.status_code == 302
        shown = " ".join(str(message) for message in get_messages(response.wsgi_request))
        assert "Import not started" in shown, (data, shown)
    assert not ImportRun.objects.exists()
