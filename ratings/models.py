"""A user's stars, watchlist and "not interested" marks; the synthetic crowd's background runs."""

from django.conf import settings
from django.db import models
from django.db.models import Q

from imdbrec.runs import BackgroundRun


class Rating(models.Model):
    """One user's 1-5 star rating of one title (one row per pair, enforced in the database)."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="ratings")
    title = models.ForeignKey("catalog.Title", on_delete=models.CASCADE, related_name="user_ratings")
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


class MemberImport(BackgroundRun):
    """One member's import of their IMDb ratings export: what it did (the report, unmatched rows
    included, shown a page at a time), and the checked file while it waits for a worker."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="rating_imports")
    file_name = models.CharField(max_length=255, blank=True)
    content = models.TextField(blank=True)  # the checked CSV until the worker has imported it, then ""
    rows = models.PositiveIntegerField(default=0)
    created_count = models.PositiveIntegerField(default=0)
    updated_count = models.PositiveIntegerField(default=0)
    unchanged_count = models.PositiveIntegerField(default=0)
    unmatched = models.JSONField(default=list, blank=True)  # [[line, tconst, title], ...]

    @property
    def matched(self) -> int:
        return self.created_count + self.updated_count + self.unchanged_count

    def __str__(self) -> str:
        return f"IMDb import #{self.pk} of {self.user_id} ({self.status})"
