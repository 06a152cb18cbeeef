"""The Celery application. Tasks live in each app's ``tasks.py`` as ``@shared_task``."""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "imdbrec.settings.dev")

app = Celery("imdbrec")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
