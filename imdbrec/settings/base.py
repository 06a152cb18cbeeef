"""Settings shared by every environment. Everything that differs comes from the environment.

One ``env`` reads the process environment and an optional ``.env`` at the project root.
"""

import importlib.metadata
from pathlib import Path

import environ
from celery.schedules import crontab
from kombu import Queue

BASE_DIR = Path(__file__).resolve().parent.parent.parent

env = environ.Env()
environ.Env.read_env(BASE_DIR / ".env", overwrite=False)

DEBUG = env.bool("DEBUG", default=False)

# No default outside DEBUG: a production process without a key must not start.
if DEBUG:
    SECRET_KEY = env("SECRET_KEY", default="django-insecure-development-only-key-not-for-production")
else:
    SECRET_KEY = env("SECRET_KEY")

ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["localhost", "127.0.0.1", "[::1]"])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django.contrib.postgres",
    "django.contrib.humanize",
    "axes",
    "django_celery_beat",
    "accounts",
    "catalog",
    "ratings",
    "recommender",
    "system",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    # Content-Security-Policy (django-csp, CONTENT_SECURITY_POLICY below) and Permissions-Policy,
    # early so that every answer carries them, the refusals of the middleware below included.
    "csp.middleware.CSPMiddleware",
    "imdbrec.middleware.PermissionsPolicyMiddleware",
    # HTML is compressed (For you: 81 KB, about 7 KB gzipped). BREACH needs a secret that stays the
    # same from response to response beside text the attacker controls: our pages' only secret in
    # the body is the CSRF token, which Django masks afresh in every response, and Django's gzip
    # adds random padding (Heal-The-Breach) on top. The session id never appears in a body.
    "django.middleware.gzip.GZipMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    # At most CLIENT_MAX_IN_FLIGHT requests of one address computed at once; more wait their
    # turn (imdbrec/inflight.py). After WhiteNoise: static files never wait.
    "imdbrec.inflight.ClientInFlightMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    # Rate limits and the expensive actions' places in flight, before the CSRF check reads the
    # body: an upload over a limit is not parsed (imdbrec/ratelimits.py).
    "imdbrec.ratelimits.RateLimitEarlyMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # NUL characters and oversized bodies get a clear 400/413 before any view (imdbrec/middleware.py).
    "imdbrec.middleware.RequestGuardMiddleware",
    # A request over a rate limit (imdbrec/ratelimits.py) becomes the 429 page of RATELIMIT_VIEW.
    "django_ratelimit.middleware.RatelimitMiddleware",
    # Last, as django-axes asks: it sees the outcome of authentication.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "imdbrec.urls"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

WSGI_APPLICATION = "imdbrec.wsgi.application"

DATABASES = {"default": env.db("DATABASE_URL", default="postgres://postgres@127.0.0.1:5432/imdbrec")}
# Short-lived pooled connections are recycled; health checks drop a connection the server closed
# (a Postgres restart) instead of failing the next request on it.
DATABASES["default"]["CONN_MAX_AGE"] = env.int("CONN_MAX_AGE", default=60)
DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
DATABASES["default"].setdefault("OPTIONS", {})["connect_timeout"] = env.int("DATABASE_CONNECT_TIMEOUT", default=5)
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_USER_MODEL = "accounts.User"
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "accounts.backends.SiteUserBackend",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "home"

# Repeated failed logins: django-axes locks the username+IP pair for a while.
AXES_FAILURE_LIMIT = env.int("AXES_FAILURE_LIMIT", default=5)
AXES_COOLOFF_TIME = env.float("AXES_COOLOFF_HOURS", default=0.25)
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_LOCKOUT_TEMPLATE = "registration/lockout.html"
AXES_RESET_ON_SUCCESS = True
# Login records (django-axes' logs of logins and failures: user names, addresses, browsers) are
# deleted after this many days by accounts.tasks.login_records_prune_task, daily.
LOGIN_RECORDS_RETENTION_DAYS = env.int("LOGIN_RECORDS_RETENTION_DAYS", default=30)
# Records at most 150 characters of the posted user name: a longer one was a 500 (imdbrec/security.py).
AXES_USERNAME_CALLABLE = "imdbrec.security.axes_username"

# Content-Security-Policy: scripts, styles, images and fonts from this site only; no inline script
# or style attribute anywhere (charts are SVG elements, colours and widths are classes), no plugins,
# no framing, forms post here only. tests/browser/test_csp.py opens every page type in Chromium and
# fails on any violation.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'"],
        "img-src": ["'self'", "data:"],
        "font-src": ["'self'"],
        "connect-src": ["'self'"],
        "object-src": ["'none'"],
        "base-uri": ["'self'"],
        "form-action": ["'self'"],
        "frame-ancestors": ["'none'"],
    }
}
# Powerful browser features no page here uses, refused to this site and anything it could embed.
PERMISSIONS_POLICY = (
    "accelerometer=(), autoplay=(), camera=(), display-capture=(), geolocation=(), gyroscope=(), "
    "magnetometer=(), microphone=(), midi=(), payment=(), publickey-credentials-get=(), usb=(), "
    "xr-spatial-tracking=(), browsing-topics=()"
)

# /health/ answers only ok/503; monitoring that sends "Authorization: Bearer <HEALTH_TOKEN>" gets the
# report (versions, workers, failing parts). Empty: the report is on the staff system page only.
HEALTH_TOKEN = env("HEALTH_TOKEN", default="")
# How old the health report /health/ answers from may be (the checks run in a background thread).
HEALTH_FRESH_SECONDS = env.float("HEALTH_FRESH_SECONDS", default=5.0)

# Rate limits (imdbrec/ratelimits.py, django-ratelimit): per action, per address ("ip"), per member
# ("user"; an address for visitors) and, for password resets, per e-mail address asked for.
# "N/m", "N/15m", "N/h", ...; RATELIMIT_ENABLE=false turns them all off (load benchmarks).
RATE_LIMITS = {
    "search": {
        "ip": env("RATE_LIMIT_SEARCH_IP", default="60/m"),
        "user": env("RATE_LIMIT_SEARCH_USER", default="30/m"),
    },
    "import": {
        "ip": env("RATE_LIMIT_IMPORT_IP", default="20/h"),
        "user": env("RATE_LIMIT_IMPORT_USER", default="10/h"),
    },
    "export": {
        "ip": env("RATE_LIMIT_EXPORT_IP", default="30/h"),
        "user": env("RATE_LIMIT_EXPORT_USER", default="10/h"),
    },
    # Pages computed per member: a member reloading them many times a second gets a 429.
    "stats": {"ip": env("RATE_LIMIT_STATS_IP", default="60/m"), "user": env("RATE_LIMIT_STATS_USER", default="20/m")},
    "recommendations": {
        "ip": env("RATE_LIMIT_RECOMMENDATIONS_IP", default="120/m"),
        "user": env("RATE_LIMIT_RECOMMENDATIONS_USER", default="60/m"),
    },
    "signup": {"ip": env("RATE_LIMIT_SIGNUP_IP", default="10/h")},
    "password-reset": {
        "ip": env("RATE_LIMIT_PASSWORD_RESET_IP", default="10/h"),
        "email": env("RATE_LIMIT_PASSWORD_RESET_EMAIL", default="3/h"),
    },
    "login-failures": {"ip": env("RATE_LIMIT_LOGIN_FAILURES_IP", default="30/15m")},
}
RATELIMIT_ENABLE = env.bool("RATELIMIT_ENABLE", default=True)
# Requests in flight (imdbrec/inflight.py). Per client address, site-wide: at most this many
# computed at once (0: no limit); one more waits up to CLIENT_WAIT_SECONDS for its turn, then gets
# a 429. At most CLIENT_MAX_WAITING wait in one process: keep it a few below gunicorn's --threads
# (12), so that the waiting requests and the refusals being sent never take a process' last threads.
CLIENT_MAX_IN_FLIGHT = env.int("CLIENT_MAX_IN_FLIGHT", default=2)
CLIENT_WAIT_SECONDS = env.float("CLIENT_WAIT_SECONDS", default=10.0)
CLIENT_MAX_WAITING = env.int("CLIENT_MAX_WAITING", default=8)
# A request that had to wait keeps its address' place this much longer once answered: an address
# that keeps its places full is paced, one within its limit never is.
CLIENT_PACE_SECONDS = env.float("CLIENT_PACE_SECONDS", default=0.5)
# The expensive actions: at most this many computed at once site-wide, and one at a time per
# member and per address; more are refused at once with a 429 saying so.
ACTION_MAX_IN_FLIGHT = {
    "import": env.int("IMPORTS_MAX_IN_FLIGHT", default=2),
    "export": env.int("EXPORTS_MAX_IN_FLIGHT", default=2),
    "stats": env.int("STATS_MAX_IN_FLIGHT", default=2),
}
# An entry of a request whose process died is dropped after this long (gunicorn's --timeout).
IN_FLIGHT_EXPIRES_SECONDS = env.int("IN_FLIGHT_EXPIRES_SECONDS", default=90)
IN_FLIGHT_CACHE_PREFIX = "inflight:"
RATELIMIT_VIEW = "imdbrec.views.rate_limited"
RATELIMIT_FAIL_OPEN = True  # the cache down: no limits rather than no site (imdbrec/ratelimits.py)
RATELIMIT_IP_META_KEY = "imdbrec.ratelimits.client_ip"
# Behind a reverse proxy: the header it writes the client's address into (HTTP_X_FORWARDED_FOR);
# empty: REMOTE_ADDR, the address that connected.
CLIENT_IP_HEADER = env("CLIENT_IP_HEADER", default="")

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STATICFILES_DIRS = [BASE_DIR / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
}

EMAIL_BACKEND = env("EMAIL_BACKEND", default="django.core.mail.backends.console.EmailBackend")
DEFAULT_FROM_EMAIL = env("DEFAULT_FROM_EMAIL", default="imdbrec <noreply@localhost>")

# Uploads (IMDb ratings CSV) are small; anything bigger is refused before it reaches a view.
DATA_UPLOAD_MAX_MEMORY_SIZE = 2 * 1024 * 1024
FILE_UPLOAD_MAX_MEMORY_SIZE = 2 * 1024 * 1024
MAX_RATINGS_UPLOAD_BYTES = env.int("MAX_RATINGS_UPLOAD_BYTES", default=5 * 1024 * 1024)
# Letterboxd ZIPs and imdbID ratings files (ratings.member_imports): uploads this size at most;
# more films than MEMBER_IMPORT_INLINE_ROWS are matched on a worker with progress.
MAX_MEMBER_IMPORT_BYTES = env.int("MAX_MEMBER_IMPORT_BYTES", default=10 * 1024 * 1024)
MEMBER_IMPORT_INLINE_ROWS = env.int("MEMBER_IMPORT_INLINE_ROWS", default=300)
MEMBER_IMPORT_QUEUED_EXPIRES_SECONDS = 6 * 60 * 60
# Rows of one IMDb ratings import: IMDb's most prolific raters have about 10,000; more is refused.
MAX_RATINGS_IMPORT_ROWS = env.int("MAX_RATINGS_IMPORT_ROWS", default=20_000)

# The cache is apart from the broker: its own Redis database by default, and in `make demo` and
# docker-compose its own Redis server (port 6380) with a memory limit and LRU eviction
# (maxmemory 64mb, allkeys-lru), while the broker's server never evicts (a queued task must not
# vanish). Redis' maxmemory is per server, hence the second server; see the README.
CACHES = {
    "default": {
        # Django's RedisCache that answers "miss" when Redis is down, so pages keep working (imdbrec/cache.py).
        "BACKEND": "imdbrec.cache.ResilientRedisCache",
        "LOCATION": env("CACHE_URL", default="redis://127.0.0.1:6379/1"),
        "OPTIONS": {"socket_connect_timeout": 1, "socket_timeout": 1},
    }
}

# --- Celery -------------------------------------------------------------------------------
CELERY_BROKER_URL = env("CELERY_BROKER_URL", default="redis://127.0.0.1:6379/0")
CELERY_RESULT_BACKEND = env("CELERY_RESULT_BACKEND", default=CELERY_BROKER_URL)
CELERY_TASK_DEFAULT_QUEUE = "default"
# Spark jobs get their own queue, served by a worker with --concurrency=1 --prefetch-multiplier=1.
CELERY_TASK_QUEUES = (Queue("default"), Queue("spark"))
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_SOFT_TIME_LIMIT = env.int("CELERY_TASK_SOFT_TIME_LIMIT", default=60 * 60)
CELERY_TASK_TIME_LIMIT = env.int("CELERY_TASK_TIME_LIMIT", default=65 * 60)
CELERY_TASK_TRACK_STARTED = True
CELERY_RESULT_EXPIRES = 24 * 3600
# Fail fast when Redis is down instead of hanging a web request that enqueues work.
CELERY_BROKER_CONNECTION_TIMEOUT = 2
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_BROKER_TRANSPORT_OPTIONS = {
    "max_retries": 1,
    "interval_start": 0,
    "interval_step": 0.2,
    "socket_connect_timeout": 2,
}
CELERY_BEAT_SCHEDULER = "django_celery_beat.schedulers:DatabaseScheduler"
CELERY_BEAT_SCHEDULE = {
    "recommender-train-nightly": {
        "task": "recommender.tasks.model_run_train_task",
        "schedule": crontab(
            minute=env("TRAIN_SCHEDULE_MINUTE", default="30"), hour=env("TRAIN_SCHEDULE_HOUR", default="3")
        ),
        "options": {"queue": "spark"},
    },
    "accounts-login-records-prune-daily": {
        "task": "accounts.tasks.login_records_prune_task",
        "schedule": crontab(minute="15", hour="4"),
    },
}

# --- Browsing ---------------------------------------------------------------------------------
# The browse pages count at most this many matching titles ("10,000+") and page no deeper; the
# count gets this many milliseconds, after which the page shows Postgres' estimate ("about
# 7,400"). catalog.selectors.CappedPaginator says why.
CATALOG_BROWSE_MAX_RESULTS = env.int("CATALOG_BROWSE_MAX_RESULTS", default=10_000)
CATALOG_BROWSE_COUNT_TIMEOUT_MS = env.int("CATALOG_BROWSE_COUNT_TIMEOUT_MS", default=50)

# --- Spark and the recommender ---------------------------------------------------------------
SPARK_MASTER = env("SPARK_MASTER", default="local[*]")
SPARK_DRIVER_MEMORY = env("SPARK_DRIVER_MEMORY", default="4g")
SPARK_SHUFFLE_PARTITIONS = env.int("SPARK_SHUFFLE_PARTITIONS", default=8)
# The Spark driver's JVM starts several seconds faster from an archive of the classes it loads
# (Java's class data sharing). The first training writes it as its JVM exits; "" turns it off.
# Named by the pyspark version: a JVM that finds an archive not its own ignores it.
SPARK_CLASS_ARCHIVE = env(
    "SPARK_CLASS_ARCHIVE",
    default=str(BASE_DIR / "var" / "spark" / f"classes-pyspark-{importlib.metadata.version('pyspark')}.jsa"),
)
# Files exchanged between Postgres and Spark. Must be reachable by every executor when the
# master is a cluster: a path mounted at the same place on the driver and every executor.
RECOMMENDER_EXCHANGE_DIR = env("RECOMMENDER_EXCHANGE_DIR", default=str(BASE_DIR / "var" / "exchange"))
RECOMMENDER_TOP_N = env.int("RECOMMENDER_TOP_N", default=50)
RECOMMENDER_RETRAIN_AFTER_RATINGS = env.int("RECOMMENDER_RETRAIN_AFTER_RATINGS", default=0)

IMDB_DOWNLOAD_BASE_URL = env("IMDB_DOWNLOAD_BASE_URL", default="https://datasets.imdbws.com/")
IMDB_DATA_DIR = env("IMDB_DATA_DIR", default=str(BASE_DIR / "var" / "imdb"))
IMDB_SAMPLE_DIR = BASE_DIR / "catalog" / "sample"
# A copy (hard link when on the same filesystem) of each file imported last: the next import of a
# newer dump reads only the lines that differ from it (a delta refresh, catalog.importing.delta).
IMDB_LAST_IMPORTED_DIR = env("IMDB_LAST_IMPORTED_DIR", default=str(BASE_DIR / "var" / "imdb-last-imported"))

# Everything to stderr (gunicorn's --capture-output and the workers' --logfile put it where an
# operator reads it; compose shows it in `docker compose logs`), and to LOG_FILE when set.
# django.request logs each 500 with its traceback: with DEBUG off it is the only trace of one.
_LOG_HANDLERS = ["console"] + (["file"] if env("LOG_FILE", default="") else [])
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "handlers": {
        "console": {"class": "logging.StreamHandler", "formatter": "plain"},
        **(
            {
                "file": {
                    "class": "logging.handlers.WatchedFileHandler",
                    "filename": env("LOG_FILE"),
                    "formatter": "plain",
                }
            }
            if env("LOG_FILE", default="")
            else {}
        ),
    },
    "root": {"handlers": _LOG_HANDLERS, "level": env("LOG_LEVEL", default="INFO")},
    "loggers": {
        # Django's default sends these to a console handler that is silent with DEBUG off and to
        # mail_admins (no ADMINS here): ours, with the traceback, always.
        "django.request": {"handlers": _LOG_HANDLERS, "level": "WARNING", "propagate": False},
        "django.server": {"handlers": _LOG_HANDLERS, "level": "INFO", "propagate": False},
        "py4j": {"level": "WARNING"},
    },
}
