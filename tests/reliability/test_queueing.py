"""The mechanisms the fault tests rely on, on their own: the one-at-a-time lock (and that it dies
with its process) and the classification of database errors into "outage, retry" and "not"."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import psycopg2
import pytest
from django.db import IntegrityError, connection

from imdbrec.queueing import AlreadyRunning, exclusive, exclusive_is_held, is_database_outage
from tests.helpers import wait_for
from tests.reliability.procs import ROOT, free_port

pytestmark = pytest.mark.django_db(transaction=True)


def test_exclusive_admits_one_holder_at_a_time():
    assert not exclusive_is_held("queueing-test")
    with exclusive("queueing-test"):
        assert exclusive_is_held("queueing-test")
        with pytest.raises(AlreadyRunning):
            with exclusive("queueing-test"):
                pass
        with exclusive("queueing-test-other"):  # another name is another lock
            pass
    assert not exclusive_is_held("queueing-test")


def test_the_lock_dies_with_a_killed_process(settings):
    database = connection.settings_dict
    url = f"postgres://{database['USER'] or 'postgres'}@{database['HOST'] or '127.0.0.1'}:{database['PORT'] or 5432}/{database['NAME']}"
    code = (
        "import django, time; django.setup()\n"
        "from imdbrec.queueing import exclusive\n"
        "with exclusive('queueing-test-killed'):\n"
        "    print('held', flush=True)\n"
        "    time.sleep(120)\n"
    )
    holder = subprocess.Popen(
        [sys.executable, "-c", code],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "DATABASE_URL": url, "DJANGO_SETTINGS_MODULE": "imdbrec.settings.test"},
    )
    try:
        assert holder.stdout.readline().strip() == "held"
        assert exclusive_is_held("queueing-test-killed")
        with pytest.raises(AlreadyRunning):
            with exclusive("queueing-test-killed"):
                pass
        os.kill(holder.pid, signal.SIGKILL)
        holder.wait(10)
        started = time.monotonic()
        wait_for(lambda: not exclusive_is_held("queueing-test-killed"), timeout=10, what="lock released")
        print(f"lock released {time.monotonic() - started:.2f} s after SIGKILL")
        with exclusive("queueing-test-killed"):
            pass
    finally:
        if holder.poll() is None:
            holder.kill()


def test_database_errors_are_classified():
    # No server at all: an outage (retry).
    with pytest.raises(psycopg2.OperationalError) as refused:
        psycopg2.connect(host="127.0.0.1", port=free_port(8795), user="postgres", dbname="x", connect_timeout=2)
    assert is_database_outage(refused.value)
    # The server ends our session (what a restart does): an outage.
    other = psycopg2.connect(
        **{
            key: value
            for key, value in connection.get_connection_params().items()
            if key in ("host", "port", "user", "dbname", "password")
        }
    )
    other.autocommit = True
    with other.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        pid = cursor.fetchone()[0]
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_terminate_backend(%s)", [pid])
    with pytest.raises(psycopg2.Error) as terminated:
        with other.cursor() as cursor:
            cursor.execute("SELECT 1")
    assert is_database_outage(terminated.value), repr(terminated.value)
    # Bad data and constraint violations are not outages: retrying would repeat them.
    with pytest.raises(IntegrityError) as duplicate:
        with connection.cursor() as cursor:
            cursor.execute("CREATE TEMP TABLE queueing_probe (id int PRIMARY KEY)")
            cursor.execute("INSERT INTO queueing_probe VALUES (1), (1)")
    assert not is_database_outage(duplicate.value)
    assert not is_database_outage(ValueError("not a database error"))
