"""The Celery application. Tasks live in each app's ``tasks.py`` as ``@shared_task``."""

import os

from celery import Celery

# Workers and beat are server processes, and importing anything in ``imdbrec`` (wsgi.py included)
# runs this line first: production unless told otherwise, like wsgi.py and asgi.py. The Makefile
# exports imdbrec.settings.dev for the local demo; manage.py sets dev before it gets here.
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "imdbrec.settings.production")

app = Celery("imdbrec")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
