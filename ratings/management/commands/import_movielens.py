"""Import a MovieLens release (ratings.csv + links.csv) as community users and their ratings.

    python manage.py import_movielens ../shared/data/movielens-latest-small

Movies map to IMDb titles through links.csv; half stars round half up (0.5→1 … 4.5→5). Movies
that are not in the catalog are counted and reported; invalid lines are reported with file, line
and reason. Running it again changes nothing (see ratings/movielens.py).
"""

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from ratings.movielens import movielens_import


class Command(BaseCommand):
    help = __doc__

    def add_arguments(self, parser):
        parser.add_argument("directory", help="Folder holding ratings.csv and links.csv.")

    def handle(self, *args, **options):
        verbosity = options["verbosity"]
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
