"""Background work that survives its services failing: queueing, retrying, one run at a time.

**Queueing from a web request** (``enqueue``, ``enqueue_on_commit``). Celery's ``apply_async``
does not fail fast when Redis is down: the Redis result backend retries its connection 20 times,
a second apart, before raising ``RuntimeError``, so a view that queues work hangs for 20 s and
then answers 500. These helpers ask Redis first, with a one-second timeout, and raise
``BackgroundUnavailable`` (whose message is meant for the user) when it does not answer::

    try:
        enqueue(synthetic_users_remove_task, run.pk)
    except BackgroundUnavailable as error:
        messages.error(request, str(error))

``enqueue_on_commit`` checks now, before the caller writes the row that describes the work, and
sends after the commit (a worker must find the row). If the send itself fails after the commit,
``on_failure`` is called so the caller can mark its row failed instead of leaving it "queued".

**Retrying through a database outage** (``DATABASE_RETRY``): options for ``@shared_task`` that
retry a task whose database went away (Postgres restarted, connection dropped) with a backoff,
instead of failing it. Celery's Django fix-up discards broken connections between attempts.

**One run at a time** (``exclusive``): a Postgres session advisory lock on its own connection.
Held while a job runs; released when the block ends, when the connection closes, and when the
process holding it dies (a worker killed with SIGKILL), so a crashed run never blocks the next.
``exclusive_is_held`` tells whether a run that says "running" still has a live process.
"""

from __future__ import annotations

import logging
from contextlib import contextmanager

import psycopg2
import redis
from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, InterfaceError, OperationalError, connections, transaction
from kombu.exceptions import OperationalError as BrokerOperationalError

logger = logging.getLogger(__name__)

BACKGROUND_UNAVAILABLE = (
    "The background system is unavailable right now (its task queue does not answer), so nothing was "
    "started. Everything already saved is safe. Please try again in a few minutes."
)
BROKER_PING_SECONDS = 1.0


class BackgroundUnavailable(Exception):
    """The task queue (Redis) cannot take work now. ``str()`` is a message for the user."""

    def __init__(self, detail: str = ""):
        super().__init__(BACKGROUND_UNAVAILABLE)
        self.detail = detail


# What a send raises when the broker or the result backend cannot be reached: kombu's
# OperationalError, redis-py's errors, socket errors, and the result backend's RuntimeError
# ("Retry limit exceeded while trying to reconnect to the Celery result store backend").
_SEND_ERRORS = (BrokerOperationalError, redis.RedisError, OSError, RuntimeError)


def _redis_urls() -> list[str]:
    urls = [settings.CELERY_BROKER_URL, getattr(settings, "CELERY_RESULT_BACKEND", "") or ""]
    return list(dict.fromkeys(url for url in urls if url.startswith(("redis://", "rediss://", "unix://"))))


def broker_ping(*, timeout: float = BROKER_PING_SECONDS) -> None:
    """Raise ``BackgroundUnavailable`` unless the broker and result backend answer within ``timeout``."""
    for url in _redis_urls():
        client = redis.Redis.from_url(url, socket_connect_timeout=timeout, socket_timeout=timeout)
        try:
            client.ping()
        except redis.RedisError as error:
            raise BackgroundUnavailable(f"{type(error).__name__}: {error}") from error
        finally:
            client.close()
    if not _redis_urls():  # another broker (AMQP …): kombu's own bounded check
        from imdbrec.celery import app

        try:
            with app.connection_for_write() as connection:
                connection.ensure_connection(max_retries=1, timeout=timeout)
        except _SEND_ERRORS as error:
            raise BackgroundUnavailable(f"{type(error).__name__}: {error}") from error


def _send(task, args, kwargs, options):
    try:
        return task.apply_async(args=args, kwargs=kwargs, retry=False, **options)
    except _SEND_ERRORS as error:
        logger.error("could not queue %s: %s", task.name, error)
        raise BackgroundUnavailable(f"{type(error).__name__}: {error}") from error


def enqueue(task, *args, options: dict | None = None, **kwargs):
    """Send ``task(*args, **kwargs)`` now; ``BackgroundUnavailable`` within about a second if Redis is down."""
    broker_ping()
    return _send(task, args, kwargs, options or {})


def enqueue_on_commit(task, *args, on_failure=None, options: dict | None = None, **kwargs) -> None:
    """Check the queue now (raising ``BackgroundUnavailable``), send ``task`` once the transaction commits.

    ``on_failure(error)`` runs if the send fails after the commit (Redis died in between); it
    should record that the work was not started. Errors there are logged, never raised into the
    response that committed.
    """
    broker_ping()

    def send():
        try:
            _send(task, args, kwargs, options or {})
        except BackgroundUnavailable as error:
            if on_failure is not None:
                try:
                    on_failure(error)
                except Exception:
                    logger.exception("on_failure of %s failed", task.name)

    transaction.on_commit(send)


# --- tasks: retry through a database outage ------------------------------------------------------

# Errors that mean "the database could not be reached or dropped the connection", not "bad data".
# psycopg2's own classes are listed because COPY (cursor.copy_expert) is not wrapped by Django.
DATABASE_OUTAGE_ERRORS = (OperationalError, InterfaceError, psycopg2.OperationalError, psycopg2.InterfaceError)

DATABASE_RETRY = {
    "autoretry_for": DATABASE_OUTAGE_ERRORS,
    "retry_backoff": 2,  # 2, 4, 8 … seconds
    "retry_backoff_max": 60,
    "retry_jitter": False,
    "max_retries": 10,  # about 8 minutes of outage in all
}


def is_database_outage(error: BaseException) -> bool:
    """True when ``error`` means the database went away (retry later), false for anything else.

    Outages: no connection at all (no SQLSTATE), SQLSTATE class 08 (connection exception) and
    57P01-57P03 (the server is shutting down, crashed, or starting). Not outages: bad data,
    constraint violations, and a full disk (53100), which a retry would only repeat.
    """
    if not isinstance(error, DATABASE_OUTAGE_ERRORS):
        return False
    code = getattr(error, "pgcode", None) or getattr(error.__cause__, "pgcode", None)
    if code is None:
        return "No space left on device" not in str(error)
    return code.startswith("08") or code in ("57P01", "57P02", "57P03")


# --- one run at a time ---------------------------------------------------------------------------


class AlreadyRunning(Exception):
    """Another process holds the lock: the job is running elsewhere."""


def _lock_key(name: str) -> str:
    return f"imdbrec:{name}"


@contextmanager
def exclusive(name: str):
    """Run the block only if no other process runs a block with the same ``name``; else ``AlreadyRunning``.

    The lock is a Postgres session advisory lock on a connection of its own, so transactions
    committed or rolled back inside the block do not release it, and a process that dies
    releases it with its connection.
    """
    connection = connections.create_connection(DEFAULT_DB_ALIAS)
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_try_advisory_lock(hashtext(%s))", [_lock_key(name)])
            acquired = cursor.fetchone()[0]
        if not acquired:
            raise AlreadyRunning(name)
        try:
            yield
        finally:
            # Unlocked explicitly: the server ends a closed session a moment later, and the next
            # run must not see the lock still held. A connection broken by a database restart
            # has lost the lock already.
            try:
                with connection.cursor() as cursor:
                    cursor.execute("SELECT pg_advisory_unlock(hashtext(%s))", [_lock_key(name)])
            except DATABASE_OUTAGE_ERRORS:
                pass
    finally:
        connection.close()


def exclusive_is_held(name: str) -> bool:
    """Whether a live process holds ``exclusive(name)`` now."""
    with connection_cursor() as cursor:
        cursor.execute(
            "SELECT EXISTS (SELECT 1 FROM pg_locks WHERE locktype = 'advisory' AND granted "
            "AND database = (SELECT oid FROM pg_database WHERE datname = current_database()) "
            "AND objsubid = 1 AND ((classid::bigint << 32) | objid::bigint) = hashtext(%s)::bigint)",
            [_lock_key(name)],
        )
        return cursor.fetchone()[0]


def connection_cursor():
    return connections[DEFAULT_DB_ALIAS].cursor()
