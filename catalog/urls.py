from django.urls import path

from catalog import views

app_name = "catalog"

urlpatterns = [
    path("titles/", views.title_list, name="title_list"),
    path("titles/<str:tconst>/", views.title_detail, name="title_detail"),
    path("people/<str:nconst>/", views.person_detail, name="person_detail"),
    path("search/", views.search, name="search"),
]
