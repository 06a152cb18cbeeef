"""Accounts: creating site users (sign-up, demo, staff), updating profiles, deleting accounts.

Passwords are set and checked only through django.contrib.auth (``set_password``,
``validate_password``); nothing here hashes or compares passwords itself.
"""

import datetime as dt

from django.conf import settings
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from accounts.models import User
from accounts.signals import user_deleting
from catalog.models import BROWSE_GENRES

# One answer whether the user name or the address is the one taken: sign-up must not tell a
# stranger which addresses have an account here (issue 20).
SIGNUP_TAKEN_MESSAGE = (
    "That user name or e-mail address cannot be used for a new account. If you already have an "
    "account, log in or reset your password; otherwise choose another user name."
)
EMAIL_TAKEN_MESSAGE = "This e-mail address cannot be used. Choose another one."


@transaction.atomic
def user_ensure(
    *, username: str, password: str, email: str = "", is_staff: bool = False, reset_existing_staff: bool = True
) -> tuple[User, str]:
    """Create the site user if missing, or reset its password and staff flag; returns (user,
    "created" | "reset" | "kept"). With ``reset_existing_staff`` false an existing staff account
    (or one to become staff) is left exactly as it is: "kept"."""
    user, created = User.objects.select_for_update().get_or_create(
        username=username, defaults={"email": email, "kind": User.Kind.SITE}
    )
    if not created and not reset_existing_staff and (user.is_staff or is_staff):
        return user, "kept"
    user.email = email or user.email
    user.is_staff = is_staff
    user.is_superuser = is_staff
    user.is_active = True
    user.set_password(password)
    user.full_clean()
    user.save()
    return user, "created" if created else "reset"


@transaction.atomic
def user_signup(*, username: str, email: str, password: str) -> User:
    """A new site user. Raises ``ValidationError`` (nothing written) for a password the validators
    refuse, or with ``SIGNUP_TAKEN_MESSAGE`` when the user name or the address (in any case)
    belongs to an account already.

    Uniqueness is the database's (``accounts_user_unique_*`` constraints): concurrent sign-ups
    that all passed a check in Python meet there, and the losers get the same message.
    """
    user = User(username=username, email=User.objects.normalize_email(email).strip(), kind=User.Kind.SITE)
    user.full_clean(exclude=["password"], validate_unique=False, validate_constraints=False)
    validate_password(password, user=user)
    user.set_password(password)
    if User.objects.filter(username__iexact=user.username).exists() or (
        user.email and User.objects.filter(email__iexact=user.email).exists()
    ):
        raise ValidationError(SIGNUP_TAKEN_MESSAGE, code="taken")
    try:
        with transaction.atomic():
            user.save()
    except IntegrityError as error:
        raise ValidationError(SIGNUP_TAKEN_MESSAGE, code="taken") from error
    return user


def favourite_genres_clean(genres: list[str]) -> list[str]:
    """``genres`` without repeats, in the order given; unknown genres or more than there are
    refused (the form does the same; this holds for every caller)."""
    unique = list(dict.fromkeys(genres))
    if len(genres) > len(BROWSE_GENRES) or any(genre not in BROWSE_GENRES for genre in unique):
        raise ValidationError("Pick favourite genres from the list, each once.", code="bad_genres")
    return unique


@transaction.atomic
def user_profile_update(*, user: User, email: str, favourite_genres: list[str]) -> User:
    """Save the profile. A new e-mail address must have been confirmed with the member's password
    by the caller (``accounts.forms.ProfileForm``): it is where password resets go."""
    user.email = User.objects.normalize_email(email).strip()
    user.favourite_genres = favourite_genres_clean(list(favourite_genres))
    user.full_clean(exclude=["password"], validate_unique=False, validate_constraints=False)
    if User.objects.filter(email__iexact=user.email).exclude(pk=user.pk).exists():
        raise ValidationError(EMAIL_TAKEN_MESSAGE, code="email_taken")
    try:
        with transaction.atomic():
            user.save(update_fields=["email", "favourite_genres"])
    except IntegrityError as error:
        raise ValidationError(EMAIL_TAKEN_MESSAGE, code="email_taken") from error
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


def login_records_prune(*, now: dt.datetime | None = None, dry_run: bool = False) -> dict[str, int]:
    """Delete django-axes' login records (successful logins, failures, lockout counters) older than
    ``LOGIN_RECORDS_RETENTION_DAYS``: they hold user names, addresses and browsers. Returns the
    rows deleted (or, with ``dry_run``, that would be) per kind. Run daily by Celery beat."""
    from axes.models import AccessAttempt, AccessFailureLog, AccessLog

    cutoff = (now or timezone.now()) - dt.timedelta(days=settings.LOGIN_RECORDS_RETENTION_DAYS)
    counts = {}
    for name, model in (("logins", AccessLog), ("failures", AccessFailureLog), ("attempts", AccessAttempt)):
        old = model.objects.filter(attempt_time__lt=cutoff)
        counts[name] = old.count() if dry_run else old.delete()[0]
    return counts
