"""A benchmark's own database: created fresh (dropped first if a previous run left it), dropped at the end."""

from __future__ import annotations

from urllib.parse import urlparse, urlunparse


def _admin(base_url: str):
    import psycopg2

    admin = psycopg2.connect(urlunparse(urlparse(base_url)._replace(path="/postgres")))
    admin.autocommit = True
    return admin


def database_create(base_url: str, name: str) -> str:
    """Create ``name`` on the server of ``base_url`` (dropping a leftover one); returns its URL."""
    admin = _admin(base_url)
    with admin.cursor() as cursor:
        cursor.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        cursor.execute(f'CREATE DATABASE "{name}"')
    admin.close()
    return urlunparse(urlparse(base_url)._replace(path=f"/{name}"))


def database_drop(base_url: str, name: str) -> None:
    admin = _admin(base_url)
    with admin.cursor() as cursor:
        cursor.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    admin.close()
