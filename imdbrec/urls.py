from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path

from accounts import views as accounts_views
from catalog import views as catalog_views
from imdbrec import views
from imdbrec.ratelimits import login_failures_limited, rate_limited

urlpatterns = [
    path("admin/", admin.site.urls),
    path("health/", views.health, name="health"),
    path("system/", include("system.urls")),
    path("accounts/", include("accounts.urls")),
    # django.contrib.auth's views: login, logout (POST), password change and reset.
    path("accounts/password_change/", accounts_views.PasswordChangeView.as_view(), name="password_change"),
    path(
        "accounts/login/",
        login_failures_limited(auth_views.LoginView.as_view(redirect_authenticated_user=True)),
        name="login",
    ),
    path(
        "accounts/password_reset/",
        rate_limited("password-reset", methods=("POST",))(auth_views.PasswordResetView.as_view()),
        name="password_reset",
    ),
    path("accounts/", include("django.contrib.auth.urls")),
    path("", include("ratings.urls")),
    path("", include("recommender.urls")),
    path("", include("catalog.urls")),
    path("", catalog_views.home, name="home"),
]
