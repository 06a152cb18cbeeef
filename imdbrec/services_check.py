"""Checks that Postgres, Redis and Java are reachable before the demo or the tests start.

``python -m imdbrec.services_check [--create-database]`` prints one line per service and, for
each that is missing, the exact command that starts it; exits 1 if any is missing. It reads the
same environment as the settings (``DATABASE_URL``, ``CELERY_BROKER_URL``) without starting Django.
"""

import argparse
import glob
import os
import shutil
import sys
from pathlib import Path

import environ
import psycopg2
import redis
from psycopg2 import sql

ROOT = Path(__file__).resolve().parent.parent


def _postgres_start_command() -> str:
    versions = sorted(os.path.basename(path) for path in glob.glob("/etc/postgresql/*"))
    version = versions[-1] if versions else "$(ls /etc/postgresql)"
    return f"pg_ctlcluster --skip-systemctl-redirect {version} main start"


REDIS_START = 'redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no'


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--create-database", action="store_true", help="create the database if it is missing")
    args = parser.parse_args(argv)

    env = environ.Env()
    environ.Env.read_env(ROOT / ".env", overwrite=False)
    database = env.db("DATABASE_URL", default="postgres://postgres@127.0.0.1:5432/imdbrec")
    broker = env("CELERY_BROKER_URL", default="redis://127.0.0.1:6379/0")
    cache_url = env("CACHE_URL", default="redis://127.0.0.1:6379/1")
    missing = 0

    connect = {
        "host": database.get("HOST") or "127.0.0.1",
        "port": database.get("PORT") or 5432,
        "user": database.get("USER") or "postgres",
        "password": database.get("PASSWORD") or None,
        "connect_timeout": 3,
    }
    try:
        connection = psycopg2.connect(dbname="postgres", **connect)
    except psycopg2.OperationalError as error:
        missing += 1
        print(f"✗ PostgreSQL at {connect['host']}:{connect['port']} is not reachable ({str(error).strip()})")
        print(f"    start it with: {_postgres_start_command()}")
    else:
        connection.autocommit = True
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1 FROM pg_database WHERE datname = %s", [database["NAME"]])
            exists = cursor.fetchone() is not None
            if not exists and args.create_database:
                cursor.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(database["NAME"])))
                exists = True
                print(f"  created database {database['NAME']}")
        connection.close()
        print(
            f"✓ PostgreSQL at {connect['host']}:{connect['port']}, database {database['NAME']}"
            f"{'' if exists else ' (missing: run with --create-database)'}"
        )

    try:
        redis.Redis.from_url(broker, socket_connect_timeout=2).ping()
        print(f"✓ Redis at {broker}")
    except redis.RedisError as error:
        missing += 1
        print(f"✗ Redis at {broker} is not reachable ({error})")
        print(f"    start it with: {REDIS_START}")
    try:
        cache_server = redis.Redis.from_url(cache_url, socket_connect_timeout=2)
        limit = int(cache_server.config_get("maxmemory").get("maxmemory") or 0)
        policy = cache_server.config_get("maxmemory-policy").get("maxmemory-policy") or ""
        print(f"✓ Redis cache at {cache_url} (maxmemory {limit // 2**20} MB, {policy})")
        if limit == 0:
            print("!   the cache has no memory limit: run it on its own server with maxmemory (make cache-server)")
    except redis.RedisError as error:  # advice: without the cache the site works, slower
        print(f"! Redis cache at {cache_url} is not reachable ({error}); pages work without it, slower")
        print("    start it with: make cache-server")

    java = shutil.which("java") or (
        os.path.join(os.environ["JAVA_HOME"], "bin", "java") if os.environ.get("JAVA_HOME") else None
    )
    if java:
        print(f"✓ Java at {java}")
    else:
        missing += 1
        print("✗ Java is not installed (PySpark needs Java 17 or 21)")
        print("    install it with: apt-get update && apt-get install -y openjdk-17-jre-headless")
    if native_blas_found():
        print("✓ native BLAS/LAPACK (libblas.so.3, liblapack.so.3) for Spark's ALS")
    else:  # advice, not a failure: Spark falls back to its Java BLAS, about a third slower
        print("! no native BLAS/LAPACK: Spark's ALS falls back to Java BLAS (training about a third slower)")
        print("    install it with: apt-get update && apt-get install -y libopenblas0-pthread")
    return 1 if missing else 0


def native_blas_found() -> bool:
    """Whether the libraries Spark's netlib loads (``libblas.so.3``, ``liblapack.so.3``) are installed."""
    import ctypes

    for name in ("libblas.so.3", "liblapack.so.3"):
        try:
            ctypes.CDLL(name)
        except OSError:
            return False
    return True


if __name__ == "__main__":
    sys.exit(main())
