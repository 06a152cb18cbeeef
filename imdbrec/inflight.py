"""Requests in flight: how many one client, one member or the whole site computes at once.

Rate limits (``imdbrec.ratelimits``) bound how many requests a client makes per minute; they do
not stop 20 clients from one machine keeping every gunicorn thread busy with cheap requests, each
refused or answered in milliseconds, one after the other. What a well-behaved visitor waits for
is a free thread and a share of the CPU; so the work in flight is bounded too:

- ``ClientInFlightMiddleware``: at most ``CLIENT_MAX_IN_FLIGHT`` requests of one client address
  are computed at once, site-wide. A further one waits, holding a thread but no CPU, up to
  ``CLIENT_WAIT_SECONDS`` for one of them to finish, then gets a 429 ("too many requests at once
  from your address"). A browser's page and the few requests its scripts make meanwhile just wait
  their turn; a flood from one machine gets two threads' worth of the site, never all of them.
  A request that had to wait keeps its place ``CLIENT_PACE_SECONDS`` after it is answered (the
  entry's expiry is moved, no thread waits for it): an address that keeps its places full is
  served a few requests a second, however fast it sends them, as a proxy's ``limit_req`` would
  delay them; one that never exceeds its limit is never slowed.
  Static files are answered before this (WhiteNoise comes first) and never wait. At most
  ``CLIENT_MAX_WAITING`` requests wait in one process (keep it below gunicorn's ``--threads``):
  beyond that a request over its address' limit is refused at once, so waiting requests never
  take the last threads of a process.
- ``action_slots_acquire``: the expensive actions (an upload import, a CSV export, the
  statistics page) are computed at most ``ACTION_MAX_IN_FLIGHT[action]`` at a time site-wide and
  one at a time per member and per address; a request beyond that is refused at once with a 429
  saying so (``imdbrec.ratelimits`` does this before the request's body is read).

The counts are Redis sorted sets in the cache's server (one entry a request, scored by when it
expires), shared by every gunicorn process; an entry whose process died mid-request expires after
``IN_FLIGHT_EXPIRES_SECONDS`` (gunicorn's timeout). When the cache is unreachable the limits are
off, as the rate limits are: the site keeps answering.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from dataclasses import dataclass, field

from django.conf import settings
from django.core.cache import cache
from django.http import HttpResponse
from django.template.loader import render_to_string
from redis import exceptions as redis_exceptions

logger = logging.getLogger(__name__)

# Atomically: drop expired entries of every key; if one key is at its limit, answer its number
# (1-based); else add the token to every key and answer 0.
ACQUIRE = """
local now, expires, token = tonumber(ARGV[1]), tonumber(ARGV[2]), ARGV[3]
for index, key in ipairs(KEYS) do
  redis.call('ZREMRANGEBYSCORE', key, '-inf', now)
  if redis.call('ZCARD', key) >= tonumber(ARGV[3 + index]) then
    return index
  end
end
for _, key in ipairs(KEYS) do
  redis.call('ZADD', key, expires, token)
  redis.call('PEXPIREAT', key, math.ceil(expires * 1000))
end
return 0
"""


def _key(name: str) -> str:
    return cache.make_key(settings.IN_FLIGHT_CACHE_PREFIX + name)


def _redis():
    """The cache's Redis client, or None while the cache is down (``imdbrec.cache``'s breaker)."""
    client = getattr(cache, "_cache", None)
    breaker = getattr(client, "breaker", None)
    if client is None or (breaker is not None and breaker.open()):
        return None
    return client.get_client(write=True)


def _trip(error: Exception) -> None:
    breaker = getattr(getattr(cache, "_cache", None), "breaker", None)
    if breaker is not None:
        breaker.trip(error)


_script_lock = threading.Lock()
_script: list = []  # the registered ACQUIRE script, made once (each call passes its own client)


def _acquire_script(redis):
    with _script_lock:
        if not _script:
            _script.append(redis.register_script(ACQUIRE))
        return _script[0]


@dataclass
class Slots:
    """Places taken in some in-flight counts; ``release()`` gives them back (once)."""

    keys: list[str]
    token: str
    released: bool = field(default=False)

    hold_seconds: float = field(default=0.0)

    def release(self) -> None:
        """Give the places back; with ``hold_seconds``, they stay taken that much longer (and
        then expire by themselves) without holding a thread."""
        if self.released:
            return
        self.released = True
        if not self.keys:
            return
        try:
            redis = _redis()
            if redis is not None:
                pipe = redis.pipeline(transaction=False)
                for key in self.keys:
                    if self.hold_seconds > 0:
                        pipe.zadd(key, {self.token: time.time() + self.hold_seconds}, xx=True)
                    else:
                        pipe.zrem(key, self.token)
                pipe.execute()
        except (redis_exceptions.ConnectionError, redis_exceptions.TimeoutError) as error:
            _trip(error)  # the entries expire by themselves


def slots_acquire(limits: dict[str, int]) -> tuple[Slots | None, str | None]:
    """Take one place in each of ``limits`` (name -> at most that many at once), all or none.

    Returns ``(slots, None)``, or ``(None, name)`` for the first count that is full. With the
    cache unreachable, ``(NO_SLOTS, None)``: no limit.
    """
    names = list(limits)
    keys = [_key(name) for name in names]
    token = uuid.uuid4().hex
    now = time.time()
    try:
        redis = _redis()
        if redis is None:
            return Slots(keys=[], token=""), None
        full = _acquire_script(redis)(
            keys=keys,
            args=[now, now + settings.IN_FLIGHT_EXPIRES_SECONDS, token, *(limits[name] for name in names)],
            client=redis,
        )
    except (redis_exceptions.ConnectionError, redis_exceptions.TimeoutError) as error:
        _trip(error)
        return Slots(keys=[], token=""), None
    if full:
        return None, names[int(full) - 1]
    return Slots(keys=keys, token=token), None


def in_flight_count(name: str) -> int:
    """How many places of the count ``name`` are taken now (for tests and the system page)."""
    redis = _redis()
    if redis is None:
        return 0
    key = _key(name)
    redis.zremrangebyscore(key, "-inf", time.time())
    return int(redis.zcard(key))


class _Releasing:
    """A streamed response's content that gives its slots back once sent (or abandoned):
    Django closes the content when the server is done with the response, iterated or not."""

    def __init__(self, content, slots: Slots):
        self.content = iter(content)
        self.slots = slots

    def __iter__(self):
        return self

    def __next__(self):
        return next(self.content)

    def close(self) -> None:
        try:
            close = getattr(self.content, "close", None)
            if close is not None:
                close()
        finally:
            self.slots.release()


def release_after(response, slots: Slots):
    """Give ``slots`` back when ``response`` is done: now, or after a streamed body is sent."""
    if response.streaming:
        response.streaming_content = _Releasing(response.streaming_content, slots)
    else:
        slots.release()
    return response


def body_drain(request) -> None:
    """Read an unread body away without parsing it, up to the largest body the site takes
    (``imdbrec.middleware.max_request_body_bytes``; a larger one is refused on its length). An
    answer sent while the client is still sending an upload would reach it as a reset connection
    instead of the refusal's page; reading costs little, parsing is what was expensive."""
    from imdbrec.middleware import max_request_body_bytes
    from imdbrec.parsing import ascii_int

    length = ascii_int(request.META.get("CONTENT_LENGTH") or "0") or 0
    if not length or length > max_request_body_bytes() or getattr(request, "_read_started", False):
        return
    try:
        while request.read(1 << 20):  # 5 MB drained: 7 ms of CPU in 1 MB reads, 10 ms in 64 KB ones
            pass
    except OSError:  # the client went away
        pass


def refusal(request, status: int, message: str, retry_after: int) -> HttpResponse:
    """A refusal that costs almost nothing: no session, no database, a small page of its own (the
    site's header would load the member and their messages). The request's body is read away."""
    body_drain(request)
    if request.headers.get("x-requested-with") == "XMLHttpRequest":
        response = HttpResponse(message, status=status, content_type="text/plain; charset=utf-8")
    else:
        response = HttpResponse(
            render_to_string("request_refused_plain.html", {"status": status, "message": message}), status=status
        )
    response["Retry-After"] = str(retry_after)
    response["Cache-Control"] = "no-store"
    return response


_waiting_lock = threading.Lock()
_waiting = [0]


def _wait_turn() -> bool:
    with _waiting_lock:
        if _waiting[0] >= settings.CLIENT_MAX_WAITING:
            return False
        _waiting[0] += 1
        return True


def _end_wait() -> None:
    with _waiting_lock:
        _waiting[0] -= 1


class ClientInFlightMiddleware:
    """At most ``CLIENT_MAX_IN_FLIGHT`` requests of one address computed at once (module docstring)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        limit = settings.CLIENT_MAX_IN_FLIGHT
        if not limit:
            return self.get_response(request)
        from imdbrec.ratelimits import client_ip

        limits = {f"address:{client_ip(request)}": limit}
        slots, _ = slots_acquire(limits)
        if slots is None:
            slots = self._wait(limits)
            if slots is not None:
                # The address keeps its places full: its turns are paced (see the module docstring).
                slots.hold_seconds = settings.CLIENT_PACE_SECONDS
        if slots is None:
            return refusal(
                request,
                429,
                f"Too many requests at once from your address (at most {limit}); try again in a few seconds.",
                retry_after=max(1, round(settings.CLIENT_WAIT_SECONDS)),
            )
        try:
            response = self.get_response(request)
        except BaseException:
            slots.release()
            raise
        return release_after(response, slots)

    @staticmethod
    def _wait(limits: dict[str, int]) -> Slots | None:
        """Try again now and then, up to ``CLIENT_WAIT_SECONDS``, if this process has a thread to spare."""
        if not _wait_turn():
            return None
        try:
            deadline = time.monotonic() + settings.CLIENT_WAIT_SECONDS
            pause = 0.01
            while time.monotonic() < deadline:
                time.sleep(min(pause, max(0.0, deadline - time.monotonic())))
                slots, _ = slots_acquire(limits)
                if slots is not None:
                    return slots
                pause = min(pause * 2, 0.1)
            return None
        finally:
            _end_wait()
