"""Admin for the recommender: model runs (status, phases, timings, metrics, grid candidates) and the
rows each run produced. The row tables hold millions of rows: raw ids, no DISTINCT filters, and
Postgres' estimate for the count of an unfiltered list."""

import json

from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.utils.html import format_html

from imdbrec.pagination import EstimatedCountPaginator
from recommender.models import (
    ModelRun,
    Recommendation,
    SimilarTitle,
    TasteCommunity,
    TitleFactor,
    UserFactor,
    UserFoldIn,
)
from recommender.training.runs import model_run_activate


def _pretty(value) -> str:
    return format_html("<pre>{}</pre>", json.dumps(value, indent=1))


@admin.register(ModelRun)
class ModelRunAdmin(admin.ModelAdmin):
    list_display = (
        "id",
        "status",
        "is_active",
        "phase",
        "progress_percent",
        "triggered_by",
        "created_at",
        "seconds",
        "num_ratings",
        "rmse",
        "precision_at_10",
        "popularity_precision_at_10",
    )
    list_filter = ("status", "is_active", "triggered_by")
    search_fields = ("id", "error", "task_id")
    ordering = ("-created_at",)
    actions = ["activate"]
    readonly_fields = (
        "status",
        "is_active",
        "phase",
        "progress",
        "created_at",
        "started_at",
        "finished_at",
        "heartbeat_at",
        "task_id",
        "triggered_by",
        "artifact_uri",
        "num_users",
        "num_titles",
        "num_ratings",
        "error",
        "params_pretty",
        "timings_pretty",
        "metrics_pretty",
        "candidates_pretty",
    )
    exclude = ("params", "timings", "metrics", "candidates")

    def has_add_permission(self, request):
        return False  # runs are started by the system page, the command or the schedule

    @admin.display(description="progress")
    def progress_percent(self, run):
        return f"{run.progress * 100:.0f} %"

    @admin.display(description="seconds")
    def seconds(self, run):
        total = (run.timings or {}).get("total")
        return f"{total:.1f}" if isinstance(total, int | float) else "—"

    def _metric(self, run, key):
        value = (run.metrics or {}).get(key)
        return f"{value:.4f}" if isinstance(value, int | float) else "—"

    @admin.display(description="RMSE")
    def rmse(self, run):
        return self._metric(run, "rmse")

    @admin.display(description="precision@10")
    def precision_at_10(self, run):
        return self._metric(run, "precision_at_10")

    @admin.display(description="popular p@10")
    def popularity_precision_at_10(self, run):
        return self._metric(run, "popularity_precision_at_10")

    @admin.display(description="parameters")
    def params_pretty(self, run):
        return _pretty(run.params)

    @admin.display(description="timings (s)")
    def timings_pretty(self, run):
        return _pretty(run.timings)

    @admin.display(description="metrics")
    def metrics_pretty(self, run):
        return _pretty(run.metrics)

    @admin.display(description="grid candidates")
    def candidates_pretty(self, run):
        return _pretty(run.candidates)

    @admin.action(description="Serve this run (it must have succeeded and still have its rows)")
    def activate(self, request, queryset):
        if queryset.count() != 1:
            self.message_user(request, "Choose exactly one run.", messages.ERROR)
            return
        try:
            run = model_run_activate(run=queryset.get())
        except ValidationError as error:
            self.message_user(request, " ".join(error.messages), messages.ERROR)
            return
        self.message_user(request, f"Run #{run.pk} is now served.", messages.SUCCESS)


class RunRowAdmin(admin.ModelAdmin):
    paginator = EstimatedCountPaginator
    show_full_result_count = False
    list_per_page = 50
    raw_id_fields = ("run",)

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(Recommendation)
class RecommendationAdmin(RunRowAdmin):
    list_display = ("run_id", "user_id", "rank", "title_id", "score", "predicted_rating", "confidence")
    search_fields = ("=user__id", "=title__tconst", "=run__id")
    ordering = ("run_id", "user_id", "rank")


@admin.register(UserFactor)
class UserFactorAdmin(RunRowAdmin):
    list_display = ("run_id", "user_id", "bias", "community_id")
    search_fields = ("=user__id", "=run__id")


@admin.register(TitleFactor)
class TitleFactorAdmin(RunRowAdmin):
    list_display = ("run_id", "title_id", "support", "bias")
    search_fields = ("=title__tconst", "=run__id")


@admin.register(SimilarTitle)
class SimilarTitleAdmin(RunRowAdmin):
    list_display = ("run_id", "title_id", "rank", "similar_id", "score")
    search_fields = ("=title__tconst", "=run__id")


@admin.register(TasteCommunity)
class TasteCommunityAdmin(admin.ModelAdmin):
    list_display = ("id", "run_id", "number", "name", "size")
    search_fields = ("name", "=run__id")
    raw_id_fields = ("run",)


@admin.register(UserFoldIn)
class UserFoldInAdmin(admin.ModelAdmin):
    list_display = ("user_id", "run_id", "stale", "bias", "updated_at")
    list_filter = ("stale",)
    search_fields = ("=user__id",)
    raw_id_fields = ("user", "run")
