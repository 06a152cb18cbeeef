from django.http import JsonResponse
from django.views.decorators.cache import never_cache

from imdbrec.health import system_health


@never_cache
def health(request):
    """JSON state of Postgres, Redis, Celery workers and Spark: 200 when all is well, else 503."""
    report = system_health()
    return JsonResponse(report, status=200 if report["ok"] else 503)
