"""The staff pages, included at ``system/``. The paths are the ones the pages had when each app
served its own panel (bookmarks, scripts and the site's JavaScript use them)."""

from django.urls import path

from system import views

app_name = "system"

urlpatterns = [
    path("", views.index, name="index"),
    path("models/", views.models, name="models"),
    path("catalog/import/", views.import_start, name="import_start"),
    path("catalog/import/<int:run_id>/progress/", views.import_progress, name="import_progress"),
    path("ratings/synthetic/generate/", views.synthetic_generate, name="synthetic_generate"),
    path("ratings/synthetic/remove/", views.synthetic_remove, name="synthetic_remove"),
    path("ratings/synthetic/<int:run_id>/progress/", views.synthetic_progress, name="synthetic_progress"),
    path("recommender/train/", views.train_start, name="train_start"),
    path("recommender/train/<int:run_id>/progress/", views.train_progress, name="train_progress"),
]
