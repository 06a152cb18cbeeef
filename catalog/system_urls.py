"""Staff-only endpoints of the catalog's system panel, included at ``system/catalog/``."""

from django.urls import path

from catalog import system_views

app_name = "catalog_system"

urlpatterns = [
    path("import/", system_views.import_start, name="import_start"),
    path("import/<int:run_id>/progress/", system_views.import_progress, name="import_progress"),
]
