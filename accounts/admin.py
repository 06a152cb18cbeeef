from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin
from django.db.models import Count

from accounts.models import User


class PersonaFilter(admin.SimpleListFilter):
    """The synthetic users' hidden personas, read from the data (the generator defines them)."""

    title = "persona"
    parameter_name = "persona"

    def lookups(self, request, model_admin):
        personas = User.objects.exclude(persona="").order_by("persona").values_list("persona", flat=True).distinct()
        return [(persona, persona) for persona in personas]

    def queryset(self, request, queryset):
        return queryset.filter(persona=self.value()) if self.value() else queryset


@admin.register(User)
class UserAdmin(DjangoUserAdmin):
    """Site users, synthetic raters and MovieLens raters, filterable by kind and persona."""

    list_display = (
        "username",
        "email",
        "kind",
        "persona",
        "rating_count",
        "is_staff",
        "is_active",
        "date_joined",
        "last_login",
    )
    list_filter = ("kind", PersonaFilter, "is_staff", "is_superuser", "is_active")
    search_fields = ("username", "email", "external_id", "first_name", "last_name")
    ordering = ("-date_joined",)
    list_per_page = 50
    fieldsets = (
        *(DjangoUserAdmin.fieldsets or ()),  # typed optional; Django's UserAdmin always sets it
        ("Recommender", {"fields": ("kind", "persona", "external_id", "favourite_genres")}),
    )
    add_fieldsets = (
        *DjangoUserAdmin.add_fieldsets,
        ("Recommender", {"classes": ("wide",), "fields": ("email", "kind")}),
    )

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(rating_count=Count("ratings", distinct=True))

    @admin.display(description="ratings", ordering="rating_count")
    def rating_count(self, obj) -> int:
        return obj.rating_count
