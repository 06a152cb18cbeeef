"""Model runs and everything a run produces, stored as rows keyed by the run.

A run's rows are written while it is not active; ``ModelRun.is_active`` flips in one transaction
when the run has fully succeeded, so pages only ever read a complete run.
"""

from django.conf import settings
from django.contrib.postgres.fields import ArrayField
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q

from imdbrec.runs import BackgroundRun


class ModelRun(BackgroundRun):
    is_active = models.BooleanField(default=False)
    # rank, reg, iterations, alpha, top_n, grid, ... as asked for and as finally chosen
    params = models.JSONField(default=dict, blank=True)
    phase = models.CharField(max_length=32, blank=True)
    # seconds per phase: {"export": s, "fit": s, "evaluate": s, "write_back": s}
    timings = models.JSONField(default=dict, blank=True)
    num_users = models.IntegerField(null=True, blank=True)
    num_titles = models.IntegerField(null=True, blank=True)
    num_ratings = models.BigIntegerField(null=True, blank=True)
    # holdout metrics: rmse, mae, precision_at_10, ndcg_at_10, popularity_precision_at_10, ...
    metrics = models.JSONField(default=dict, blank=True)
    # grid search: one entry per candidate with its parameters and metrics
    candidates = models.JSONField(default=list, blank=True)
    triggered_by = models.CharField(max_length=32, blank=True)
    artifact_uri = models.TextField(blank=True, help_text="Where the run's exchanged files live")

    class Meta(BackgroundRun.Meta):
        constraints = [
            models.UniqueConstraint(
                fields=["is_active"], condition=Q(is_active=True), name="recommender_one_active_run"
            )
        ]

    def __str__(self) -> str:
        return f"Run #{self.pk} ({self.status}{', active' if self.is_active else ''})"


class Recommendation(models.Model):
    """One of a user's top-N titles in a run: rank, predicted stars (1-5), confidence in [0, 1]."""

    # Millions of rows are written per run with COPY: no index beyond what reads use, and no
    # per-row foreign-key trigger (a run's rows are only written by the training, for its own run,
    # and deleted with it). The unique (run, user, rank) index serves "a user's list in a run" and
    # deletes by run; user_id serves "this user's past recommendations" across runs.
    run = models.ForeignKey(
        ModelRun, on_delete=models.CASCADE, related_name="recommendations", db_index=False, db_constraint=False
    )
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, db_constraint=False, on_delete=models.DO_NOTHING, related_name="+"
    )
    title = models.ForeignKey(
        "catalog.Title", db_constraint=False, on_delete=models.DO_NOTHING, related_name="+", db_index=False
    )
    rank = models.SmallIntegerField()
    score = models.FloatField(help_text="The ranking model's score")
    predicted_rating = models.FloatField()
    confidence = models.FloatField()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["run", "user", "rank"], name="recommender_rec_unique_rank")]

    def __str__(self) -> str:
        return f"run {self.run_id} user {self.user_id} #{self.rank} {self.title_id}"


class RecommendationShown(models.Model):
    """A title the recommendations page showed a member, with the stars it predicted then.

    Training writes ``Recommendation`` rows only for the users it trained on; a member who joined
    (or rated) since sees a live list folded in on the spot, which no table kept. This row keeps
    the last prediction shown for each (member, title), so that when the member rates the title
    afterwards the "how well our predictions matched" panel can compare the two
    (``recommender.quality.outcomes``). Rated titles leave the list, so a row is not overwritten
    after the rating it is compared with.
    """

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    title = models.ForeignKey(
        "catalog.Title", db_constraint=False, on_delete=models.DO_NOTHING, related_name="+", db_index=False
    )
    # The run whose model made the prediction; kept as a number when old runs are deleted.
    run = models.ForeignKey(
        ModelRun, db_constraint=False, on_delete=models.DO_NOTHING, related_name="+", db_index=False
    )
    rank = models.IntegerField()
    predicted_rating = models.FloatField()
    confidence = models.FloatField()
    shown_at = models.DateTimeField()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["user", "title"], name="recommender_shown_unique")]

    def __str__(self) -> str:
        return f"user {self.user_id} shown {self.title_id} ({self.predicted_rating:.1f})"


class UserFactor(models.Model):
    """A user's vectors in a run: ``factors`` for the ranking model, ``rating_factors`` and ``bias``
    for the star-prediction model (see recommender/DESIGN.md for the formulation)."""

    # The unique (run, user) index serves every read and deletes by run.
    run = models.ForeignKey(
        ModelRun, on_delete=models.CASCADE, related_name="user_factors", db_index=False, db_constraint=False
    )
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, db_constraint=False, on_delete=models.DO_NOTHING, related_name="+", db_index=False
    )
    factors = ArrayField(models.FloatField())
    rating_factors = ArrayField(models.FloatField(), null=True, blank=True)
    bias = models.FloatField(default=0.0)
    community = models.ForeignKey(
        "TasteCommunity", null=True, blank=True, on_delete=models.SET_NULL, related_name="members"
    )
    x = models.FloatField(null=True, blank=True)
    y = models.FloatField(null=True, blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["run", "user"], name="recommender_userfactor_unique")]

    def __str__(self) -> str:
        return f"run {self.run_id} user {self.user_id}"


class TitleFactor(models.Model):
    # The unique (run, title) index serves every read and deletes by run.
    run = models.ForeignKey(
        ModelRun, on_delete=models.CASCADE, related_name="title_factors", db_index=False, db_constraint=False
    )
    title = models.ForeignKey(
        "catalog.Title", db_constraint=False, on_delete=models.DO_NOTHING, related_name="+", db_index=False
    )
    factors = ArrayField(models.FloatField())
    rating_factors = ArrayField(models.FloatField(), null=True, blank=True)
    bias = models.FloatField(default=0.0)
    support = models.IntegerField(default=0, help_text="Ratings the title had in training")
    x = models.FloatField(null=True, blank=True)
    y = models.FloatField(null=True, blank=True)
    # The hybrid's content side (recommender/DESIGN.md §11): the titles most alike by content,
    # as item ids (tconst digits), best first, with their similarity.
    neighbours = ArrayField(models.IntegerField(), null=True, blank=True)
    neighbour_scores = ArrayField(models.FloatField(), null=True, blank=True)
    # The star model's neighbourhood (recommender/DESIGN.md §2): the titles whose rating residuals
    # move with this one's, as item ids, best first, with their shrunk correlation.
    star_neighbours = ArrayField(models.IntegerField(), null=True, blank=True)
    star_neighbour_scores = ArrayField(models.FloatField(), null=True, blank=True)
    # The ranking score's item-item part (recommender/DESIGN.md §1): the pruned EASE weights from
    # this title to others, as item ids, largest first; null for titles outside the capped set.
    item_neighbours = ArrayField(models.IntegerField(), null=True, blank=True)
    item_neighbour_weights = ArrayField(models.FloatField(), null=True, blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["run", "title"], name="recommender_titlefactor_unique")]

    def __str__(self) -> str:
        return f"run {self.run_id} title {self.title_id}"


class SimilarTitle(models.Model):
    # The unique (run, title, rank) index serves "more like this" and deletes by run.
    run = models.ForeignKey(
        ModelRun, on_delete=models.CASCADE, related_name="similar_titles", db_index=False, db_constraint=False
    )
    title = models.ForeignKey(
        "catalog.Title", db_constraint=False, on_delete=models.DO_NOTHING, related_name="+", db_index=False
    )
    similar = models.ForeignKey(
        "catalog.Title", db_constraint=False, on_delete=models.DO_NOTHING, related_name="+", db_index=False
    )
    rank = models.SmallIntegerField()
    score = models.FloatField()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["run", "title", "rank"], name="recommender_similar_unique")]

    def __str__(self) -> str:
        return f"run {self.run_id} {self.title_id} ~ {self.similar_id} #{self.rank}"


class TasteCommunity(models.Model):
    """A cluster of user factors in one run, named by its most distinctive genres and titles."""

    run = models.ForeignKey(ModelRun, on_delete=models.CASCADE, related_name="communities")
    number = models.SmallIntegerField()
    name = models.CharField(max_length=200)
    size = models.IntegerField(default=0)
    # [{"genre": "Sci-Fi", "lift": 1.8, "share": 0.31}, ...]
    defining_genres = models.JSONField(default=list, blank=True)
    # [{"tconst": ..., "score": ...}, ...]
    top_titles = models.JSONField(default=list, blank=True)
    centroid = ArrayField(models.FloatField(), default=list, blank=True)
    x = models.FloatField(null=True, blank=True)
    y = models.FloatField(null=True, blank=True)

    class Meta:
        verbose_name_plural = "taste communities"
        constraints = [models.UniqueConstraint(fields=["run", "number"], name="recommender_community_unique")]

    def __str__(self) -> str:
        return self.name


class UserFoldIn(models.Model):
    """A user's factor solved against the active run's title factors after their latest ratings."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, primary_key=True, on_delete=models.CASCADE, related_name="fold_in"
    )
    run = models.ForeignKey(ModelRun, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    factors = ArrayField(models.FloatField(), null=True, blank=True)
    rating_factors = ArrayField(models.FloatField(), null=True, blank=True)
    bias = models.FloatField(default=0.0)
    stale = models.BooleanField(default=True)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"fold-in of user {self.user_id} (run {self.run_id})"


class RecommendationControls(models.Model):
    """A member's say over their recommendations (recommender/DESIGN.md §10): the discovery step
    from "crowd pleasers" (1) to "hidden gems" (5), "more variety", and what to hide. No row means
    the defaults (balanced, no variety, nothing hidden)."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, primary_key=True, on_delete=models.CASCADE, related_name="recommendation_controls"
    )
    discovery = models.PositiveSmallIntegerField(
        default=3, validators=[MinValueValidator(1), MaxValueValidator(5)], help_text="1 crowd pleasers … 5 hidden gems"
    )
    variety = models.BooleanField(default=False, help_text="Re-rank the list for variety (maximal marginal relevance)")
    hide_before = models.PositiveSmallIntegerField(
        null=True,
        blank=True,
        validators=[MinValueValidator(1870), MaxValueValidator(2100)],
        help_text="Hide titles that started before this year",
    )
    hide_genre = models.CharField(max_length=32, blank=True, help_text="Hide titles of this genre")
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name_plural = "recommendation controls"
        constraints = [
            models.CheckConstraint(
                condition=Q(discovery__gte=1, discovery__lte=5), name="recommender_controls_discovery_1_5"
            ),
            models.CheckConstraint(
                condition=Q(hide_before__isnull=True) | Q(hide_before__gte=1870, hide_before__lte=2100),
                name="recommender_controls_hide_before_year",
            ),
        ]

    def __str__(self) -> str:
        return f"controls of user {self.user_id}"
