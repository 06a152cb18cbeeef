"""Rebuild the title search table (``catalog_titlesearch``) from the catalog.

  build_search                     every rated title's names, most-voted first
  build_search --min-votes 100     a smaller first tier (titles with fewer votes go to the tail)

The importer does this after every run that changed titles, akas or ratings; run it by hand after
loading a catalog some other way. Searches keep working during the rebuild (the new table is
swapped in when complete).
"""

from django.core.management.base import BaseCommand, CommandError

from catalog.search_table import SEARCH_TABLE_MIN_VOTES, title_search_table_rebuild


class Command(BaseCommand):
    help = __doc__

    def add_arguments(self, parser):
        parser.add_argument(
            "--min-votes",
            type=int,
            default=SEARCH_TABLE_MIN_VOTES,
            help=f"titles with at least this many votes are in the table (default {SEARCH_TABLE_MIN_VOTES})",
        )

    def handle(self, *args, min_votes, **options):
        if min_votes < 1:
            raise CommandError("--min-votes must be 1 or more (titles nobody rated are searched in the tail)")
        verbosity = options["verbosity"]

        def on_step(name: str) -> None:
            if verbosity:
                self.stdout.write(f"search table: {name}…")

        result = title_search_table_rebuild(min_votes=min_votes, on_step=on_step)
        if verbosity:
            steps = ", ".join(f"{name} {seconds:.1f} s" for name, seconds in result["seconds"].items())
            self.stdout.write(self.style.SUCCESS(f"search table: {result['rows']:,} names ({steps})"))
