from django.urls import path

from recommender import views

app_name = "recommender"

urlpatterns = [
    path("recommendations/", views.recommendations, name="recommendations"),
    path("recommendations/controls/", views.recommendations_controls, name="recommendations_controls"),
    path("recommendations/refresh/", views.recommendations_refresh, name="recommendations_refresh"),
    path("onboarding/", views.onboarding_view, name="onboarding"),
    path("onboarding/progress/", views.onboarding_progress, name="onboarding_progress"),
    path("communities/", views.community_list, name="community_list"),
    path("communities/<int:pk>/", views.community_detail, name="community_detail"),
    path("titles/<str:tconst>/similar/", views.similar_titles, name="similar_titles"),
]
