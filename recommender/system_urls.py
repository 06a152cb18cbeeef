"""Staff-only endpoints of the recommender's system panel, included at ``system/recommender/``."""

from django.urls import path

from recommender import system_views

app_name = "recommender_system"

urlpatterns = [
    path("train/", system_views.train_start, name="train_start"),
    path("train/<int:run_id>/progress/", system_views.train_progress, name="train_progress"),
]
