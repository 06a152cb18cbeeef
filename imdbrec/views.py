import importlib
import importlib.util

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import JsonResponse
from django.shortcuts import render
from django.views.decorators.cache import never_cache

from imdbrec.health import system_health


@never_cache
def health(request):
    """JSON state of Postgres, Redis, Celery workers and Spark: 200 when all is well, else 503."""
    report = system_health()
    return JsonResponse(report, status=200 if report["ok"] else 503)


def staff_required(view):
    """Anonymous users go to the login page; signed-in non-staff get 403."""

    @login_required
    def wrapper(request, *args, **kwargs):
        if not request.user.is_staff:
            raise PermissionDenied("This page is for staff only.")
        return view(request, *args, **kwargs)

    wrapper.__name__ = view.__name__
    wrapper.__doc__ = view.__doc__
    return wrapper


@never_cache
@staff_required
def system(request):
    """The staff system page: service health, data status, background jobs."""
    return render(request, "system/system.html", {"health": system_health(), "panels": _system_panels(request)})


# Each app may contribute a panel to the system page: ``<app>/system.py`` with
# ``panel(request) -> {"template": "...", **context}``.
SYSTEM_PANEL_APPS = ("catalog", "ratings", "recommender")


def _system_panels(request) -> list[dict]:
    panels = []
    for app in SYSTEM_PANEL_APPS:
        if importlib.util.find_spec(f"{app}.system") is not None:
            panel = importlib.import_module(f"{app}.system").panel(request)
            if panel:
                panels.append(panel)
    return panels
