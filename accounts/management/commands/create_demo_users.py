"""Create the demo user and the staff user that `make demo` prints (development only).

Their passwords are in this file and in the README, so the command refuses to run with DEBUG off
(a production or docker-compose deployment) unless given --allow-without-debug, and it never
touches an existing staff account: a staff password changed after the first `make demo` stays
changed. The demo member's password is set again, so the printed login always works.
"""

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from accounts.services import user_ensure

DEMO_USERS = [
    {"username": "demo", "password": "demo-password-2024", "email": "demo@example.com", "is_staff": False},
    {"username": "staff", "password": "staff-password-2024", "email": "staff@example.com", "is_staff": True},
]


class Command(BaseCommand):
    help = __doc__

    def add_arguments(self, parser):
        parser.add_argument(
            "--allow-without-debug",
            action="store_true",
            help="Create the demo logins even though DEBUG is off (a throw-away deployment you alone reach).",
        )

    def handle(self, *args, **options):
        if not settings.DEBUG and not options["allow_without_debug"]:
            raise CommandError(
                "DEBUG is off: this looks like a real deployment, and the demo logins' passwords are public. "
                "Create staff with `manage.py createsuperuser`; pass --allow-without-debug only for a "
                "throw-away deployment."
            )
        for spec in DEMO_USERS:
            user, outcome = user_ensure(**spec, reset_existing_staff=False)
            if options["verbosity"]:
                kind = "staff" if spec["is_staff"] else "demo"
                shown = spec["password"] if outcome != "kept" else "(password unchanged)"
                self.stdout.write(f"{outcome} {kind} user {user.username} / {shown}")
