"""``import_movielens --download``: a real HTTP server on localhost serving a zip built here from the
hand-written tiny release (tests/fixtures/movielens-tiny), never GroupLens' data."""

import hashlib
import http.server
import threading
import zipfile
from decimal import Decimal
from pathlib import Path

import pytest
from django.core.exceptions import ValidationError
from django.core.management import CommandError, call_command

from accounts.models import User
from catalog.models import Title
from ratings.models import Rating
from ratings.movielens_download import MOVIELENS_TERMS, MovieLensUnavailable, movielens_download

TINY = Path(__file__).resolve().parents[1] / "fixtures" / "movielens-tiny"


class Site:
    """Files served from a folder by a real HTTP server on a free port; counts the requests."""

    def __init__(self, folder: Path):
        self.folder = folder
        self.requests: list[str] = []
        site = self

        class Handler(http.server.SimpleHTTPRequestHandler):
            def __init__(self, *args, **kwargs):
                super().__init__(*args, directory=str(folder), **kwargs)

            def do_GET(self):  # noqa: N802 (http.server's name)
                site.requests.append(self.path)
                super().do_GET()

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()
        self.url = f"http://127.0.0.1:{self.server.server_port}/ml-latest-small.zip"

    def close(self):
        self.server.shutdown()
        self.server.server_close()


def release_zip(folder: Path, *, md5: str | None = None, files=("ratings.csv", "links.csv")) -> str:
    """ml-latest-small.zip (files under ml-latest-small/, as GroupLens lays them out) and its .md5."""
    folder.mkdir(parents=True, exist_ok=True)
    archive = folder / "ml-latest-small.zip"
    with zipfile.ZipFile(archive, "w") as release:
        for name in files:
            release.write(TINY / name, f"ml-latest-small/{name}")
        release.writestr("ml-latest-small/README.txt", "Test release, not GroupLens data.\n")
        release.writestr("../escape.txt", "a path outside the folder must never be written\n")
    actual = hashlib.md5(archive.read_bytes(), usedforsecurity=False).hexdigest()
    (folder / "ml-latest-small.zip.md5").write_text(f"{md5 or actual}  ml-latest-small.zip\n")
    return actual


@pytest.fixture
def site(tmp_path):
    (tmp_path / "served").mkdir()
    served = Site(tmp_path / "served")
    yield served
    served.close()


def test_download_verifies_extracts_and_then_uses_the_cache(site, tmp_path):
    md5 = release_zip(site.folder)
    cache = tmp_path / "cache"
    report = movielens_download(url=site.url, cache_dir=cache)
    assert report.downloaded and report.md5 == md5
    assert sorted(path.name for path in report.directory.iterdir()) == [
        ".md5",
        "README.txt",
        "links.csv",
        "ratings.csv",
    ]
    assert (report.directory / "ratings.csv").read_bytes() == (TINY / "ratings.csv").read_bytes()
    assert not (tmp_path / "escape.txt").exists() and not (cache / "escape.txt").exists()
    assert [path.name for path in cache.iterdir()] == ["ml-latest-small"]  # no temporary left behind

    site.requests.clear()
    again = movielens_download(url=site.url, cache_dir=cache)
    assert not again.downloaded and again.directory == report.directory
    assert site.requests == ["/ml-latest-small.zip.md5"]  # the checksum only, not the zip

    # Offline later: the verified cached copy is still used.
    site.close()
    offline = movielens_download(url=site.url, cache_dir=cache, timeout=2)
    assert not offline.downloaded and offline.md5 == md5


def test_a_checksum_mismatch_keeps_nothing(site, tmp_path):
    release_zip(site.folder, md5="0" * 32)
    cache = tmp_path / "cache"
    with pytest.raises(ValidationError, match="MD5") as caught:
        movielens_download(url=site.url, cache_dir=cache)
    assert not isinstance(caught.value, MovieLensUnavailable)
    assert list(cache.iterdir()) == []  # neither the zip nor anything extracted


def test_a_zip_without_the_release_files_is_refused(site, tmp_path):
    release_zip(site.folder, files=("links.csv",))
    with pytest.raises(ValidationError, match="ratings.csv"):
        movielens_download(url=site.url, cache_dir=tmp_path / "cache")
    assert list((tmp_path / "cache").iterdir()) == []


def test_no_network_is_reported_as_unavailable(site, tmp_path):
    missing = site.url.replace("ml-latest-small", "not-there")
    with pytest.raises(MovieLensUnavailable, match="404"):
        movielens_download(url=missing, cache_dir=tmp_path / "cache")
    site.close()
    with pytest.raises(MovieLensUnavailable, match="cannot be reached"):
        movielens_download(url=site.url, cache_dir=tmp_path / "cache", timeout=2)
    with pytest.raises(ValidationError, match="zip"):
        movielens_download(url="file:///etc/passwd", cache_dir=tmp_path / "cache")


@pytest.mark.django_db
def test_the_command_downloads_shows_the_terms_and_imports(site, tmp_path, capsys):
    release_zip(site.folder)
    Title.objects.bulk_create(
        Title(tconst=tconst, title_type="movie", primary_title=tconst, average_rating=Decimal("8.0"), num_votes=1000)
        for tconst in ["tt0034583", "tt0038650", "tt0047478", "tt10872600", "tt0033467"]
    )
    call_command("import_movielens", "--download", "--url", site.url, "--cache-dir", str(tmp_path / "cache"))
    out = capsys.readouterr().out
    assert "MD5" in out and "verified" in out
    assert MOVIELENS_TERMS.splitlines()[1] in out
    assert User.objects.filter(kind=User.Kind.MOVIELENS).count() == 4
    assert Rating.objects.filter(user__kind=User.Kind.MOVIELENS).count() == 12

    site.close()
    with pytest.raises(CommandError, match="Give either"):
        call_command("import_movielens")
    with pytest.raises(CommandError, match="MovieLens not downloaded") as caught:
        call_command("import_movielens", "--download", "--url", site.url, "--cache-dir", str(tmp_path / "other"))
    assert caught.value.returncode == 2
