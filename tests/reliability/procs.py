"""Throwaway services for fault tests: a Postgres cluster, a Redis server, gunicorn and Celery
worker processes of this project, all on ports 8700-8799, all of them ours to stop, kill and
restart. The shared Postgres (5432) and Redis (6379) that other work depends on are never touched.

Used by the tests in this package and by the load scripts in ``bench/``.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

from tests.helpers import wait_for

ROOT = Path(__file__).resolve().parents[2]
PG_BIN = Path(os.environ.get("PG_BIN", "/usr/lib/postgresql/15/bin"))
PORT_RANGE = range(8700, 8800)


def free_port(start: int = 8700) -> int:
    """The first port from ``start`` in our range that nothing listens on."""
    for port in range(start, PORT_RANGE.stop):
        with socket.socket() as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                probe.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError("no free port in 8700-8799")


def port_open(port: int) -> bool:
    with socket.socket() as probe:
        probe.settimeout(0.5)
        return probe.connect_ex(("127.0.0.1", port)) == 0


def children(pid: int) -> list[int]:
    """Direct children of ``pid`` (from /proc; psutil is not a dependency)."""
    found = []
    try:
        for task in os.listdir(f"/proc/{pid}/task"):
            text = Path(f"/proc/{pid}/task/{task}/children").read_text()
            found += [int(child) for child in text.split()]
    except FileNotFoundError:
        pass
    return found


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().split(") ", 1)[1][0]
    except (FileNotFoundError, IndexError):
        return False
    return state != "Z"


def _have_tools() -> str | None:
    if os.geteuid() != 0 and not shutil.which("runuser"):
        return "needs root (runuser) to start a private Postgres"
    if not (PG_BIN / "initdb").exists():
        return f"no PostgreSQL server binaries in {PG_BIN}"
    if not shutil.which("redis-server"):
        return "no redis-server binary"
    return None


MISSING_TOOLS = _have_tools()


class PrivatePostgres:
    """A Postgres 15 cluster in a temporary directory, run as the ``postgres`` OS user."""

    def __init__(self, port: int | None = None, *, data_root: Path | None = None):
        self.port = port or free_port(8710)
        self.root = Path(tempfile.mkdtemp(prefix="imdbrec-pg-"))
        self.data = (data_root or self.root) / "data"
        self.sockets = self.root / "sockets"
        self.log = self.root / "postgres.log"
        for path in (self.root, self.sockets, self.data.parent):
            path.mkdir(parents=True, exist_ok=True)
            shutil.chown(path, "postgres", "postgres")

    def _as_postgres(self, *args, check=True, timeout=120):
        command = ["runuser", "-u", "postgres", "--", *map(str, args)] if os.geteuid() == 0 else list(map(str, args))
        return subprocess.run(command, capture_output=True, text=True, check=check, timeout=timeout)

    def init(self) -> PrivatePostgres:
        self._as_postgres(
            PG_BIN / "initdb",
            "-D",
            self.data,
            "-U",
            "postgres",
            "-A",
            "trust",
            "-E",
            "UTF8",
            "--locale=C.UTF-8",
            "--no-sync",
        )
        return self

    def start(self) -> PrivatePostgres:
        options = (
            f"-p {self.port} -k {self.sockets} -c listen_addresses=127.0.0.1 -c fsync=off "
            "-c synchronous_commit=off -c full_page_writes=off -c shared_buffers=32MB -c max_connections=60"
        )
        self._as_postgres(PG_BIN / "pg_ctl", "-D", self.data, "-o", options, "-l", self.log, "-w", "-t", "60", "start")
        return self

    def stop(self, mode: str = "fast") -> None:
        self._as_postgres(PG_BIN / "pg_ctl", "-D", self.data, "-m", mode, "-w", "-t", "60", "stop", check=False)

    def restart(self, down_seconds: float = 0.0) -> None:
        self.stop()
        time.sleep(down_seconds)
        self.start()

    def psql(self, sql: str, database: str = "postgres") -> str:
        result = subprocess.run(
            [
                PG_BIN / "psql",
                "-h",
                "127.0.0.1",
                "-p",
                str(self.port),
                "-U",
                "postgres",
                "-d",
                database,
                "-AtX",
                "-v",
                "ON_ERROR_STOP=1",
                "-c",
                sql,
            ],
            capture_output=True,
            text=True,
            timeout=60,
        )
        if result.returncode:
            raise RuntimeError(result.stderr)
        return result.stdout.strip()

    def url(self, database: str) -> str:
        return f"postgres://postgres@127.0.0.1:{self.port}/{database}"

    def destroy(self) -> None:
        self.stop("immediate")
        shutil.rmtree(self.root, ignore_errors=True)


class PrivateRedis:
    """A redis-server with an append-only file synced on every write, as production should run it
    for the queue: a crash or restart keeps every message it acknowledged. (``appendfsync everysec``,
    Redis' default with ``appendonly yes``, can drop the last second of writes: it happened here.)"""

    def __init__(self, port: int | None = None, *, extra_args: tuple[str, ...] = ()):
        self.port = port or free_port(8701)
        self.dir = Path(tempfile.mkdtemp(prefix="imdbrec-redis-"))
        self.process: subprocess.Popen | None = None
        self.extra_args = extra_args  # e.g. the cache server's ("--maxmemory", "32mb", ...)

    def start(self) -> PrivateRedis:
        self.process = subprocess.Popen(
            [
                "redis-server",
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--dir",
                str(self.dir),
                "--appendonly",
                "yes",
                "--appendfsync",
                "always",
                "--save",
                "",
                "--protected-mode",
                "no",
                "--loglevel",
                "warning",
                *self.extra_args,
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.STDOUT,
        )
        wait_for(lambda: port_open(self.port), timeout=15, what=f"redis on {self.port}")
        return self

    def kill(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.kill()
            self.process.wait(10)
        wait_for(lambda: not port_open(self.port), timeout=10, what="redis gone")

    def url(self, db: int = 0) -> str:
        return f"redis://127.0.0.1:{self.port}/{db}"

    def destroy(self) -> None:
        self.kill()
        shutil.rmtree(self.dir, ignore_errors=True)


def project_env(*, database_url: str, broker_url: str, **extra) -> dict:
    env = {key: value for key, value in os.environ.items() if not key.startswith(("PYTEST_", "DJANGO_"))}
    env.update(
        {
            "DJANGO_SETTINGS_MODULE": "imdbrec.settings.test",
            "DATABASE_URL": database_url,
            "CELERY_BROKER_URL": broker_url,
            "CELERY_RESULT_BACKEND": broker_url,
            "CACHE_URL": broker_url,
            "PYTHONPATH": str(ROOT),
            "PYTHONUNBUFFERED": "1",
        }
    )
    env.update({key: str(value) for key, value in extra.items()})
    return env


def manage(*args, env: dict, timeout: float = 300) -> subprocess.CompletedProcess:
    result = subprocess.run(
        [sys.executable, "manage.py", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout
    )
    if result.returncode:
        raise RuntimeError(f"manage.py {' '.join(args)} failed:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}")
    return result


class Gunicorn:
    """``gunicorn imdbrec.wsgi`` as `make serve` runs it, on a port of ours."""

    def __init__(
        self, env: dict, *, port: int | None = None, workers: int = 2, threads: int = 2, log: Path | None = None
    ):
        self.port = port or free_port(8720)
        self.env = env
        self.workers = workers
        self.threads = threads
        self.log = log or Path(tempfile.mkstemp(prefix="imdbrec-gunicorn-", suffix=".log")[1])
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 60) -> Gunicorn:
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "gunicorn",
                "imdbrec.wsgi:application",
                "--bind",
                f"127.0.0.1:{self.port}",
                "--workers",
                str(self.workers),
                "--threads",
                str(self.threads),
                "--timeout",
                "60",
                "--graceful-timeout",
                "5",
                "--error-logfile",
                str(self.log),
            ],
            cwd=ROOT,
            env=self.env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

        def ready():
            if self.process.poll() is not None:
                raise RuntimeError(f"gunicorn exited:\n{self.log.read_text()[-3000:]}")
            try:
                urllib.request.urlopen(self.url + "/accounts/login/", timeout=5)
                return True
            except (urllib.error.URLError, OSError):
                return False

        wait_for(ready, timeout=timeout, what="gunicorn answering")
        return self

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()


class CeleryWorker:
    """A ``celery worker`` of this project with a prefork pool of one child."""

    def __init__(
        self,
        env: dict,
        *,
        queues: str = "default,spark",
        name: str = "reliability",
        log: Path | None = None,
        extra_args: tuple[str, ...] = (),
    ):
        self.env = env
        self.queues = queues
        self.hostname = f"{name}-{os.getpid()}-{time.monotonic_ns()}@%h"
        self.log = log or Path(tempfile.mkstemp(prefix="imdbrec-worker-", suffix=".log")[1])
        self.extra_args = extra_args
        self.process: subprocess.Popen | None = None

    def start(self, timeout: float = 60) -> CeleryWorker:
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "celery",
                "-A",
                "imdbrec",
                "worker",
                "-Q",
                self.queues,
                "-c",
                "1",
                "--prefetch-multiplier=1",
                "-n",
                self.hostname,
                "--without-gossip",
                "--without-mingle",
                "--without-heartbeat",
                "-l",
                "info",
                "--logfile",
                str(self.log),
                *self.extra_args,
            ],
            cwd=ROOT,
            env=self.env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        wait_for(lambda: self._ready(), timeout=timeout, what="celery worker ready")
        return self

    def _ready(self) -> bool:
        if self.process.poll() is not None:
            raise RuntimeError(f"celery worker exited:\n{self.log_text()[-3000:]}")
        return " ready." in self.log_text() and bool(self.pool_children())

    def log_text(self) -> str:
        try:
            return self.log.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def pool_children(self) -> list[int]:
        return [pid for pid in children(self.process.pid) if alive(pid)] if self.process else []

    def kill_pool_child(self) -> int:
        """SIGKILL the pool process executing the task (the main process survives and sees it lost)."""
        (child,) = self.pool_children()
        os.kill(child, signal.SIGKILL)
        return child

    def kill_all(self) -> None:
        """SIGKILL the whole worker, main process and pool, as a crash or the OOM killer would."""
        if self.process and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(10)

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(20)
            except subprocess.TimeoutExpired:
                self.kill_all()
