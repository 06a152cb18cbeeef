"""Accounts: creating site users (sign-up, demo, staff), updating profiles, deleting accounts.

Passwords are set and checked only through django.contrib.auth (``set_password``,
``validate_password``); nothing here hashes or compares passwords itself.
"""

from django.contrib.auth.password_validation import validate_password
from django.db import transaction

from accounts.models import User
from accounts.signals import user_deleting


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


@transaction.atomic
def user_signup(*, username: str, email: str, password: str) -> User:
    """A new site user. Raises ``ValidationError`` (nothing written) for a taken username or a
    password the validators refuse."""
    user = User(username=username, email=User.objects.normalize_email(email), kind=User.Kind.SITE)
    user.full_clean(exclude=["password"])
    validate_password(password, user=user)
    user.set_password(password)
    user.save()
    return user


@transaction.atomic
def user_profile_update(*, user: User, email: str, favourite_genres: list[str]) -> User:
    user.email = User.objects.normalize_email(email)
    user.favourite_genres = list(favourite_genres)
    user.full_clean(exclude=["password"])
    user.save(update_fields=["email", "favourite_genres"])
    return user


@transaction.atomic
def user_delete(*, user: User) -> None:
    """Delete ``user`` and everything that is theirs.

    Ratings, watchlist, "not interested" marks and the fold-in cascade with the user. Rows of
    the apps above that reference users without a database constraint (the recommender's
    per-run recommendations and factors) are deleted by the receivers of ``user_deleting``, in
    this transaction.
    """
    user_deleting.send(sender=user_delete, user=user)
    user.delete()
