"""Rate limits on the expensive and the abusable actions, per member and per address (django-ratelimit).

Each action has a rate per address (``ip``: the IPv4 address, or the IPv6 /64) and, where a member
does it, per member (``user_or_ip``); ``settings.RATE_LIMITS`` holds them, so a deployment tunes
them without code. A request over a limit gets a 429 page saying when to try again
(``imdbrec.views.rate_limited``, through django-ratelimit's middleware).

- ``search``, ``import`` (POST), ``export`` (``?format=csv``), ``signup`` (POST), ``password-reset``
  (POST; per address and per e-mail address asked for): every request counts.
- ``login-failures``: only failed logins count (``user_login_failed``), per address across every user
  name tried, on top of django-axes' lockout of one user name from one address. A login from an
  address over the limit is refused before the password is checked.

The counters live in the cache (``RATELIMIT_USE_CACHE``), a few bytes per address or member and
action, expiring with their window. When the cache is down the limits are off
(``RATELIMIT_FAIL_OPEN``): the site keeps answering, as it does for its other cached parts.
Behind a reverse proxy set ``CLIENT_IP_HEADER`` (e.g. ``HTTP_X_FORWARDED_FOR``), or every visitor
shares the proxy's address: ``client_ip`` then takes the last address of that header (the one the
proxy itself appended; earlier ones are whatever the client sent) and falls back to REMOTE_ADDR
when it is missing or not an address, so a forged header is never a 500.
"""

from __future__ import annotations

import functools
import ipaddress

from django.conf import settings
from django.contrib.auth.signals import user_login_failed
from django.dispatch import receiver
from django_ratelimit.core import get_usage
from django_ratelimit.exceptions import Ratelimited

KEYS = {"ip": "ip", "user": "user_or_ip", "email": "post:email"}


def client_ip(request) -> str:
    """The client's address for the limits (``RATELIMIT_IP_META_KEY``); see the module docstring."""
    header = getattr(settings, "CLIENT_IP_HEADER", "")
    if header:
        candidate = request.META.get(header, "").split(",")[-1].strip()
        try:
            return str(ipaddress.ip_address(candidate))
        except ValueError:
            pass
    return request.META.get("REMOTE_ADDR") or "0.0.0.0"  # noqa: S104 - an address to count, not to bind


def _rate(group: str, request) -> str | None:
    action, _, key = group.partition(":")
    return settings.RATE_LIMITS.get(action, {}).get(key)


def _usage(request, action: str, *, increment: bool) -> list[dict]:
    usages = []
    for key in settings.RATE_LIMITS.get(action, {}):
        usage = get_usage(request, group=f"{action}:{key}", key=KEYS[key], rate=_rate, increment=increment)
        if usage is not None:
            usages.append(usage)
    return usages


def rate_limit_check(request, action: str) -> None:
    """Count this request against ``action``'s limits; raise ``Ratelimited`` (a 429) when over one."""
    usages = _usage(request, action, increment=True)
    over = [usage for usage in usages if usage["should_limit"]]
    if over:
        raise RateLimited(action=action, retry_after=max(usage["time_left"] for usage in over))


def rate_limited(action: str, *, methods: tuple[str, ...] = ("GET", "POST")):
    """View decorator: ``rate_limit_check(request, action)`` for requests of ``methods``.

    ``RateLimitEarlyMiddleware`` makes the same check before the CSRF check reads the body (a
    5 MB upload over the limit is refused without being parsed); the decorator then does not
    count the request again, and still checks where that middleware is not installed.
    """

    def decorator(view):
        @functools.wraps(view)
        def wrapped(request, *args, **kwargs):
            if request.method in methods and not getattr(request, "_rate_limits_checked", False):
                rate_limit_check(request, action)
            return view(request, *args, **kwargs)

        wrapped.rate_limit = (action, methods)
        return wrapped

    return decorator


class RateLimitEarlyMiddleware:
    """Checks a ``rate_limited`` view's limits before the views' other middleware run; place it
    before ``CsrfViewMiddleware``, which reads (and for an upload, parses) the whole body."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        return self.get_response(request)

    def process_view(self, request, view_func, view_args, view_kwargs):
        action, methods = getattr(view_func, "rate_limit", (None, ()))
        if action is None or request.method not in methods:
            return None
        request._rate_limits_checked = True
        try:
            rate_limit_check(request, action)
        except RateLimited as error:
            from imdbrec.views import rate_limited as refusal

            _drain(request)
            return refusal(request, error)
        return None


def _drain(request) -> None:
    """Read the unread body away without parsing it (RequestGuardMiddleware has bounded its size):
    closing the connection on an upload still being sent would show the member a "connection
    reset" instead of the 429 page. Reading costs little; parsing is what was expensive."""
    while request.read(1 << 16):
        pass


def login_failures_limited(view):
    """The login view, refusing a POST from an address with too many failed logins lately."""

    @functools.wraps(view)
    def wrapped(request, *args, **kwargs):
        if request.method == "POST":
            # N failures allowed: the attempt after the N-th is refused before the password is checked.
            usages = _usage(request, "login-failures", increment=False)
            over = [usage for usage in usages if usage["count"] >= usage["limit"]]
            if over:
                raise RateLimited(action="login-failures", retry_after=max(usage["time_left"] for usage in over))
        return view(request, *args, **kwargs)

    return wrapped


@receiver(user_login_failed, dispatch_uid="imdbrec.ratelimits.login_failed")
def _login_failed(sender, credentials=None, request=None, **kwargs):
    if request is not None:
        _usage(request, "login-failures", increment=True)


class RateLimited(Ratelimited):
    """``Ratelimited`` that says which action and when it may be tried again."""

    WORDS = {
        "search": "searches",
        "import": "imports",
        "export": "exports",
        "stats": "views of your statistics",
        "recommendations": "views of your recommendations",
        "signup": "sign-ups",
        "password-reset": "password reset requests",
        "login-failures": "failed logins",
    }

    def __init__(self, *, action: str, retry_after: int):
        self.action = action
        self.retry_after = max(1, int(retry_after))
        super().__init__(f"Too many {self.WORDS.get(action, action)}; try again in {self.retry_after} s.")
