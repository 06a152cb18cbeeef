import hmac

from django.conf import settings
from django.http import HttpResponse, JsonResponse
from django.shortcuts import render
from django.views.decorators.cache import never_cache

from imdbrec.health import health_snapshot


def _has_health_token(request) -> bool:
    """``Authorization: Bearer <HEALTH_TOKEN>``, compared in constant time; no token configured: never."""
    expected = getattr(settings, "HEALTH_TOKEN", "")
    scheme, _, given = request.headers.get("Authorization", "").partition(" ")
    return bool(expected) and scheme.lower() == "bearer" and hmac.compare_digest(given.encode(), expected.encode())


@never_cache
def health(request):
    """200 ``{"status": "ok"}`` or 503 ``{"status": "unavailable"}`` from the last health report
    (``imdbrec.health.health_snapshot``, at most a few seconds old; no check runs in the request).

    The report itself (versions, host names, the failing part) is for staff (the system page) and
    for monitoring holding ``HEALTH_TOKEN``: it tells an attacker what runs where.
    """
    report = health_snapshot()
    status = 200 if report["ok"] else 503
    if _has_health_token(request):
        return JsonResponse(report, status=status)
    return JsonResponse({"status": "ok" if report["ok"] else "unavailable"}, status=status)


def rate_limited(request, exception):
    """429 for a request over a rate limit (``RATELIMIT_VIEW``; see ``imdbrec.ratelimits``)."""
    retry_after = getattr(exception, "retry_after", 60)
    message = str(exception) or "Too many requests; try again in a minute."
    if request.headers.get("x-requested-with") == "XMLHttpRequest":
        response = HttpResponse(message, status=429, content_type="text/plain; charset=utf-8")
    else:
        response = render(request, "request_refused.html", {"status": 429, "message": message}, status=429)
    response["Retry-After"] = str(retry_after)
    return response
