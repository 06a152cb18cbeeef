# imdbrec — the two set-up commands are `make demo` and `make test`.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
HOST ?= 127.0.0.1
PORT ?= 8000
RUN := var/run
DEMO_USERS ?= 3000
export DJANGO_SETTINGS_MODULE ?= imdbrec.settings.dev

# The cache's own Redis server: a memory limit and LRU eviction, apart from the broker's (never evicts).
CACHE_PORT ?= 6380
CACHE_MAXMEMORY ?= 64mb
# What make demo runs uses it; the tests keep theirs (imdbrec/settings/test.py, .ci/run).
demo demo-data serve worker: export CACHE_URL ?= redis://127.0.0.1:$(CACHE_PORT)/0

.PHONY: help venv services cache-server demo demo-data serve worker stop test test-fast lint test-deps bench bench-full reliability audit clean

help:
	@echo "make demo   — install, migrate, load the IMDb sample, synthetic users, train, serve"
	@echo "make test   — the whole test suite (lint, migrations check, Postgres, Redis, Celery, Spark, browser)"
	@echo "make test-fast — the tests without Spark, browser, Celery worker, shared data and reliability"
	@echo "make lint   — ruff check and format, djLint, import-linter, mypy"
	@echo "make worker — a Celery worker for the default and spark queues (foreground)"
	@echo "make stop   — stop what make demo started"
	@echo "make bench  — the benchmarks in bench/ (print rows/s, seconds, peak RSS, ratios)"
	@echo "make bench-full [SCALE=0.02] — IMDb at full size: generate, import, refresh, crowd, train, load"
	@echo "make reliability — heavy fault and load checks; rewrites docs/reliability.md"

$(VENV)/.installed: requirements.txt requirements-dev.txt requirements.lock
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements-dev.txt -c requirements.lock
	@touch $@

venv: $(VENV)/.installed

services: venv cache-server
	@$(PY) -m imdbrec.services_check --create-database

# Started like the broker's Redis when it is not running: no persistence, maxmemory + allkeys-lru.
cache-server:
	@redis-cli -p $(CACHE_PORT) ping >/dev/null 2>&1 || { echo "starting the cache's Redis on port $(CACHE_PORT)"; \
	  redis-server --daemonize yes --bind 127.0.0.1 --port $(CACHE_PORT) --save "" --appendonly no \
	    --maxmemory $(CACHE_MAXMEMORY) --maxmemory-policy allkeys-lru; \
	  for i in $$(seq 1 30); do redis-cli -p $(CACHE_PORT) ping >/dev/null 2>&1 && break; sleep 0.5; done; }

# The secret key is readable by its owner only (umask 077: the file is created 0600);
# docker-compose reads the database passwords from it too (there are no defaults).
.env:
	@umask 077 && $(PY) -c 'import secrets; [print(f"{name}={secrets.token_urlsafe(n)}") for name, n in (("SECRET_KEY", 50), ("POSTGRES_PASSWORD", 24), ("IMDBREC_OWNER_PASSWORD", 24), ("IMDBREC_SITE_PASSWORD", 24), ("IMDBREC_WORKER_PASSWORD", 24))]' > .env
	@echo "  wrote .env with a new SECRET_KEY and database passwords (mode 0600)"

demo: venv services .env stop
	@chmod 600 .env
	$(PY) manage.py migrate --noinput
	$(PY) manage.py collectstatic --noinput --verbosity 0
	$(PY) manage.py create_demo_users
	@$(MAKE) --no-print-directory demo-data
	@$(MAKE) --no-print-directory serve
	@echo
	@echo "  imdbrec is running at http://$(HOST):$(PORT)/"
	@echo "  demo login:  demo / demo-password-2024    staff login: staff / staff-password-2024"
	@echo "  health: http://$(HOST):$(PORT)/health/   logs: $(RUN)/*.log   stop: make stop"

# Data for the demo; each step is idempotent so `make demo` is safe to run twice.
demo-data:
	$(PY) manage.py import_imdb --dir catalog/sample
	@# The demo member's ratings and watchlist, before the training so the model knows them.
	$(PY) manage.py seed_demo_history
	$(PY) manage.py generate_synthetic_users --users $(DEMO_USERS) --seed 42
	@# Real MovieLens raters: ml-latest-small from GroupLens when the network allows (checksum verified,
	@# cached in var/cache/movielens), else the developers' shared copy where present; it says which.
	@if $(PY) manage.py import_movielens --download; then :; \
	elif [ -d ../shared/data/movielens-latest-small ]; then \
	  echo "  MovieLens not downloaded (above): importing the shared copy in ../shared/data instead"; \
	  $(PY) manage.py import_movielens ../shared/data/movielens-latest-small; \
	else echo "  MovieLens not downloaded (above): the demo's crowd is synthetic only"; fi
	$(PY) manage.py prepare_spark
	$(PY) manage.py train_recommender

serve: venv
	@mkdir -p $(RUN)
	DEBUG=false $(VENV)/bin/celery -A imdbrec worker -Q default -c 2 -n default@%h -l info \
	  --pidfile=$(RUN)/worker-default.pid --logfile=$(RUN)/worker-default.log --detach
	DEBUG=false $(VENV)/bin/celery -A imdbrec worker -Q spark -c 1 --prefetch-multiplier=1 -n spark@%h -l info \
	  --pidfile=$(RUN)/worker-spark.pid --logfile=$(RUN)/worker-spark.log --detach
	DEBUG=false $(VENV)/bin/celery -A imdbrec beat -l info \
	  --pidfile=$(RUN)/beat.pid --logfile=$(RUN)/beat.log --detach
	DEBUG=false $(VENV)/bin/gunicorn imdbrec.wsgi:application --bind $(HOST):$(PORT) --workers 3 --threads 12 \
	  --timeout 60 --pid $(RUN)/gunicorn.pid --access-logfile $(RUN)/access.log --error-logfile $(RUN)/gunicorn.log --capture-output --daemon
	@for i in $$(seq 1 40); do curl -fs -o /dev/null http://$(HOST):$(PORT)/health/ && break; sleep 0.5; done; \
	  curl -sS http://$(HOST):$(PORT)/health/ | $(PY) -m json.tool | head -40

worker: venv
	$(VENV)/bin/celery -A imdbrec worker -Q default,spark -c 1 --prefetch-multiplier=1 -l info

stop:
	@for name in gunicorn worker-default worker-spark beat; do \
	  if [ -f $(RUN)/$$name.pid ]; then kill $$(cat $(RUN)/$$name.pid) 2>/dev/null || true; fi; \
	done; \
	for name in gunicorn worker-default worker-spark beat; do \
	  for i in $$(seq 1 40); do [ -f $(RUN)/$$name.pid ] && kill -0 $$(cat $(RUN)/$$name.pid) 2>/dev/null || break; sleep 0.5; done; \
	  rm -f $(RUN)/$$name.pid; \
	done

# What the tests need beyond Python packages: Debian's Chromium (browser tests),
# docker-compose (validates docker-compose.yml) and OpenBLAS (Spark's ALS on native BLAS).
# Installed when missing and we may.
test-deps: venv
	@missing=""; command -v chromium >/dev/null || missing="$$missing chromium"; \
	  command -v docker-compose >/dev/null || missing="$$missing docker-compose"; \
	  $(PY) -c 'from imdbrec.services_check import native_blas_found as f; raise SystemExit(not f())' \
	    || missing="$$missing libopenblas0-pthread"; \
	  if [ -n "$$missing" ]; then \
	    if [ "$$(id -u)" = 0 ]; then apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
	    else echo "missing:$$missing (install with: sudo apt-get install$$missing)"; exit 1; fi; \
	  fi

# App code mypy checks: the Django apps (and the staff `system` app once it exists).
MYPY_PATHS := accounts catalog ratings recommender imdbrec system tools

lint: venv
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/djlint templates --lint
	@# the apps depend one way (README, Architecture): contracts in pyproject.toml's [tool.importlinter]
	$(VENV)/bin/lint-imports
	DJANGO_SETTINGS_MODULE=imdbrec.settings.test $(VENV)/bin/mypy $(MYPY_PATHS)

# pytest exits 5 when it collected no tests; make treats any non-zero exit as failure, so an
# empty selection fails the build instead of passing it.
test: test-deps lint
	@$(PY) -m imdbrec.services_check
	DJANGO_SETTINGS_MODULE=imdbrec.settings.test $(PY) manage.py makemigrations --check --dry-run
	DJANGO_SETTINGS_MODULE=imdbrec.settings.test $(PY) -m pytest $(PYTEST_ARGS)

# The suite without the slow kinds of test (Spark jobs, the browser, a real Celery worker, the shared
# data folder, the reliability checks): for the edit-test loop. No lint, no system packages needed.
FAST_MARKERS := not spark and not browser and not celery_worker and not shared_data and not reliability
test-fast: venv
	@$(PY) -m imdbrec.services_check
	DJANGO_SETTINGS_MODULE=imdbrec.settings.test $(PY) -m pytest -m "$(FAST_MARKERS)" $(PYTEST_ARGS)

# Benchmarks print their numbers; they are not tests. Each builds its own data (own database where it writes).
bench: venv test-deps
	$(PY) bench/bench_import.py
	$(PY) bench/bench_synthetic.py
	$(PY) bench/bench_training.py
	$(PY) bench/bench_foldin.py
	$(PY) bench/bench_recommendations_load.py
	$(PY) bench/catalog_pages.py
	$(PY) bench/ratings_bench.py

# The site at IMDb's full size (docs/full-size.md): generate -> import -> refresh -> crowd -> training
# -> /recommendations/ under load, measured step by step. SCALE=1.0 is about 203 M rows and hours on
# two cores, and 45 GB of disk; SCALE=0.02 is a rehearsal of a few minutes. BENCH_FULL_ARGS passes more
# (--steps, --keep, --json ...). Its own database (imdbrec_bench_full) is created and dropped.
SCALE ?= 1.0
bench-full: venv test-deps
	$(PY) bench/bench_full.py --scale $(SCALE) --work var/bench-full-$(SCALE) $(BENCH_FULL_ARGS)

# Heavy fault and load checks (own Postgres cluster, Redis, gunicorn and workers; needs root and
# ../shared/data); rewrites docs/reliability.md. The light checks run in `make test`.
reliability: venv test-deps
	DJANGO_SETTINGS_MODULE=imdbrec.settings.test $(PY) -m tools.reliability

# pip-audit on the pinned dependencies: exit 2 = could not audit (no network), 1 = a vulnerability.
audit: venv
	$(PY) -m tools.audit

clean: stop
	rm -rf $(RUN) staticfiles
