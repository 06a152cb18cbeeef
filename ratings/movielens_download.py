"""Fetching MovieLens ``ml-latest-small`` from GroupLens: downloaded once, checksum verified, cached.

``movielens_download`` returns a folder holding the release's ``ratings.csv`` and ``links.csv``
(and its ``README.txt``, which carries GroupLens' terms of use), ready for
``ratings.movielens.movielens_import``:

1. A cached copy whose recorded MD5 matches is used as it is, without the network.
2. Otherwise the published checksum (``<url>.md5``, as GroupLens puts it beside each zip) is read,
   the zip streamed to a temporary file in the cache folder while its MD5 is computed, and compared.
   A mismatch deletes the file and raises ``ValidationError``: nothing is extracted or kept.
3. Only the files the import needs are extracted (no other path of the archive is written), into
   ``<cache>/ml-latest-small/``, through a temporary folder renamed into place, so an interrupted
   run never leaves a half-extracted release that looks complete.

No network (or GroupLens down) raises ``MovieLensUnavailable`` with the reason; ``make demo`` then
says so and goes on with the synthetic crowd alone. The data is GroupLens', not ours: it is never
copied into the project, and ``MOVIELENS_TERMS`` is shown with every download.
"""

from __future__ import annotations

import hashlib
import re
import shutil
import tempfile
import time
import urllib.error
import urllib.request
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings
from django.core.exceptions import ValidationError

MOVIELENS_SMALL_URL = "https://files.grouplens.org/datasets/movielens/ml-latest-small.zip"
RELEASE_FILES = ("ratings.csv", "links.csv", "README.txt")
CHECKSUM_FILE = ".md5"  # inside the extracted folder: the verified MD5 of the zip it came from
TIMEOUT_SECONDS = 20
MAX_ZIP_BYTES = 100 * 1024 * 1024  # ml-latest-small is about 1 MB; anything this big is not it

# GroupLens' conditions of use, as stated in the README.txt of every MovieLens release (shown in
# full there; this is their summary).
MOVIELENS_TERMS = """MovieLens data by GroupLens Research, University of Minnesota (https://grouplens.org/datasets/movielens/).
Terms of use (see README.txt of the release for the full text):
  * no endorsement by the University of Minnesota or GroupLens may be stated or implied;
  * the use of the data set must be acknowledged in any resulting publication or software;
  * the data may not be redistributed without separate permission;
  * no commercial or revenue-bearing use without first obtaining permission from GroupLens.
Please cite: F. Maxwell Harper and Joseph A. Konstan. 2015. The MovieLens Datasets: History and
Context. ACM TiiS 5, 4: 19:1-19:19. https://doi.org/10.1145/2827872"""

ProgressCallback = Callable[[int, int, str], None]


class MovieLensUnavailable(ValidationError):
    """The release could not be fetched (no network, GroupLens unreachable or answering an error)."""


@dataclass
class DownloadReport:
    directory: Path
    url: str
    md5: str
    downloaded: bool  # False: the verified cached copy was used
    bytes: int = 0
    seconds: float = 0.0


def movielens_cache_dir() -> Path:
    return Path(getattr(settings, "MOVIELENS_CACHE_DIR", settings.BASE_DIR / "var" / "cache" / "movielens"))


def movielens_download(
    *,
    url: str = MOVIELENS_SMALL_URL,
    cache_dir: str | Path | None = None,
    timeout: float = TIMEOUT_SECONDS,
    progress: ProgressCallback | None = None,
) -> DownloadReport:
    """The release at ``url`` extracted into ``cache_dir`` (see the module docstring); raises
    ``MovieLensUnavailable`` without the network and ``ValidationError`` for a bad download."""
    started = time.monotonic()
    if not re.fullmatch(r"https?://\S+\.zip", url):
        raise ValidationError(f"{url} is not the http(s) address of a .zip file.")
    cache = Path(cache_dir) if cache_dir else movielens_cache_dir()
    name = url.rsplit("/", 1)[1].removesuffix(".zip")
    target = cache / name
    cached_md5 = _cached_md5(target)
    try:
        published = _published_md5(url, timeout)
    except MovieLensUnavailable:
        if cached_md5:  # offline, but verified earlier: good enough
            return DownloadReport(target, url, cached_md5, downloaded=False)
        raise
    if cached_md5 == published:
        return DownloadReport(target, url, published, downloaded=False, seconds=time.monotonic() - started)

    cache.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=cache, prefix=f".{name}-") as work:
        archive = Path(work) / f"{name}.zip"
        size, actual = _zip_fetch(url, archive, timeout, progress)
        if actual != published:
            raise ValidationError(
                f"{url}: the download's MD5 is {actual}, GroupLens publishes {published}; "
                "the file was deleted and nothing was extracted. Try again later."
            )
        extracted = Path(work) / name
        _release_extract(archive, extracted)
        (extracted / CHECKSUM_FILE).write_text(published + "\n")
        if target.exists():
            shutil.rmtree(target)
        extracted.rename(target)
    return DownloadReport(target, url, published, downloaded=True, bytes=size, seconds=time.monotonic() - started)


def _cached_md5(target: Path) -> str:
    marker = target / CHECKSUM_FILE
    if not marker.is_file() or not all((target / file).is_file() for file in RELEASE_FILES[:2]):
        return ""
    return marker.read_text().strip()


def _open(url: str, timeout: float):
    try:
        return urllib.request.urlopen(url, timeout=timeout)  # noqa: S310 (the scheme is checked above)
    except urllib.error.HTTPError as error:
        raise MovieLensUnavailable(f"{url}: GroupLens answered {error.code} {error.reason}.")
    except (urllib.error.URLError, OSError) as error:
        reason = getattr(error, "reason", error)
        raise MovieLensUnavailable(f"{url}: cannot be reached ({reason}).")


def _published_md5(url: str, timeout: float) -> str:
    """The MD5 GroupLens publishes beside the zip: ``<hash>  name.zip`` or ``MD5 (name.zip) = <hash>``."""
    with _open(url + ".md5", timeout) as response:
        text = response.read(4096).decode("ascii", errors="replace")
    found = re.search(r"\b[0-9a-fA-F]{32}\b", text)
    if not found:
        raise ValidationError(f"{url}.md5 holds no MD5 checksum: {text[:80]!r}")
    return found.group(0).lower()


def _zip_fetch(url: str, path: Path, timeout: float, progress: ProgressCallback | None) -> tuple[int, str]:
    digest = hashlib.md5(usedforsecurity=False)
    size = 0
    with _open(url, timeout) as response, path.open("wb") as file:
        total = int(response.headers.get("Content-Length") or 0)
        while chunk := response.read(1 << 16):
            size += len(chunk)
            if size > MAX_ZIP_BYTES:
                raise ValidationError(f"{url} is larger than {MAX_ZIP_BYTES // 2**20} MB: not ml-latest-small.")
            digest.update(chunk)
            file.write(chunk)
            if progress:
                progress(size, max(total, size), "downloading")
    return size, digest.hexdigest()


def _release_extract(archive: Path, folder: Path) -> None:
    """The release's files, by base name, whatever folder the zip keeps them in; nothing else."""
    try:
        with zipfile.ZipFile(archive) as release:
            members = {Path(info.filename).name: info for info in release.infolist() if not info.is_dir()}
            missing = [file for file in RELEASE_FILES[:2] if file not in members]
            if missing:
                raise ValidationError(f"{archive.name} has no {', '.join(missing)}: not a MovieLens release.")
            folder.mkdir()
            for file in RELEASE_FILES:
                if file in members:
                    with release.open(members[file]) as source, (folder / file).open("wb") as destination:
                        shutil.copyfileobj(source, destination)
    except zipfile.BadZipFile as error:
        raise ValidationError(f"{archive.name} is not a readable zip: {error}")
