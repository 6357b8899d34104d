"""Shared helpers for the benchmarks: ports, servers and workers, throwaway PostgreSQL
databases, the Redis URL, timing, percentiles and the machine's description.

Imported as `bench.common` (the scripts put the project root on sys.path first); nothing here
imports Django, so a script can use it before choosing its settings.
"""

from __future__ import annotations

import math
import os
import platform
import re
import signal
import socket
import statistics
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parent.parent
PYTHON = sys.executable
# Used when DATABASE_URL / REDIS_URL are not set: the local services (a server, not a database;
# every bench creates and drops databases of its own on it).
LOCAL_POSTGRES_URL = "postgres://postgres@127.0.0.1:5432/postgres"
LOCAL_REDIS_URL = "redis://127.0.0.1:6379/12"


# --- numbers ------------------------------------------------------------------------------------


def percentile(values, fraction: float) -> float:
    """Nearest-rank percentile (the smallest value with at least `fraction` of values at or below)."""
    ordered = sorted(values)
    if not ordered:
        raise ValueError("no values")
    rank = math.ceil(fraction * len(ordered) - 1e-9)  # the epsilon: 0.95 * 100 is 95.00000000000001
    return ordered[min(max(rank, 1), len(ordered)) - 1]


def summary_ms(seconds) -> dict:
    """median / p95 / p99 / max of durations in seconds, as milliseconds."""
    ms = [s * 1000 for s in seconds]
    return {
        "n": len(ms),
        "median": statistics.median(ms),
        "p95": percentile(ms, 0.95),
        "p99": percentile(ms, 0.99),
        "max": max(ms),
    }


class Stopwatch:
    """`with Stopwatch() as sw: ...` then sw.seconds."""

    def __enter__(self):
        self.started = time.perf_counter()
        self.seconds = None
        return self

    def __exit__(self, *exc_info):
        self.seconds = time.perf_counter() - self.started


def wait_for(condition, timeout: float, what: str, interval: float = 0.01):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(interval)
    raise SystemExit(f"timed out after {timeout:g} s waiting for {what}")


# --- processes ----------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def answers(url: str) -> bool:
    import requests

    try:
        return requests.get(url, timeout=1).status_code == 200
    except requests.RequestException:
        return False


def start_gunicorn(
    *,
    port: int,
    env: dict,
    log_path,
    workers: int = 2,
    worker_class: str = "sync",
    threads: int = 1,
    extra_args: list[str] = (),
    wait: bool = True,
) -> subprocess.Popen:
    """gunicorn serving esimshop on 127.0.0.1:port (own process group). `extra_args` go to
    gunicorn as they are (timeouts, an access log). With `wait` (the default) it returns once
    /healthz answers; without, call wait_until_answering() (to start several servers at once)."""
    command = [
        PYTHON,
        "-m",
        "gunicorn",
        "esimshop.wsgi",
        "--bind",
        f"127.0.0.1:{port}",
        "--workers",
        str(workers),
        "--worker-class",
        worker_class,
        "--log-level",
        "warning",
        *extra_args,
    ]
    if worker_class == "gthread":
        command += ["--threads", str(threads)]
    log = open(log_path, "ab")
    server = subprocess.Popen(command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    log.close()
    if wait:
        wait_until_answering(server, port, log_path)
    return server


def wait_until_answering(server: subprocess.Popen, port: int, log_path, timeout: float = 60) -> None:
    """Until the gunicorn `server` answers /healthz on `port`; stops it and exits if it never does."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise SystemExit(f"gunicorn exited during start-up:\n{tail(log_path)}")
        if answers(f"http://127.0.0.1:{port}/healthz"):
            return
        time.sleep(0.1)
    stop(server)
    raise SystemExit(f"gunicorn did not answer /healthz within {timeout:g} s:\n{tail(log_path)}")


def start_celery_worker(
    *,
    env: dict,
    log_path,
    concurrency: int,
    name: str,
    queue: str | None = None,
    provisioning_only: bool = False,
    loglevel: str = "WARNING",
) -> subprocess.Popen:
    """A prefork Celery worker (own process group) named `name`@host. With `queue` (a bench run's
    own, bench/bench_settings.py) it consumes `queue` and `queue`.provisioning (or only the latter);
    without one, every queue the app declares."""
    queues = None
    if queue:
        queues = f"{queue}.provisioning" if provisioning_only else f"{queue},{queue}.provisioning"
    command = [
        PYTHON,
        "-m",
        "celery",
        "-A",
        "esimshop",
        "worker",
        "--loglevel",
        loglevel,
        "--pool",
        "prefork",
        "--concurrency",
        str(concurrency),
        *(["--queues", queues] if queues else []),
        "--without-gossip",
        "--without-mingle",
        "--without-heartbeat",
        "--hostname",
        f"{name}@%h",
    ]
    log = open(log_path, "ab")
    worker = subprocess.Popen(command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    log.close()
    return worker


def stop(process: subprocess.Popen | None, timeout: float = 20) -> None:
    """SIGTERM to the process group this bench started, SIGKILL if it lingers."""
    if process is None or process.poll() is not None:
        return
    try:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(5)
    except ProcessLookupError:
        pass


def tail(path, chars: int = 3000) -> str:
    try:
        return Path(path).read_text(errors="replace")[-chars:]
    except OSError:
        return ""


def run_manage(env: dict, *args: str) -> None:
    subprocess.run([PYTHON, "manage.py", *args], cwd=ROOT, env=env, check=True)


# --- services -----------------------------------------------------------------------------------


def postgres_server_url() -> str:
    """DATABASE_URL when it points at PostgreSQL, else the local server."""
    url = os.environ.get("DATABASE_URL", "")
    return url if url.startswith(("postgres://", "postgresql://", "pgsql://")) else LOCAL_POSTGRES_URL


def redis_url() -> str:
    return os.environ.get("REDIS_URL") or LOCAL_REDIS_URL


def _with_database(url: str, name: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path=f"/{name}"))


def _admin_connect(server_url: str):
    import psycopg

    url = _with_database(server_url, "postgres").replace("pgsql://", "postgresql://", 1)
    return psycopg.connect(url.replace("postgres://", "postgresql://", 1), autocommit=True)


def recreate_database(url: str, *, create: bool = True) -> None:
    """Drop (connections forced off) and, unless create=False, create the database `url` names, empty."""
    name = urlsplit(url).path.lstrip("/")
    with _admin_connect(url) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        if create:
            conn.execute(f'CREATE DATABASE "{name}"')


@contextmanager
def throwaway_postgres(label: str):
    """Yields the URL of a new, empty database bench_<label>_<pid> on the PostgreSQL server;
    drops it afterwards (connections forced off). Never touches any other database."""
    server = postgres_server_url()
    name = f"bench_{label}_{os.getpid()}"
    with _admin_connect(server) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield _with_database(server, name)
    finally:
        try:
            with _admin_connect(server) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        except Exception as exc:  # noqa: BLE001 - report, don't hide the bench's own error
            print(f"warning: could not drop database {name}: {exc}", file=sys.stderr)


def require_services() -> None:
    """PostgreSQL and Redis must answer; say which is missing and how to point at another."""
    import redis

    try:
        with _admin_connect(postgres_server_url()) as conn:
            conn.execute("SELECT 1")
    except Exception as exc:  # noqa: BLE001
        raise SystemExit(
            f"PostgreSQL not reachable at {_redact(postgres_server_url())} ({exc.__class__.__name__}); "
            "start it or set DATABASE_URL"
        ) from exc
    try:
        redis.Redis.from_url(redis_url()).ping()
    except Exception as exc:  # noqa: BLE001
        raise SystemExit(
            f"Redis not reachable at {_redact(redis_url())} ({exc.__class__.__name__}); start it or set REDIS_URL"
        ) from exc


def delete_redis_keys(url: str, *patterns: str) -> int:
    """Delete this run's keys only (its cache prefix, its Celery queue): the Redis db may be shared."""
    import redis

    client = redis.Redis.from_url(url)
    deleted = 0
    for pattern in patterns:
        keys = list(client.scan_iter(match=pattern, count=1000))
        for start in range(0, len(keys), 500):
            deleted += client.delete(*keys[start : start + 500])
    return deleted


def _redact(url: str) -> str:
    return re.sub(r"//([^:/@]+):[^@]*@", r"//\1:***@", url)


# --- the machine ----------------------------------------------------------------------------------


def machine_description() -> dict:
    """CPU model, cores, RAM, OS, Python, Django, PostgreSQL and Redis versions."""
    cpu = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    ram_gib = None
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                ram_gib = int(line.split()[1]) / 1024 / 1024
                break
    except OSError:
        pass
    import django

    info = {
        "cpu": cpu or platform.processor() or "unknown",
        "cores": os.cpu_count(),
        "ram": f"{ram_gib:.1f} GiB" if ram_gib else "unknown",
        "os": f"{platform.system()} {platform.release()}",
        "python": platform.python_version(),
        "django": django.get_version(),
        "load": "",
    }
    try:
        one, five, _ = os.getloadavg()
        info["load"] = f"{one:.2f} (1 min), {five:.2f} (5 min)"
    except OSError:
        pass
    try:
        with _admin_connect(postgres_server_url()) as conn:
            info["postgresql"] = conn.execute("SHOW server_version").fetchone()[0]
    except Exception as exc:  # noqa: BLE001
        info["postgresql"] = f"unavailable ({exc.__class__.__name__})"
    try:
        import redis

        info["redis"] = redis.Redis.from_url(redis_url()).info("server").get("redis_version", "?")
    except Exception as exc:  # noqa: BLE001
        info["redis"] = f"unavailable ({exc.__class__.__name__})"
    import sqlite3

    info["sqlite"] = sqlite3.sqlite_version
    return info
