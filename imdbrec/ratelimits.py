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
Behind a reverse proxy set ``RATELIMIT_IP_META_KEY`` to the header the proxy writes the client's
address into, or every visitor shares the proxy's address.
"""

from __future__ import annotations

import functools

from django.conf import settings
from django.contrib.auth.signals import user_login_failed
from django.dispatch import receiver
from django_ratelimit.core import get_usage
from django_ratelimit.exceptions import Ratelimited

KEYS = {"ip": "ip", "user": "user_or_ip", "email": "post:email"}


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
    """View decorator: ``rate_limit_check(request, action)`` for requests of ``methods``."""

    def decorator(view):
        @functools.wraps(view)
        def wrapped(request, *args, **kwargs):
            if request.method in methods:
                rate_limit_check(request, action)
            return view(request, *args, **kwargs)

        return wrapped

    return decorator


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
        "signup": "sign-ups",
        "password-reset": "password reset requests",
        "login-failures": "failed logins",
    }

    def __init__(self, *, action: str, retry_after: int):
        self.action = action
        self.retry_after = max(1, int(retry_after))
        super().__init__(f"Too many {self.WORDS.get(action, action)}; try again in {self.retry_after} s.")
