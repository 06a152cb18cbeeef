"""Sign-up, profile and account deletion. Log in, log out (POST), password change and reset are
django.contrib.auth's own views (``imdbrec/urls.py``) with this site's templates."""

from django.contrib import messages
from django.contrib.auth import login, logout
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.shortcuts import redirect, render
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.debug import sensitive_post_parameters
from django.views.decorators.http import require_http_methods

from accounts import services
from accounts.extensions import delete_sections, profile_sections
from accounts.forms import AccountDeleteForm, LockoutPasswordChangeForm, ProfileForm, SignupForm
from imdbrec.extensions import stylesheets_of
from imdbrec.ratelimits import rate_limited


def _safe_next(request, fallback: str = "home") -> str:
    candidate = request.POST.get("next") or request.GET.get("next") or ""
    if candidate and url_has_allowed_host_and_scheme(
        candidate, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return candidate
    return fallback


@sensitive_post_parameters("password1", "password2")
@require_http_methods(["GET", "POST"])
@rate_limited("signup", methods=("POST",))
def signup(request):
    if request.user.is_authenticated:
        return redirect(_safe_next(request))
    form = SignupForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            user = services.user_signup(
                username=form.cleaned_data["username"],
                email=form.cleaned_data["email"],
                password=form.cleaned_data["password1"],
            )
        except ValidationError as error:
            form.add_error(None, error)
        else:
            login(request, user, backend="accounts.backends.SiteUserBackend")
            messages.success(request, f"Welcome, {user.username}! Rate a few titles you know to get recommendations.")
            # A new member starts with onboarding: the quickest way to personal recommendations.
            return redirect(_safe_next(request, "recommender:onboarding"))
    return render(request, "registration/signup.html", {"form": form, "next": _safe_next(request, "")})


@login_required
@require_http_methods(["GET", "POST"])
def profile(request):
    form = ProfileForm(request.POST or None, instance=request.user, request=request)
    if request.method == "POST" and form.is_valid():
        try:
            services.user_profile_update(
                user=request.user,
                email=form.cleaned_data["email"],
                favourite_genres=form.cleaned_data["favourite_genres"],
            )
        except ValidationError as error:
            form.add_error(None, error)
        else:
            messages.success(request, "Your profile was saved.")
            return redirect("accounts:profile")
    # The apps above accounts add their sections (ratings summary, taste community...).
    sections = profile_sections.collect(request=request)
    return render(
        request,
        "accounts/profile.html",
        {"form": form, "profile_sections": sections, "stylesheets": stylesheets_of(sections)},
    )


@sensitive_post_parameters("password")
@login_required
@require_http_methods(["GET", "POST"])
def account_delete(request):
    form = AccountDeleteForm(request.POST or None, user=request.user, request=request)
    if request.method == "POST" and form.is_valid():
        username = request.user.username
        services.user_delete(user=request.user)
        logout(request)
        messages.success(request, f"The account {username} and all its data were deleted. Goodbye!")
        return redirect("home")
    # What the apps above offer first: ratings offers the member's data to take away.
    sections = delete_sections.collect(request=request)
    context = {"form": form, "delete_sections": sections, "stylesheets": stylesheets_of(sections)}
    return render(request, "accounts/delete.html", context)


class PasswordChangeView(auth_views.PasswordChangeView):
    """django.contrib.auth's view; a wrong old password counts towards the login lockout."""

    form_class = LockoutPasswordChangeForm

    def get_form_kwargs(self):
        return {**super().get_form_kwargs(), "request": self.request}
