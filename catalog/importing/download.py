"""Fetching IMDb's official files over HTTP: resumable, and never half-written under the final name.

Bytes go to ``NAME.part``; an interrupted download resumes from the end of the part with an
HTTP ``Range`` request (``If-Range`` makes the server start over if the file changed in the
meantime). Only a complete file, its length checked against what the server announced, is
renamed to ``NAME`` in one atomic ``os.replace``. A file already there with the server's length
and date is left alone, so running the download twice fetches nothing the second time.
"""

from __future__ import annotations

import email.utils
import http.client
import os
import re
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from imdbrec.parsing import ascii_int

USER_AGENT = "imdbrec-importer/1.0 (+https://developer.imdb.com/non-commercial-datasets/)"
BLOCK_BYTES = 1 << 20

DownloadProgress = Callable[[str, int, int | None], None]  # (file name, bytes done, bytes total)


class DownloadError(Exception):
    pass


@dataclass
class Downloaded:
    path: Path
    bytes_fetched: int
    resumed_from: int
    skipped: bool


def dataset_url(base_url: str, name: str) -> str:
    return f"{base_url.rstrip('/')}/{name}.tsv.gz"


def _request(url: str, method: str = "GET", headers: dict | None = None) -> urllib.request.Request:
    if not url.startswith(("http://", "https://")):
        raise DownloadError(f"{url}: only http:// and https:// URLs can be downloaded")
    return urllib.request.Request(url, method=method, headers={"User-Agent": USER_AGENT, **(headers or {})})  # noqa: S310


def _remote_info(url: str, timeout: float) -> tuple[int | None, float | None, str]:
    """Length, modification time and validator (ETag or Last-Modified) announced by a HEAD request."""
    try:
        with urllib.request.urlopen(_request(url, "HEAD"), timeout=timeout) as response:  # noqa: S310 - checked scheme
            length = response.headers.get("Content-Length")
            modified = response.headers.get("Last-Modified")
            validator = response.headers.get("ETag") or modified or ""
    except urllib.error.HTTPError as error:
        raise DownloadError(f"{url}: the server answered {error.code} {error.reason}")
    except (urllib.error.URLError, OSError) as error:
        raise DownloadError(f"{url}: cannot connect ({getattr(error, 'reason', error)})")
    mtime = email.utils.parsedate_to_datetime(modified).timestamp() if modified else None
    return ascii_int(length), mtime, validator


def download_file(
    url: str, destination: Path, *, timeout: float = 60, on_progress: DownloadProgress | None = None
) -> Downloaded:
    destination = Path(destination)
    destination.parent.mkdir(parents=True, exist_ok=True)
    part = destination.with_name(destination.name + ".part")
    validator_file = destination.with_name(destination.name + ".part.validator")
    length, mtime, validator = _remote_info(url, timeout)
    if destination.exists() and length is not None and destination.stat().st_size == length:
        if mtime is None or destination.stat().st_mtime >= mtime:
            return Downloaded(destination, 0, 0, skipped=True)

    offset = part.stat().st_size if part.exists() else 0
    if offset and validator_file.exists() and validator and validator_file.read_text() != validator:
        offset = 0  # the part belongs to another version of the file
    headers = {}
    if offset:
        headers["Range"] = f"bytes={offset}-"
        if validator:
            headers["If-Range"] = validator
    try:
        response = urllib.request.urlopen(_request(url, headers=headers), timeout=timeout)  # noqa: S310
    except urllib.error.HTTPError as error:
        if error.code == 416 and offset and length is not None and offset == length:
            response = None  # the part is already complete
        else:
            raise DownloadError(f"{url}: the server answered {error.code} {error.reason}")
    except (urllib.error.URLError, OSError) as error:
        raise DownloadError(f"{url}: cannot connect ({getattr(error, 'reason', error)})")

    fetched = 0
    resumed_from = 0
    if response is not None:
        with response:
            if response.status == 206:
                match = re.match(r"bytes (\d+)-\d+/(\d+|\*)", response.headers.get("Content-Range", ""))
                if not match or int(match.group(1)) != offset:
                    raise DownloadError(f"{url}: the server resumed at the wrong place")
                if match.group(2) != "*":
                    length = int(match.group(2))
                resumed_from = offset
                mode = "ab"
            else:  # 200: the whole file (no range support, or the file changed)
                offset = 0
                mode = "wb"
                announced = response.headers.get("Content-Length")
                length = ascii_int(announced) or length
            validator_file.write_text(validator)
            with open(part, mode) as output:
                done = offset
                while True:
                    try:
                        block = response.read(BLOCK_BYTES)
                    except (OSError, http.client.HTTPException) as error:
                        raise DownloadError(
                            f"{url}: the connection broke after {done} bytes ({error}); run the download again to resume"
                        )
                    if not block:
                        break
                    output.write(block)
                    done += len(block)
                    fetched += len(block)
                    if on_progress:
                        on_progress(destination.name, done, length)
                output.flush()
                os.fsync(output.fileno())

    size = part.stat().st_size
    if length is not None and size != length:
        raise DownloadError(
            f"{url}: got {size} of {length} bytes; the part is kept in {part.name}, run the download again to resume"
        )
    if mtime is not None:
        os.utime(part, (mtime, mtime))
    os.replace(part, destination)  # atomic: the final name only ever holds a complete file
    validator_file.unlink(missing_ok=True)
    return Downloaded(destination, fetched, resumed_from, skipped=False)


def dataset_files_download(
    *,
    base_url: str,
    directory: Path,
    names: list[str],
    timeout: float = 60,
    on_progress: DownloadProgress | None = None,
) -> list[Downloaded]:
    downloaded = []
    for name in names:
        destination = Path(directory) / f"{name}.tsv.gz"
        try:
            downloaded.append(
                download_file(dataset_url(base_url, name), destination, timeout=timeout, on_progress=on_progress)
            )
        except OSError as error:  # the local side: disk full, no permission (network errors are DownloadErrors)
            raise DownloadError(
                f"{destination.name}: cannot be saved in {directory} ({error.strerror or error}); "
                "the part downloaded so far is kept: free some space and run the download again"
            )
    return downloaded
