"""Every URL of the site, enumerated from the URLconf: state changes only by POST with CSRF,
staff pages refuse everyone else, no GET writes a row, no URL answers 500.

New URLs are picked up automatically; a URL whose parameters this file cannot fill fails the
test loudly (add a value to ``PARAMETER_VALUES``) rather than being skipped.
"""

from __future__ import annotations

import re

import pytest
from django.db import connection
from django.test import Client
from django.urls import URLResolver, get_resolver

from catalog.models import ImportRun
from tests.factories import make_person, make_title

PARAMETER = re.compile(r"<(?:(?P<converter>\w+):)?(?P<name>\w+)>")


def _routes(patterns=None, prefix: str = ""):
    for pattern in patterns if patterns is not None else get_resolver().url_patterns:
        route = str(pattern.pattern)
        if isinstance(pattern, URLResolver):
            if route.startswith("admin/"):
                continue  # Django's admin: covered by the admin checks below, not by parameter filling
            yield from _routes(pattern.url_patterns, prefix + route)
        else:
            yield prefix + route


ROUTES = sorted(set(_routes()))


@pytest.fixture
def world(db, user_factory):
    title = make_title("tt0999001", primary_title="Surface Test")
    person = make_person("nm0999001")
    run = ImportRun.objects.create(source="/nowhere", status=ImportRun.Status.SUCCEEDED)
    return {
        "tconst": title.tconst,
        "nconst": person.nconst,
        "run_id": run.pk,
        "pk": 1,
        "task_id": "00000000-0000-0000-0000-000000000000",
        "uidb64": "MQ",
        "token": "set-password",
    }


def _fill(route: str, values: dict) -> str:
    def value(match):
        name = match["name"]
        if name not in values:
            raise AssertionError(f"no test value for <{name}> in {route}: add it to the `world` fixture")
        return str(values[name])

    return "/" + PARAMETER.sub(value, route)


def _writes() -> dict[str, int]:
    """Rows inserted, updated or deleted per table in the current transaction (the test's own)."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT relname, n_tup_ins + n_tup_upd + n_tup_del FROM pg_stat_xact_user_tables")
        return dict(cursor.fetchall())


def test_the_urlconf_was_enumerated():
    # A guard for the tests below: they loop over these.
    assert len(ROUTES) >= 30
    assert {"titles/<str:tconst>/rate/", "system/", "accounts/delete/", "me/import/"} <= set(ROUTES)


def test_the_write_detector_sees_a_write_made_through_a_view(world, user_factory):
    client = Client()
    client.force_login(user_factory(username="detector"))
    before = _writes()
    assert client.post(f"/titles/{world['tconst']}/rate/", {"score": "4"}).status_code == 302
    assert _writes()["ratings_rating"] == before.get("ratings_rating", 0) + 1


def test_every_post_without_a_csrf_token_is_refused(world, staff_user):
    client = Client(enforce_csrf_checks=True)
    client.force_login(staff_user)
    accepted = {}
    for route in ROUTES:
        path = _fill(route, world)
        response = client.post(path, {"score": "5", "action": "add", "source": "sample", "users": "1"})
        if response.status_code != 403:
            accepted[path] = response.status_code
    assert not accepted, f"POST without CSRF token not refused: {accepted}"


def test_no_get_changes_anything_and_post_only_endpoints_refuse_get(world, user_factory):
    member = user_factory(username="surface_member", is_staff=True)  # staff: every page is reachable
    client = Client()
    client.force_login(member)
    changed, errors, post_only = {}, {}, []
    for route in ROUTES:
        path = _fill(route, world)
        before = _writes()
        response = client.get(path)
        after = _writes()
        # Reading a page may touch the session row (messages shown, session refreshed); nothing else.
        delta = {
            table: after[table] - before.get(table, 0)
            for table in after
            if after[table] != before.get(table, 0) and table != "django_session"
        }
        if delta:
            changed[path] = delta
        # /health/ says 503 by design when a service (here: a Celery worker) is missing.
        if response.status_code >= 500 and not (path == "/health/" and response.status_code == 503):
            errors[path] = response.status_code
        if response.status_code == 405:
            post_only.append(route)
    assert not changed, f"GET requests that wrote rows: {changed}"
    assert not errors, f"GET requests answering 5xx: {errors}"
    # The state-changing endpoints we know of are among those refusing GET.
    for route in (
        "titles/<str:tconst>/rate/",
        "titles/<str:tconst>/watchlist/",
        "titles/<str:tconst>/not-interested/",
        "recommendations/refresh/",
        "accounts/logout/",
        "system/catalog/import/",
    ):
        assert route in post_only, f"{route} answers GET"


def test_staff_pages_refuse_members_and_send_visitors_to_log_in(world, user_factory):
    staff_routes = [route for route in ROUTES if route.startswith("system/")]
    assert len(staff_routes) >= 4
    member = Client()
    member.force_login(user_factory(username="not_staff"))
    anonymous = Client()
    for route in staff_routes:
        path = _fill(route, world)
        for method in ("get", "post"):
            response = getattr(member, method)(path, {"source": "sample", "users": "5"})
            assert response.status_code in (403, 405), f"{method.upper()} {path} as a member: {response.status_code}"
            response = getattr(anonymous, method)(path, {"source": "sample", "users": "5"})
            assert response.status_code in (302, 403, 405), f"{method.upper()} {path} anonymous: {response.status_code}"
            if response.status_code == 302:
                assert "/accounts/login/" in response["Location"]
    assert not ImportRun.objects.exclude(pk=world["run_id"]).exists(), "a refused request still started an import"


def test_admin_is_staff_only(user_factory):
    member = Client()
    member.force_login(user_factory(username="admin_probe"))
    for path in ("/admin/", "/admin/accounts/user/", "/admin/ratings/rating/", "/admin/catalog/importrun/"):
        response = member.get(path)
        assert response.status_code == 302 and "/admin/login/" in response["Location"], path
