from django.urls import path

from ratings import views

app_name = "ratings"

urlpatterns = [
    path("me/ratings/", views.history, name="history"),
    path("me/watchlist/", views.watchlist, name="watchlist"),
]
