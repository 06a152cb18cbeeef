"""A user's stars, watchlist and "not interested" marks; the synthetic crowd's background runs."""

from django.conf import settings
from django.db import models
from django.db.models import Q

from imdbrec.runs import BackgroundRun


class Rating(models.Model):
    """One user's 1-5 star rating of one title (one row per pair, enforced in the database)."""

    # Indexed by the unique (user, title) constraint and ratings_rating_title_idx: the B-trees a
    # ForeignKey adds (and the LIKE twin of the varchar one) were three more to write per rating.
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, db_index=False, related_name="ratings")
    title = models.ForeignKey("catalog.Title", on_delete=models.CASCADE, db_index=False, related_name="user_ratings")
    score = models.PositiveSmallIntegerField(choices=[(i, f"{i} star{'s' if i > 1 else ''}") for i in range(1, 6)])
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["user", "title"], name="ratings_rating_unique_user_title"),
            models.CheckConstraint(condition=Q(score__gte=1) & Q(score__lte=5), name="ratings_rating_score_1_5"),
        ]
        indexes = [models.Index(fields=["title"], name="ratings_rating_title_idx")]

    def __str__(self) -> str:
        return f"{self.user} → {self.title_id}: {self.score}"


# A title is on a member's watchlist or "not interested", never both: a trigger on both tables
# enforces it (migration 0003_watchlist_not_interested_exclusive; ratings.services.title_mark_lock).
class WatchlistItem(models.Model):
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="watchlist")
    title = models.ForeignKey("catalog.Title", on_delete=models.CASCADE, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["user", "title"], name="ratings_watchlist_unique")]

    def __str__(self) -> str:
        return f"{self.user} watchlist {self.title_id}"


class NotInterested(models.Model):
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="not_interested")
    title = models.ForeignKey("catalog.Title", on_delete=models.CASCADE, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name_plural = "not interested"
        constraints = [models.UniqueConstraint(fields=["user", "title"], name="ratings_notinterested_unique")]

    def __str__(self) -> str:
        return f"{self.user} not interested in {self.title_id}"


class SyntheticRun(BackgroundRun):
    """One job on the synthetic crowd: generating users (as ``params`` ask) or removing them all."""

    class Action(models.TextChoices):
        GENERATE = "generate", "Generate"
        REMOVE = "remove", "Remove"

    action = models.CharField(max_length=12, choices=Action.choices)
    # generate: {"users": n, "seed": n, "min_votes": n or null}
    params = models.JSONField(default=dict, blank=True)
    # what it did: the generator's report, or the users and ratings removed
    result = models.JSONField(default=dict, blank=True)

    def __str__(self) -> str:
        return f"Synthetic {self.action} #{self.pk} ({self.status})"


class MemberImportRun(BackgroundRun):
    """One member's import of a Letterboxd export (or an ``imdbID`` ratings file such as our own export).

    The uploaded bytes are kept on the row until the run has executed (a worker on another machine
    reads them from here, not from a shared disk), then cleared. ``summary`` holds the counts and
    ``rows`` the report: one entry per film matched, ambiguous or not found (see
    ``ratings.member_imports``).
    """

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="member_imports")
    file_name = models.CharField(max_length=255)
    file_kind = models.CharField(max_length=32)
    upload = models.BinaryField(null=True, blank=True, editable=False)
    summary = models.JSONField(default=dict, blank=True)
    rows = models.JSONField(default=list, blank=True)

    class Meta(BackgroundRun.Meta):
        indexes = [models.Index(fields=["user", "-created_at"], name="ratings_memberimport_user_idx")]

    def __str__(self) -> str:
        return f"Import #{self.pk} of {self.file_name} by {self.user_id} ({self.status})"
