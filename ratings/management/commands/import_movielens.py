"""Import a MovieLens release (ratings.csv + links.csv) as community users and their ratings.

    python manage.py import_movielens ../shared/data/movielens-latest-small
    python manage.py import_movielens --download [--cache-dir var/cache/movielens]

--download fetches ml-latest-small from GroupLens (checksum verified, cached: a second run uses
the cached copy) and shows GroupLens' terms of use; without the network it says so and exits with
status 2, importing nothing.

Movies map to IMDb titles through links.csv; half stars round half up (0.5→1 … 4.5→5). Movies
that are not in the catalog are counted and reported; invalid lines are reported with file, line
and reason. Running it again changes nothing (see ratings/movielens.py).
"""

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from ratings.movielens import movielens_import
from ratings.movielens_download import (
    MOVIELENS_SMALL_URL,
    MOVIELENS_TERMS,
    MovieLensUnavailable,
    movielens_cache_dir,
    movielens_download,
)


class Command(BaseCommand):
    help = __doc__

    def add_arguments(self, parser):
        parser.add_argument("directory", nargs="?", help="Folder holding ratings.csv and links.csv.")
        parser.add_argument(
            "--download", action="store_true", help="Fetch ml-latest-small from GroupLens instead (cached)."
        )
        parser.add_argument(
            "--cache-dir", help=f"Where --download keeps the release (default {movielens_cache_dir()})."
        )
        parser.add_argument("--url", default=MOVIELENS_SMALL_URL, help="The release's zip (with <url>.md5 beside it).")

    def handle(self, *args, **options):
        verbosity = options["verbosity"]
        if bool(options["directory"]) == bool(options["download"]):
            raise CommandError("Give either a folder holding ratings.csv and links.csv, or --download.")
        if options["download"]:
            options["directory"] = self._download(options)
        bar = tqdm(unit="line", unit_scale=True, disable=verbosity < 1, file=self.stderr._out)

        def progress(done: int, total: int, message: str) -> None:
            bar.total = total
            bar.update(done - bar.n)

        try:
            report = movielens_import(directory=options["directory"], progress=progress)
        except ValidationError as error:
            raise CommandError(" ".join(error.messages))
        finally:
            bar.close()
        if verbosity:
            self.stdout.write(
                f"{report.lines:,} ratings read in {report.seconds:.1f} s: {report.ratings_created:,} imported, "
                f"{report.ratings_updated:,} updated, {report.ratings_unchanged:,} unchanged; "
                f"{report.users_created:,} MovieLens users created ({report.users_existing:,} already there)."
            )
            self.stdout.write(
                f"Not imported: {report.movies_not_in_catalog:,} movies not in the catalog "
                f"({report.ratings_not_in_catalog:,} ratings), {report.movies_not_linked:,} movies without an IMDb "
                f"link ({report.ratings_not_linked:,} ratings), {report.duplicates:,} duplicate user/title pairs, "
                f"{report.rejected:,} rejected lines."
            )
            for reject in report.rejects[: 100 if verbosity >= 2 else 10]:
                self.stderr.write(f"  rejected {reject}")
            if report.rejected > len(report.rejects[: 100 if verbosity >= 2 else 10]):
                self.stderr.write(f"  … {report.rejected:,} rejected in all (-v 2 shows up to 100).")

    def _download(self, options) -> str:
        verbosity = options["verbosity"]
        bars: list[tqdm] = []  # made at the first byte: an offline run shows no empty bar

        def progress(done: int, total: int, message: str) -> None:
            if not bars:
                bars.append(tqdm(unit="B", unit_scale=True, disable=verbosity < 1, file=self.stderr._out))
            bars[0].total = total
            bars[0].update(done - bars[0].n)

        try:
            report = movielens_download(url=options["url"], cache_dir=options["cache_dir"], progress=progress)
        except MovieLensUnavailable as error:
            raise CommandError(f"MovieLens not downloaded: {' '.join(error.messages)}", returncode=2)
        except ValidationError as error:
            raise CommandError(" ".join(error.messages))
        finally:
            for bar in bars:
                bar.close()
        if verbosity:
            how = f"downloaded ({report.bytes:,} bytes)" if report.downloaded else "cached copy"
            self.stdout.write(f"MovieLens {report.url}: {how}, MD5 {report.md5} verified, in {report.directory}")
            self.stdout.write(MOVIELENS_TERMS)
        return str(report.directory)
