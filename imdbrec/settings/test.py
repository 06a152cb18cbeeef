"""Tests: the real Postgres and Redis, fast password hashing, outbox email."""

import os

os.environ.setdefault("DEBUG", "false")
# Tests use their own Redis database so a development worker (make demo) never takes their tasks.
os.environ.setdefault("CELERY_BROKER_URL", "redis://127.0.0.1:6379/9")
# ... and the cache in that database too unless CACHE_URL names one (.ci/run: the cache server).
os.environ.setdefault("CACHE_URL", os.environ["CELERY_BROKER_URL"])
os.environ.setdefault("SECRET_KEY", "test-only-secret-key-with-enough-length-and-entropy-0123456789")

from .base import *  # noqa: E402,F403
from .base import env  # noqa: E402

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
ALLOWED_HOSTS = ["*"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
SPARK_MASTER = env("SPARK_MASTER", default="local[1]")
SPARK_DRIVER_MEMORY = env("SPARK_DRIVER_MEMORY", default="1g")
SPARK_SHUFFLE_PARTITIONS = 2

# Every test client comes from 127.0.0.1: a handful of concurrent "visitors" in a test would be one
# address' flood to imdbrec/inflight.py. Off here, as the rate limits are for the load benchmarks;
# tests/imdbrec/test_inflight.py sets it per test, and tests/reliability/test_hostile_load.py runs
# its gunicorn with CLIENT_LIMITS_IN_TESTS=true: the production default of imdbrec/settings/base.py.
if not env.bool("CLIENT_LIMITS_IN_TESTS", default=False):
    CLIENT_MAX_IN_FLIGHT = 0
