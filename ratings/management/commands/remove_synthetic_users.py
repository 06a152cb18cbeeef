"""Delete every synthetic user and everything of theirs (ratings, watchlist, ...).

Site users and MovieLens users are untouched. --dry-run only counts what would go.
"""

from django.core.management.base import BaseCommand

from ratings.synthetic import synthetic_users_remove


class Command(BaseCommand):
    help = __doc__

    def add_arguments(self, parser):
        parser.add_argument("--dry-run", action="store_true", help="Count, delete nothing.")

    def handle(self, *args, **options):
        counts = synthetic_users_remove(dry_run=options["dry_run"])
        if options["verbosity"]:
            verb = "would remove" if options["dry_run"] else "removed"
            self.stdout.write(f"{verb} {counts['users']:,} synthetic users and {counts['ratings']:,} ratings.")
