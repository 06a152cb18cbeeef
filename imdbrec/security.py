"""Small hooks that keep hostile input from turning into server errors."""

from django.conf import settings

USERNAME_MAX_LENGTH = 150  # accounts.User.username; no real user name is longer


def axes_username(request, credentials: dict | None = None) -> str | None:
    """The user name django-axes records for a login attempt (``AXES_USERNAME_CALLABLE``).

    Axes' default is the posted value as it is, stored in a 255-character column: a longer one
    (a hostile post to the login form) raised DataError, a 500 on the login page. Cut to the
    longest real user name, it is recorded and counted like any other failed attempt.
    """
    field = getattr(settings, "AXES_USERNAME_FORM_FIELD", "username")
    if credentials:
        username = credentials.get(field)
    else:
        username = getattr(request, "data", request.POST).get(field)
    return username[:USERNAME_MAX_LENGTH] if isinstance(username, str) else username
