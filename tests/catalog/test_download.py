"""Downloading IMDb's files, against a real local HTTP server that serves the sample files."""

import http.server
import io
import shutil
import threading
from pathlib import Path

import pytest
from django.core.management import call_command

from catalog.importing.download import DownloadError, dataset_files_download, download_file
from catalog.models import ImportRun, Title
from tests.catalog.importing_helpers import SAMPLE_DIR

PORTS = range(8100, 8200)  # the ports this project's tests may use


class RangeHandler(http.server.SimpleHTTPRequestHandler):
    """Static files with HTTP Range support (http.server has none), and a switch to cut bodies short."""

    def log_message(self, *args):
        pass

    def do_HEAD(self):
        self._serve(body=False)

    def do_GET(self):
        self._serve(body=True)

    def _serve(self, body):
        server = self.server
        server.requests.append((self.command, self.path, self.headers.get("Range")))
        path = Path(self.translate_path(self.path))
        if not path.is_file():
            self.send_error(404)
            return
        data = path.read_bytes()
        start = 0
        status = 200
        header = self.headers.get("Range")
        if header and server.ranges:
            start = int(header.removeprefix("bytes=").split("-")[0])
            if start >= len(data):
                self.send_response(416)
                self.send_header("Content-Range", f"bytes */{len(data)}")
                self.end_headers()
                return
            status = 206
        self.send_response(status)
        self.send_header("Content-Length", str(len(data) - start))
        self.send_header("Last-Modified", self.date_time_string(int(path.stat().st_mtime)))
        self.send_header("ETag", f'"{len(data)}-{int(path.stat().st_mtime)}"')
        if status == 206:
            self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
        self.end_headers()
        if body:
            payload = data[start:]
            if server.cut_after is not None:
                payload = payload[: server.cut_after]
                self.close_connection = True
            self.wfile.write(payload)


@pytest.fixture
def file_server(tmp_path_factory):
    root = tmp_path_factory.mktemp("served")
    for path in SAMPLE_DIR.glob("*.tsv.gz"):
        shutil.copy(path, root / path.name)
    for port in PORTS:
        try:
            server = http.server.ThreadingHTTPServer(
                ("127.0.0.1", port), lambda *args: RangeHandler(*args, directory=str(root))
            )
            break
        except OSError:
            continue
    else:
        pytest.skip("no free port in 8100-8199")
    server.requests = []
    server.ranges = True
    server.cut_after = None
    server.root = root
    server.url = f"http://127.0.0.1:{server.server_address[1]}/"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()
    thread.join(5)


def test_download_fetches_every_file_whole(file_server, tmp_path):
    target = tmp_path / "data"
    names = ["title.basics", "title.ratings", "name.basics"]

    results = dataset_files_download(base_url=file_server.url, directory=target, names=names)

    for name, result in zip(names, results, strict=True):
        assert result.path.read_bytes() == (file_server.root / f"{name}.tsv.gz").read_bytes()
        assert not result.skipped and result.resumed_from == 0
    assert sorted(path.name for path in target.iterdir()) == sorted(f"{name}.tsv.gz" for name in names)

    # a second run finds the files up to date and fetches nothing
    file_server.requests.clear()
    again = dataset_files_download(base_url=file_server.url, directory=target, names=names)
    assert all(result.skipped for result in again)
    assert [method for method, _path, _range in file_server.requests] == ["HEAD"] * 3


def test_interrupted_download_leaves_no_file_and_resumes_with_range(file_server, tmp_path):
    source = (file_server.root / "title.basics.tsv.gz").read_bytes()
    url = file_server.url + "title.basics.tsv.gz"
    destination = tmp_path / "title.basics.tsv.gz"
    file_server.cut_after = 30_000  # the connection drops after 30 kB

    with pytest.raises(DownloadError, match="run the download again to resume"):
        download_file(url, destination)

    assert not destination.exists()  # nothing half-written under the final name
    part = tmp_path / "title.basics.tsv.gz.part"
    assert part.read_bytes() == source[:30_000]

    file_server.cut_after = None
    file_server.requests.clear()
    result = download_file(url, destination)

    assert destination.read_bytes() == source
    assert not part.exists()
    assert result.resumed_from == 30_000 and result.bytes_fetched == len(source) - 30_000
    assert ("GET", "/title.basics.tsv.gz", "bytes=30000-") in file_server.requests


def test_server_without_ranges_restarts_from_zero(file_server, tmp_path):
    source = (file_server.root / "title.ratings.tsv.gz").read_bytes()
    destination = tmp_path / "title.ratings.tsv.gz"
    (tmp_path / "title.ratings.tsv.gz.part").write_bytes(b"stale bytes from another version")
    file_server.ranges = False

    result = download_file(file_server.url + "title.ratings.tsv.gz", destination)

    assert destination.read_bytes() == source and result.resumed_from == 0


def test_missing_remote_file_is_a_clear_error(file_server, tmp_path):
    with pytest.raises(DownloadError, match="answered 404"):
        download_file(file_server.url + "title.nothing.tsv.gz", tmp_path / "x.tsv.gz")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.django_db
def test_command_downloads_then_imports(file_server, tmp_path):
    out = io.StringIO()
    call_command(
        "import_imdb",
        "--download",
        "--base-url",
        file_server.url,
        "--dir",
        str(tmp_path),
        "--only",
        "title.ratings,title.basics",
        stdout=out,
        stderr=io.StringIO(),
    )

    run = ImportRun.objects.get()
    assert run.status == ImportRun.Status.SUCCEEDED and run.source == file_server.url
    assert sorted(path.name for path in tmp_path.iterdir()) == ["title.basics.tsv.gz", "title.ratings.tsv.gz"]
    assert Title.objects.count() == run.counts["title.basics"]["loaded"] > 4000
    assert "title.basics.tsv.gz: first load" in out.getvalue()
