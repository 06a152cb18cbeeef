"""Give the demo member (`make demo`'s ``demo`` login) about twenty ratings and a watchlist.

Run after the sample is imported (`import_imdb --dir catalog/sample`) and before the training,
so the member has recommendations, statistics and a history the moment they log in. Only adds
what is missing: running it again changes nothing. --dry-run says what it would add.
"""

from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from ratings.demo_history import demo_history_seed


class _DryRun(Exception):
    pass


class Command(BaseCommand):
    help = __doc__

    def add_arguments(self, parser):
        parser.add_argument("--username", default="demo", help="The member to seed (default: demo).")
        parser.add_argument("--dry-run", action="store_true", help="Say what would be added; write nothing.")

    def handle(self, *args, **options):
        user = get_user_model().objects.filter(username=options["username"]).first()
        if user is None:
            raise CommandError(f"There is no user {options['username']!r}: run `manage.py create_demo_users` first.")
        if user.is_staff:
            raise CommandError(f"{user.username!r} is staff: the demo history is for an ordinary member.")
        seeded = None
        try:
            with transaction.atomic():
                seeded = demo_history_seed(user=user)
                if options["dry_run"]:
                    raise _DryRun
        except ValidationError as error:
            raise CommandError(" ".join(error.messages)) from error
        except _DryRun:
            pass
        if options["verbosity"] and seeded is not None:
            verb = "would add" if options["dry_run"] else "added"
            self.stdout.write(
                f"{user.username}: {verb} {seeded.ratings_added} ratings and {seeded.watchlist_added} watchlist "
                f"titles ({seeded.ratings_kept} ratings and {seeded.watchlist_kept} watchlist titles already there)."
            )
