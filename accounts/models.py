from django.contrib.auth.models import AbstractUser
from django.db import models
from django.db.models.functions import Lower


class User(AbstractUser):
    """A person who signs in, or a rater the model learns from (synthetic or MovieLens).

    Only ``Kind.SITE`` users can log in (``accounts.backends.SiteUserBackend``); the others have
    unusable passwords and are left out of public statistics.
    """

    class Kind(models.TextChoices):
        SITE = "site", "Site user"
        SYNTHETIC = "synthetic", "Synthetic user"
        MOVIELENS = "movielens", "MovieLens user"

    kind = models.CharField(max_length=12, choices=Kind.choices, default=Kind.SITE, db_index=True)
    # The generator's hidden taste persona (synthetic users) so communities can be measured against it.
    persona = models.CharField(max_length=32, blank=True)
    # Where a non-site user came from: generator seed and index, or MovieLens user id.
    external_id = models.CharField(max_length=64, blank=True)
    # Genres a new user picked during onboarding (cold-start fallback).
    favourite_genres = models.JSONField(default=list, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["kind", "external_id"],
                condition=~models.Q(external_id=""),
                name="accounts_user_unique_external_id_per_kind",
            ),
            # One account per e-mail address and per user name, whatever their case, in the database:
            # concurrent sign-ups that each passed the form's check meet here (accounts.services).
            # Synthetic and MovieLens raters have no e-mail address.
            models.UniqueConstraint(
                Lower("email"),
                condition=~models.Q(email=""),
                name="accounts_user_unique_email_ci",
                violation_error_code="email_taken",
                violation_error_message="An account with this e-mail address (in any case) exists already.",
            ),
            models.UniqueConstraint(
                Lower("username"),
                name="accounts_user_unique_username_ci",
                violation_error_code="username_taken",
                violation_error_message="An account with this user name (in any case) exists already.",
            ),
        ]

    @property
    def is_synthetic(self) -> bool:
        return self.kind == self.Kind.SYNTHETIC
