"""Delete every synthetic user and everything of theirs (ratings, watchlist, ...).

Site users and MovieLens users are untouched. --dry-run only counts what would go. The removal
runs in this process as a synthetic-users job (``ratings.synthetic_runs``): refused (exit status 1)
while another job runs.
"""

from django.core.management.base import BaseCommand, CommandError

from ratings.models import SyntheticRun
from ratings.synthetic import synthetic_users_remove
from ratings.synthetic_runs import synthetic_run_execute, synthetic_run_remove_create


class Command(BaseCommand):
    help = __doc__

    def add_arguments(self, parser):
        parser.add_argument("--dry-run", action="store_true", help="Count, delete nothing.")

    def handle(self, *args, **options):
        if options["dry_run"]:
            counts = synthetic_users_remove(dry_run=True)
        else:
            run = synthetic_run_execute(run_id=synthetic_run_remove_create().pk)
            if run.status != SyntheticRun.Status.SUCCEEDED:
                raise CommandError(f"Synthetic users job #{run.pk} {run.status}: {run.error}")
            counts = run.result
        if options["verbosity"]:
            verb = "would remove" if options["dry_run"] else "removed"
            self.stdout.write(f"{verb} {counts['users']:,} synthetic users and {counts['ratings']:,} ratings.")
