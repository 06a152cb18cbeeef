"""Small helpers shared by tests in several folders."""

import time

# What htmx and fetch() send: the views answer a fragment instead of a redirect.
AJAX = {"HTTP_X_REQUESTED_WITH": "XMLHttpRequest"}


def wait_for(predicate, *, timeout: float, interval: float = 0.2, what: str = "condition"):
    """Call ``predicate`` every ``interval`` seconds until it returns something true, and return
    that; ``TimeoutError`` naming ``what`` after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise TimeoutError(f"{what} not reached within {timeout:.0f} s")
