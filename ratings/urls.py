from django.urls import path

from ratings import views

app_name = "ratings"

urlpatterns = [
    path("titles/<str:tconst>/rate/", views.title_rate, name="rate"),
    path("titles/<str:tconst>/watchlist/", views.title_watchlist, name="watchlist_toggle"),
    path("titles/<str:tconst>/not-interested/", views.title_not_interested, name="not_interested_toggle"),
    path("me/ratings/", views.history, name="history"),
    path("me/stats/", views.statistics, name="stats"),
    path("me/watchlist/", views.watchlist, name="watchlist"),
    path("me/not-interested/", views.not_interested, name="not_interested"),
    path("me/import/", views.imdb_import, name="import"),
    path("me/import/<int:run_id>/", views.imdb_import_report, name="import_report"),
    path("me/import/<int:run_id>/progress/", views.imdb_import_progress, name="import_progress"),
]
