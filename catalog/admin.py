"""Admin for the catalog: IMDb's tables (for looking things up) and the import runs and rejects.

The IMDb tables hold millions of rows, so: filters offer fixed choices (no SELECT DISTINCT over
the table), foreign keys are raw ids (no select of twelve million titles), related objects are
shown by their ids (a dangling reference in a partial dump must not hide the row), and an
unfiltered list counts with Postgres' estimate instead of ``count(*)``.
"""

from django.contrib import admin
from django.urls import reverse
from django.utils.html import format_html, format_html_join

from catalog.importing.datasets import DATASET_NAMES
from catalog.models import (
    Crew,
    Episode,
    Genre,
    ImportReject,
    ImportRun,
    Person,
    Principal,
    Title,
    TitleAka,
    TitleRating,
    TitleType,
)
from imdbrec.pagination import EstimatedCountPaginator
from imdbrec.parsing import ascii_int

PRINCIPAL_CATEGORIES = (
    "actor",
    "actress",
    "self",
    "director",
    "writer",
    "producer",
    "composer",
    "cinematographer",
    "editor",
    "production_designer",
    "casting_director",
    "archive_footage",
    "archive_sound",
)


class BigTableAdmin(admin.ModelAdmin):
    paginator = EstimatedCountPaginator
    show_full_result_count = False
    list_per_page = 50


class RemovedFilter(admin.SimpleListFilter):
    title = "in the latest dump"
    parameter_name = "removed"

    def lookups(self, request, model_admin):
        return (("no", "Present"), ("yes", "Removed from IMDb"))

    def queryset(self, request, queryset):
        if self.value() == "no":
            return queryset.filter(removed_at__isnull=True)
        if self.value() == "yes":
            return queryset.filter(removed_at__isnull=False)
        return queryset


class TitleTypeFilter(admin.SimpleListFilter):
    title = "type"
    parameter_name = "type"

    def lookups(self, request, model_admin):
        return TitleType.choices

    def queryset(self, request, queryset):
        return queryset.filter(title_type=self.value()) if self.value() else queryset


class GenreFilter(admin.SimpleListFilter):
    title = "genre"
    parameter_name = "genre"

    def lookups(self, request, model_admin):
        return Genre.choices

    def queryset(self, request, queryset):
        # genres @> ARRAY[...] uses the GIN index
        return queryset.filter(genres__contains=[self.value()]) if self.value() else queryset


class DecadeFilter(admin.SimpleListFilter):
    title = "year"
    parameter_name = "decade"

    def lookups(self, request, model_admin):
        return [(str(decade), f"{decade}s") for decade in range(2020, 1870, -10)] + [("none", "Unknown")]

    def queryset(self, request, queryset):
        if self.value() == "none":
            return queryset.filter(start_year__isnull=True)
        decade = ascii_int(self.value(), max_digits=4)
        if decade is not None:
            return queryset.filter(start_year__gte=decade, start_year__lt=decade + 10)
        return queryset


class CategoryFilter(admin.SimpleListFilter):
    title = "category"
    parameter_name = "category"

    def lookups(self, request, model_admin):
        return [(category, category.replace("_", " ")) for category in PRINCIPAL_CATEGORIES]

    def queryset(self, request, queryset):
        return queryset.filter(category=self.value()) if self.value() else queryset


def _link(model: str, key: str | None):
    if not key:
        return "—"
    return format_html('<a href="{}">{}</a>', reverse(f"admin:catalog_{model}_change", args=[key]), key)


@admin.register(Title)
class TitleAdmin(BigTableAdmin):
    list_display = (
        "tconst",
        "primary_title",
        "title_type",
        "start_year",
        "genre_list",
        "average_rating",
        "num_votes",
        "removed_at",
    )
    list_filter = (TitleTypeFilter, GenreFilter, DecadeFilter, RemovedFilter)
    search_fields = ("=tconst", "primary_title")
    ordering = ("-num_votes",)

    @admin.display(description="genres")
    def genre_list(self, title):
        return ", ".join(title.genres)


@admin.register(Person)
class PersonAdmin(BigTableAdmin):
    list_display = ("nconst", "primary_name", "birth_year", "death_year", "profession_list", "removed_at")
    list_filter = (RemovedFilter,)
    search_fields = ("=nconst", "primary_name")
    ordering = ("nconst",)

    @admin.display(description="professions")
    def profession_list(self, person):
        return ", ".join(profession.replace("_", " ") for profession in person.primary_profession)


@admin.register(TitleRating)
class TitleRatingAdmin(BigTableAdmin):
    list_display = ("title_id", "average_rating", "num_votes", "removed_at")
    list_filter = (RemovedFilter,)
    search_fields = ("=title__tconst",)
    raw_id_fields = ("title",)
    ordering = ("-num_votes",)


@admin.register(TitleAka)
class TitleAkaAdmin(BigTableAdmin):
    list_display = (
        "aka_title",
        "title_link",
        "ordering",
        "region",
        "language",
        "type_list",
        "is_original_title",
        "removed_at",
    )
    list_filter = ("is_original_title", RemovedFilter)
    search_fields = ("=title__tconst", "aka_title")
    raw_id_fields = ("title",)
    ordering = ("title_id", "ordering")

    @admin.display(description="title", ordering="title_id")
    def title_link(self, aka):
        return _link("title", aka.title_id)

    @admin.display(description="types")
    def type_list(self, aka):
        return ", ".join(aka.types + aka.attributes)


@admin.register(Crew)
class CrewAdmin(BigTableAdmin):
    list_display = ("title_link", "role", "person_link", "ordering", "removed_at")
    list_filter = ("role", RemovedFilter)
    search_fields = ("=title__tconst", "=person__nconst")
    raw_id_fields = ("title", "person")
    ordering = ("title_id", "role", "ordering")

    @admin.display(description="title", ordering="title_id")
    def title_link(self, crew):
        return _link("title", crew.title_id)

    @admin.display(description="person", ordering="person_id")
    def person_link(self, crew):
        return _link("person", crew.person_id)


@admin.register(Episode)
class EpisodeAdmin(BigTableAdmin):
    list_display = ("title_link", "parent_link", "season_number", "episode_number", "removed_at")
    list_filter = (RemovedFilter,)
    search_fields = ("=title__tconst", "=parent__tconst")
    raw_id_fields = ("title", "parent")
    ordering = ("parent_id", "season_number", "episode_number")

    @admin.display(description="episode", ordering="title_id")
    def title_link(self, episode):
        return _link("title", episode.title_id)

    @admin.display(description="series", ordering="parent_id")
    def parent_link(self, episode):
        return _link("title", episode.parent_id)


@admin.register(Principal)
class PrincipalAdmin(BigTableAdmin):
    list_display = ("title_link", "ordering", "person_link", "category", "job", "character_list", "removed_at")
    list_filter = (CategoryFilter, RemovedFilter)
    search_fields = ("=title__tconst", "=person__nconst")
    raw_id_fields = ("title", "person")
    ordering = ("title_id", "ordering")

    @admin.display(description="title", ordering="title_id")
    def title_link(self, principal):
        return _link("title", principal.title_id)

    @admin.display(description="person", ordering="person_id")
    def person_link(self, principal):
        return _link("person", principal.person_id)

    @admin.display(description="characters")
    def character_list(self, principal):
        return "; ".join(principal.characters)


COUNT_COLUMNS = ("lines", "loaded", "rejected", "inserted", "updated", "removed")
LOAD_ORDER = {name: position for position, name in enumerate(DATASET_NAMES)}


@admin.register(ImportRun)
class ImportRunAdmin(admin.ModelAdmin):
    list_display = ("id", "status", "source", "file_list", "lines", "rejected", "created_at", "duration")
    list_filter = ("status",)
    search_fields = ("source", "error")
    readonly_fields = (
        "status",
        "source",
        "files",
        "file_counts",
        "error",
        "current_file",
        "rows_done",
        "rows_total",
        "task_id",
        "created_at",
        "started_at",
        "finished_at",
        "reject_link",
    )
    exclude = ("counts",)

    def has_add_permission(self, request):
        return False  # runs are started by `import_imdb` or the system page

    def has_change_permission(self, request, obj=None):
        return False

    def _total(self, run, key):
        return sum(int(result.get(key) or 0) for result in (run.counts or {}).values())

    @admin.display(description="files")
    def file_list(self, run):
        return ", ".join(run.counts) if run.counts else ", ".join(run.files) or "all"

    @admin.display(description="lines")
    def lines(self, run):
        return f"{self._total(run, 'lines'):,}"

    @admin.display(description="rejected")
    def rejected(self, run):
        return f"{self._total(run, 'rejected'):,}"

    @admin.display(description="duration")
    def duration(self, run):
        if run.started_at and run.finished_at:
            return f"{(run.finished_at - run.started_at).total_seconds():.1f} s"
        return "—"

    @admin.display(description="counts per file")
    def file_counts(self, run):
        if not run.counts:
            return "—"
        header = format_html_join(
            "", "<th>{}</th>", ((column,) for column in ("file", "mode", *COUNT_COLUMNS, "seconds", "error"))
        )
        rows = format_html_join(
            "",
            "<tr><td>{}</td><td>{}</td>" + "<td>{}</td>" * len(COUNT_COLUMNS) + "<td>{}</td><td>{}</td></tr>",
            (
                (
                    result.get("file", name),
                    result.get("mode", ""),
                    *(f"{int(result.get(column) or 0):,}" for column in COUNT_COLUMNS),
                    result.get("seconds", ""),
                    result.get("error", ""),
                )
                for name, result in sorted(run.counts.items(), key=lambda item: LOAD_ORDER.get(item[0], 99))
            ),
        )
        return format_html("<table><thead><tr>{}</tr></thead><tbody>{}</tbody></table>", header, rows)

    @admin.display(description="rejects")
    def reject_link(self, run):
        count = run.rejects.count()
        url = reverse("admin:catalog_importreject_changelist") + f"?run__id__exact={run.pk}"
        return format_html('<a href="{}">{} rejected lines</a>', url, f"{count:,}")


@admin.register(ImportReject)
class ImportRejectAdmin(admin.ModelAdmin):
    list_display = ("run", "file", "line", "reason", "raw_start")
    list_filter = ("file", "run")
    search_fields = ("reason", "raw")
    list_select_related = ("run",)
    readonly_fields = ("run", "file", "line", "reason", "raw")
    paginator = EstimatedCountPaginator

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    @admin.display(description="raw line")
    def raw_start(self, reject):
        return reject.raw if len(reject.raw) <= 80 else reject.raw[:80] + "…"
