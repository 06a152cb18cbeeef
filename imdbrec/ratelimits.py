"""Rate limits on the expensive and the abusable actions, per member and per address (django-ratelimit).

Each action has a rate per address (``ip``: the IPv4 address, or the IPv6 /64) and, where a member
does it, per member (``member_or_ip``: the session's user id, or the address for a visitor);
``settings.RATE_LIMITS`` holds them, so a deployment tunes them without code. A request over a
limit gets a 429 page saying when to try again (``imdbrec.inflight.refusal`` before the view,
``imdbrec.views.rate_limited`` through django-ratelimit's middleware otherwise).

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
from django.contrib.auth import SESSION_KEY
from django.contrib.auth.signals import user_login_failed
from django.dispatch import receiver
from django_ratelimit.core import get_usage
from django_ratelimit.exceptions import Ratelimited

from imdbrec.inflight import refusal, release_after, slots_acquire


def member_or_ip(group: str, request) -> str:
    """The member's id from the session (one small read; the member row itself is not loaded), or
    the address for a visitor: the ``user`` key of the limits."""
    session = getattr(request, "session", None)
    member = session.get(SESSION_KEY) if session is not None else None
    return f"member:{member}" if member else client_ip(request)


KEYS = {"ip": "ip", "user": member_or_ip, "email": "post:email"}


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


def _usage(request, action: str, *, increment: bool, stop_when_over: bool = False) -> list[dict]:
    """The usages of ``action``'s limits in ``RATE_LIMITS`` order (the address first). With
    ``stop_when_over``, the first limit exceeded ends the count: a request refused on its
    address is refused before its session is read."""
    usages = []
    for key in settings.RATE_LIMITS.get(action, {}):
        usage = get_usage(request, group=f"{action}:{key}", key=KEYS[key], rate=_rate, increment=increment)
        if usage is not None:
            usages.append(usage)
            if stop_when_over and usage["should_limit"]:
                break
    return usages


def rate_limit_check(request, action: str) -> None:
    """Count this request against ``action``'s limits; raise ``Ratelimited`` (a 429) when over one."""
    usages = _usage(request, action, increment=True, stop_when_over=True)
    over = [usage for usage in usages if usage["should_limit"]]
    if over:
        raise RateLimited(action=action, retry_after=max(usage["time_left"] for usage in over))


def rate_limited(action: str, *, methods: tuple[str, ...] = ("GET", "POST"), when=None):
    """View decorator: ``rate_limit_check(request, action)`` for requests of ``methods`` (and, with
    ``when``, only those ``when(request)`` is true of: ``?format=csv`` of the history page).

    ``RateLimitEarlyMiddleware`` makes the same check before the CSRF check reads the body (a
    5 MB upload over the limit is refused without being parsed), and takes the action's place
    among those in flight (``ACTION_MAX_IN_FLIGHT``); the decorator then does not count the
    request again, and still checks the rate where that middleware is not installed.
    """

    def applies(request) -> bool:
        return request.method in methods and (when is None or when(request))

    def decorator(view):
        @functools.wraps(view)
        def wrapped(request, *args, **kwargs):
            if applies(request) and not getattr(request, "_rate_limits_checked", False):
                rate_limit_check(request, action)
            return view(request, *args, **kwargs)

        wrapped.rate_limit = (action, applies)
        return wrapped

    return decorator


def action_slots_limits(request, action: str) -> dict[str, int]:
    """The in-flight counts a request of ``action`` takes a place in: the site's, the member's
    (or for a visitor the address') and the address' (``imdbrec.inflight``)."""
    site_limit = settings.ACTION_MAX_IN_FLIGHT.get(action)
    if not site_limit:
        return {}
    address = client_ip(request)
    member = member_or_ip(action, request)
    limits = {f"{action}:site": site_limit, f"{action}:address:{address}": 1}
    if member != address:
        limits[f"{action}:{member}"] = 1
    return limits


BUSY_WORDS = {"import": "imports", "export": "exports", "stats": "statistics pages"}


class RateLimitEarlyMiddleware:
    """Checks a ``rate_limited`` view's limits before the views' other middleware run; place it
    before ``CsrfViewMiddleware``, which reads (and for an upload, parses) the whole body.

    A refused request costs a few cache reads: the address' limit is checked before the session
    is read, the refusal is a small page of its own (``imdbrec.inflight.refusal``). A request
    within the limits of an action in ``ACTION_MAX_IN_FLIGHT`` then takes its place among that
    action's requests in flight (the site's, the member's, the address'), given back when its
    response has been sent; when one is full it is refused at once, saying so."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        slots = getattr(request, "_action_slots", None)
        return release_after(response, slots) if slots is not None else response

    def process_view(self, request, view_func, view_args, view_kwargs):
        action, applies = getattr(view_func, "rate_limit", (None, None))
        if action is None or not applies(request):
            return None
        request._rate_limits_checked = True
        try:
            rate_limit_check(request, action)
        except RateLimited as error:
            return refusal(request, 429, str(error), retry_after=error.retry_after)
        limits = action_slots_limits(request, action)
        if limits:
            slots, full = slots_acquire(limits)
            if slots is None:
                words = BUSY_WORDS.get(action, action)
                if full.endswith(":site"):
                    message = (
                        f"The site is busy with other {words} just now; nothing was done. Try again in a few seconds."
                    )
                else:
                    message = f"One of your {words} is still being prepared; nothing more was started. Try again when it is done."
                return refusal(request, 429, message, retry_after=5)
            request._action_slots = slots
        return None


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
