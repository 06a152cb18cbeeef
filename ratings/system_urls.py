"""Staff-only endpoints of the ratings panel on the system page, included at ``system/ratings/``."""

from django.urls import path

from ratings import system_views

app_name = "ratings_system"

urlpatterns = [
    path("synthetic/generate/", system_views.synthetic_generate, name="synthetic_generate"),
    path("synthetic/remove/", system_views.synthetic_remove, name="synthetic_remove"),
    path("synthetic/<int:run_id>/progress/", system_views.synthetic_progress, name="synthetic_progress"),
]
