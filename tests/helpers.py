"""Small helpers shared by tests in several folders."""

import time

# What htmx and fetch() send: the views answer a fragment instead of a redirect.
AJAX = {"HTTP_X_REQUESTED_WITH": "XMLHttpRequest"}

# docker-compose.yml has no default secrets: rendering it needs these (tests/imdbrec/test_deployment.py
# checks that each one missing stops it).
COMPOSE_SECRETS = {
    "SECRET_KEY": "compose-test-secret",
    "POSTGRES_PASSWORD": "compose-test-postgres",
    "IMDBREC_OWNER_PASSWORD": "compose-test-owner",
    "IMDBREC_SITE_PASSWORD": "compose-test-site",
    "IMDBREC_WORKER_PASSWORD": "compose-test-worker",
}


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
