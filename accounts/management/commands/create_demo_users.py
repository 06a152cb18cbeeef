"""Create (or reset) the demo user and the staff user that `make demo` prints."""

from django.core.management.base import BaseCommand

from accounts.services import user_ensure

DEMO_USERS = [
    {"username": "demo", "password": "demo-password-2024", "email": "demo@example.com", "is_staff": False},
    {"username": "staff", "password": "staff-password-2024", "email": "staff@example.com", "is_staff": True},
]


class Command(BaseCommand):
    help = __doc__

    def handle(self, *args, **options):
        for spec in DEMO_USERS:
            user, created = user_ensure(**spec)
            if options["verbosity"]:
                self.stdout.write(
                    f"{'created' if created else 'reset'} {'staff' if user.is_staff else 'demo'} user "
                    f"{user.username} / {spec['password']}"
                )
