import importlib
import importlib.util

from django.http import JsonResponse
from django.shortcuts import render
from django.views.decorators.cache import never_cache

from imdbrec.decorators import staff_required
from imdbrec.health import system_health


@never_cache
def health(request):
    """JSON state of Postgres, Redis, Celery workers and Spark: 200 when all is well, else 503."""
    report = system_health()
    return JsonResponse(report, status=200 if report["ok"] else 503)


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
