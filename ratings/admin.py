from django.contrib import admin

from ratings.models import NotInterested, Rating, SyntheticRun, WatchlistItem


class UserKindFilter(admin.SimpleListFilter):
    """Site users apart from the synthetic and MovieLens raters, who hold most rows."""

    title = "user kind"
    parameter_name = "user_kind"

    def lookups(self, request, model_admin):
        from accounts.models import User

        return User.Kind.choices

    def queryset(self, request, queryset):
        if self.value():
            return queryset.filter(user__kind=self.value())
        return queryset


class TitleTypeFilter(admin.SimpleListFilter):
    title = "title type"
    parameter_name = "title_type"

    def lookups(self, request, model_admin):
        return [
            (kind, kind) for kind in ("movie", "tvSeries", "tvMiniSeries", "tvMovie", "short", "tvEpisode", "video")
        ]

    def queryset(self, request, queryset):
        if self.value():
            return queryset.filter(title__title_type=self.value())
        return queryset


class UserTitleAdmin(admin.ModelAdmin):
    """Shared by the three per-(user, title) models: search by either side, filter by user kind."""

    list_select_related = ["user", "title"]
    # The user and title tables are large: pick by id with a search popup instead of a huge <select>.
    raw_id_fields = ["user", "title"]
    search_fields = ["user__username", "=user__id", "title__tconst", "title__primary_title"]
    list_filter = [UserKindFilter, TitleTypeFilter, "created_at"]
    date_hierarchy = "created_at"
    show_full_result_count = False

    @admin.display(description="title", ordering="title__primary_title")
    def title_name(self, obj):
        return f"{obj.title.primary_title} ({obj.title_id})"


@admin.register(Rating)
class RatingAdmin(UserTitleAdmin):
    list_display = ["user", "title_name", "score", "updated_at"]
    list_filter = ["score", UserKindFilter, TitleTypeFilter, "updated_at"]
    readonly_fields = ["created_at", "updated_at"]
    ordering = ["-updated_at"]


@admin.register(WatchlistItem)
class WatchlistItemAdmin(UserTitleAdmin):
    list_display = ["user", "title_name", "created_at"]
    readonly_fields = ["created_at"]
    ordering = ["-created_at"]


@admin.register(NotInterested)
class NotInterestedAdmin(UserTitleAdmin):
    list_display = ["user", "title_name", "created_at"]
    readonly_fields = ["created_at"]
    ordering = ["-created_at"]


@admin.register(SyntheticRun)
class SyntheticRunAdmin(admin.ModelAdmin):
    """The synthetic crowd's jobs, started from the staff system page; read-only history."""

    list_display = ["id", "action", "status", "params", "created_at", "finished_at"]
    list_filter = ["status", "action"]
    search_fields = ["error", "task_id"]
    readonly_fields = [
        "action",
        "status",
        "params",
        "result",
        "progress",
        "progress_message",
        "error",
        "task_id",
        "created_at",
        "started_at",
        "finished_at",
        "heartbeat_at",
    ]

    def has_add_permission(self, request):
        return False  # runs are started from the system page

    def has_change_permission(self, request, obj=None):
        return False
