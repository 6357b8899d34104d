"""/readyz: is this deployment able to take a payment and deliver the eSIM right now?

Small checks rather than django-health-check (4.8 on PyPI here): its checks are async and report
only a state; /readyz needs a hard deadline per check (a hung provider must not hang the probe),
each check's latency in the answer, and one cached result per process so the probe can't be
used to load the database or the providers. Each check is a plain function run in a thread pool
and given `timeout` seconds; a check that overruns is reported as "timeout" (its client carries
the same timeout, so the thread ends soon after).
"""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from decimal import Decimal

import redis
from django.conf import settings
from django.db import connections
from django.db.migrations.executor import MigrationExecutor
from django.db.utils import load_backend

from integrations.esimgo.answers import Organisation
from integrations.esimgo.client import ESIMGoClient, ESIMGoError
from integrations.qpay.client import QPayClient, QPayError
from ops import heartbeats

_pool = ThreadPoolExecutor(max_workers=8, thread_name_prefix="readyz")
_lock = threading.Lock()
_cached: tuple[float, Report] | None = None


class CheckFailed(Exception):
    """A check's own failure, with a message safe to show (no secret, no URL with credentials)."""


@dataclass
class Result:
    name: str
    state: str  # "ok" | "down" | "timeout" | "skipped"
    latency_ms: float = 0.0
    detail: str = ""

    @property
    def ok(self) -> bool:
        return self.state in ("ok", "skipped")


@dataclass
class Report:
    results: list[Result] = field(default_factory=list)

    @property
    def ready(self) -> bool:
        return all(r.ok for r in self.results)

    def as_json(self) -> dict:
        return {
            "ready": self.ready,
            "checks": [
                {"name": r.name, "state": r.state, "latency_ms": round(r.latency_ms, 1), "detail": r.detail}
                for r in self.results
            ],
        }


def check_timeout() -> float:
    return float(settings.READYZ_CHECK_TIMEOUT_SECONDS)


def _uses_celery() -> bool:
    return bool(settings.REDIS_URL) and not settings.CELERY_TASK_ALWAYS_EAGER


# --- the checks ---------------------------------------------------------------------------


def database_settings() -> dict:
    """The default database's settings (a seam for tests: a wrong port simulates an outage)."""
    return connections["default"].settings_dict


def check_database() -> str:
    """A connection of its own (not the request's), with a connect timeout, closed afterwards."""
    params = dict(database_settings())
    timeout = max(int(check_timeout()), 1)
    options = dict(params.get("OPTIONS") or {})
    if params["ENGINE"].endswith("postgresql"):
        options["connect_timeout"] = timeout
        options["options"] = f"-c statement_timeout={timeout * 1000}"
    params["OPTIONS"] = options
    connection = load_backend(params["ENGINE"]).DatabaseWrapper(
        params, alias="default"
    )  # unregistered: a private connection
    try:
        try:
            with connection.cursor() as cursor:
                cursor.execute("SELECT 1")
        except Exception as exc:  # noqa: BLE001 - any driver error is "unreachable"
            raise CheckFailed(f"unreachable ({type(exc).__name__})") from exc
        executor = MigrationExecutor(connection)
        pending = executor.migration_plan(executor.loader.graph.leaf_nodes())
        if pending:
            raise CheckFailed(f"{len(pending)} migration(s) not applied")
        return "reachable, migrations applied"
    finally:
        connection.close()


def check_redis() -> str:
    if not settings.REDIS_URL:
        raise _Skip("REDIS_URL not set (in-process tasks)")
    client = redis.Redis.from_url(
        settings.REDIS_URL, socket_connect_timeout=check_timeout(), socket_timeout=check_timeout()
    )
    try:
        client.ping()
    except redis.RedisError as exc:
        raise CheckFailed(f"unreachable ({type(exc).__name__})") from exc
    finally:
        client.close()
    return "reachable"


def _heartbeat_check(name: str):
    def check() -> str:
        if not _uses_celery():
            raise _Skip("tasks run in-process")
        status = next(s for s in heartbeats.statuses() if s.name == name)
        if not status.ok:
            raise CheckFailed(f"{status.detail} (limit {status.max_age_seconds:.0f}s)")
        return status.detail

    check.__name__ = f"check_{name}"
    return check


def check_qpay_token() -> str:
    try:
        QPayClient(connect_timeout=check_timeout(), read_timeout=check_timeout(), max_retries=0).get_access_token()
    except QPayError as exc:
        raise CheckFailed(f"no token ({type(exc).__name__}{f' {exc.status}' if exc.status else ''})") from exc
    return "token obtainable"


def esimgo_organisation() -> Organisation:
    class ProbeClient(ESIMGoClient):
        timeout = (check_timeout(), check_timeout())

    try:
        with ProbeClient() as client:
            return client.get_organisation(retry=False)
    except ESIMGoError as exc:
        raise CheckFailed(f"unreachable ({type(exc).__name__}{f' {exc.status}' if exc.status else ''})") from exc


class _Skip(Exception):
    pass


def _run(name, func) -> Result:
    started = time.monotonic()
    try:
        detail = func()
        state = "ok"
    except _Skip as exc:
        detail, state = str(exc), "skipped"
    except CheckFailed as exc:
        detail, state = str(exc), "down"
    except Exception as exc:  # noqa: BLE001 - a check's bug is a failed check, never a 500
        detail, state = f"error ({type(exc).__name__})", "down"
    return Result(name, state, (time.monotonic() - started) * 1000, detail)


def _esimgo_pair() -> list[Result]:
    """eSIM Go reachable and its balance, from one /organisation call."""
    started = time.monotonic()
    try:
        org = esimgo_organisation()
    except CheckFailed as exc:
        latency = (time.monotonic() - started) * 1000
        return [
            Result("esimgo", "down", latency, str(exc)),
            Result("esimgo_balance", "down", latency, "unknown (eSIM Go unreachable)"),
        ]
    latency = (time.monotonic() - started) * 1000
    threshold = Decimal(str(settings.ESIMGO_LOW_BALANCE_THRESHOLD))
    balance = org.balance
    state = "ok" if balance >= threshold else "down"
    return [
        Result("esimgo", "ok", latency, "reachable"),
        Result("esimgo_balance", state, latency, f"{balance} {org.currency} (threshold {threshold})".strip()),
    ]


def _jobs():
    jobs = [("database", lambda: [_run("database", check_database)]), ("redis", lambda: [_run("redis", check_redis)])]
    for queue in heartbeats.queues():
        name = f"celery_worker:{queue}"
        jobs.append((name, lambda n=name, q=queue: [_run(n, _heartbeat_check(f"worker:{q}"))]))
    jobs.append(("celery_beat", lambda: [_run("celery_beat", _heartbeat_check("beat"))]))
    jobs.append(("qpay_token", lambda: [_run("qpay_token", check_qpay_token)]))
    jobs.append(("esimgo", _esimgo_pair))
    return jobs


def _with_db_cleanup(func):
    def run():
        try:
            return func()
        finally:
            connections.close_all()  # this pool thread's own connections (heartbeat reads)

    return run


def evaluate() -> Report:
    """Run every check at once; each gets its own deadline. Never raises."""
    timeout = check_timeout()
    jobs = _jobs()
    futures = {_pool.submit(_with_db_cleanup(func)): name for name, func in jobs}
    done, _ = wait(futures, timeout=timeout + 0.5)
    report = Report()
    for future, name in futures.items():
        if future in done and future.exception() is None:
            report.results.extend(future.result())
        elif future in done:
            report.results.append(Result(name, "down", timeout * 1000, f"error ({type(future.exception()).__name__})"))
        else:
            future.cancel()
            names = ["esimgo", "esimgo_balance"] if name == "esimgo" else [name]
            report.results.extend(Result(n, "timeout", timeout * 1000, f"no answer within {timeout:g}s") for n in names)
    return report


def report(*, fresh: bool = False) -> Report:
    """The cached report (READYZ_CACHE_SECONDS, per process): concurrent probes share one run."""
    global _cached
    with _lock:
        now = time.monotonic()
        if not fresh and _cached and now - _cached[0] < float(settings.READYZ_CACHE_SECONDS):
            return _cached[1]
        result = evaluate()
        _cached = (time.monotonic(), result)
        return result


def forget() -> None:
    global _cached
    with _lock:
        _cached = None
