"""The cache backend: Django's Redis cache, made optional.

Redis is the cache and the Celery broker. When it is down, pages must still answer: a cache read
becomes a miss, a write is dropped, and the page computes what it needs from Postgres. Django's
own ``RedisCache`` raises instead (and has no "ignore exceptions" option), so every read of the
cache would turn into a 500.

After a failure the backend stops trying for ``RETRY_AFTER_SECONDS``: a Redis host that does not
answer would otherwise cost the socket timeout on every call of every request. The first call
after that window tries again, so the cache comes back by itself when Redis does.

Caveat: invalidations (``delete``) attempted during an outage are lost, so a value cached before
the outage can be served after it until its timeout. Cached values here are short-lived counts and
choice lists, never anything a user's action depends on.
"""

from __future__ import annotations

import logging
import threading
import time

from django.core.cache.backends.redis import RedisCache, RedisCacheClient
from redis import exceptions as redis_exceptions

logger = logging.getLogger(__name__)

RETRY_AFTER_SECONDS = 5.0


class _Breaker:
    """Remembers that Redis failed, per process, so the next calls skip it for a while."""

    def __init__(self):
        self.down_until = 0.0
        self.lock = threading.Lock()

    def open(self) -> bool:
        return time.monotonic() < self.down_until

    def trip(self, error: Exception) -> None:
        with self.lock:
            if not self.open():
                logger.warning("cache unavailable, serving without it for %.0f s: %s", RETRY_AFTER_SECONDS, error)
            self.down_until = time.monotonic() + RETRY_AFTER_SECONDS

    def reset(self) -> None:
        self.down_until = 0.0


def _tolerant(name: str, fallback):
    """``RedisCacheClient.<name>``, answering ``fallback()`` when Redis cannot be reached."""
    method = getattr(RedisCacheClient, name)

    def call(self, *args, **kwargs):
        if self.breaker.open():
            return fallback(*args)
        try:
            return method(self, *args, **kwargs)
        except (self._lib.exceptions.ConnectionError, self._lib.exceptions.TimeoutError) as error:
            self.breaker.trip(error)
            return fallback(*args)

    call.__name__ = name
    return call


def _missing_counter(*args):
    # Django's incr() raises ValueError for a missing key; with no cache, every key is missing.
    raise ValueError("the cache is unavailable")


class ResilientRedisCacheClient(RedisCacheClient):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.breaker = _Breaker()

    add = _tolerant("add", lambda *args: False)
    get = _tolerant("get", lambda key, default: default)
    set = _tolerant("set", lambda *args: None)
    touch = _tolerant("touch", lambda *args: False)
    delete = _tolerant("delete", lambda *args: False)
    get_many = _tolerant("get_many", lambda *args: {})
    has_key = _tolerant("has_key", lambda *args: False)
    incr = _tolerant("incr", _missing_counter)
    set_many = _tolerant("set_many", lambda *args: None)
    delete_many = _tolerant("delete_many", lambda *args: None)
    clear = _tolerant("clear", lambda *args: False)


def _glob_escape(text: str) -> str:
    return "".join("\\" + char if char in "*?[]\\" else char for char in text)


class ResilientRedisCache(RedisCache):
    """``django.core.cache.backends.redis.RedisCache`` that degrades to "no cache" when Redis is down."""

    def __init__(self, server, params):
        super().__init__(server, params)
        self._class = ResilientRedisCacheClient

    def delete_prefix(self, prefix: str) -> int:
        """Delete every key that starts with ``prefix`` (e.g. all of one member's pages); returns
        how many. SCAN in batches, never KEYS, so a large cache does not block Redis. Like
        ``delete``, it is lost when Redis is down (see the module's caveat)."""
        client = self._cache
        assert isinstance(client, ResilientRedisCacheClient)  # set in __init__
        if client.breaker.open():
            return 0
        pattern = self.make_key(_glob_escape(prefix)) + "*"
        deleted = 0
        try:
            redis = client.get_client(write=True)
            batch: list = []
            for key in redis.scan_iter(match=pattern, count=1000):
                batch.append(key)
                if len(batch) >= 1000:
                    deleted += redis.delete(*batch)
                    batch = []
            if batch:
                deleted += redis.delete(*batch)
        except (redis_exceptions.ConnectionError, redis_exceptions.TimeoutError) as error:
            client.breaker.trip(error)
        return deleted
