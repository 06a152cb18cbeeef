"""Accounts: creating site users (demo, staff) and, later, deleting them with their data."""

from django.db import transaction

from accounts.models import User


@transaction.atomic
def user_ensure(*, username: str, password: str, email: str = "", is_staff: bool = False) -> tuple[User, bool]:
    """Create the site user if missing, or reset its password and staff flag; returns (user, created)."""
    user, created = User.objects.get_or_create(username=username, defaults={"email": email, "kind": User.Kind.SITE})
    user.email = email or user.email
    user.is_staff = is_staff
    user.is_superuser = is_staff
    user.is_active = True
    user.set_password(password)
    user.full_clean()
    user.save()
    return user, created
