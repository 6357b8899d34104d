"""bench/purchase.py, part 3: where a purchase's time goes. Purchases through Django's test client
in this process (same settings, database and Redis as the server benchmark, no HTTP server) with
every PostgreSQL, Redis and provider round trip counted and timed; optionally under cProfile."""

import cProfile
import io
import pstats
import time

from bench import common


class WireLog:
    """Counts and times every round trip to PostgreSQL (SQL statements through Django's
    execute_wrapper, plus the BEGIN/COMMIT psycopg sends itself), to Redis (commands, pipelines)
    and to the providers (requests.Session.request: all of requests' work and the stub's answer).
    While `recording` is a list, each round trip is also listed in order."""

    def __init__(self):
        self.count = {"sql": 0, "tx": 0, "redis": 0, "http": 0}
        self.seconds = {"postgres": 0.0, "redis": 0.0, "http": 0.0}
        self.recording = None

    def _timed(self, kind, bucket, describe, call):
        started = time.perf_counter()
        try:
            return call()
        finally:
            self.seconds[bucket] += time.perf_counter() - started
            self.count[kind] += 1
            if self.recording is not None:
                self.recording.append(describe())

    def install(self):
        import redis
        import requests
        from psycopg import _connection_base

        log = self
        originals = (
            _connection_base.BaseConnection._exec_command,
            redis.Redis.execute_command,
            redis.client.Pipeline.execute,
            requests.Session.request,
        )
        exec_command, execute_command, pipeline_execute, request = originals

        def timed_exec_command(conn, command, *args, **kwargs):
            return log._timed(
                "tx",
                "postgres",
                lambda: f"pg    {bytes(command).decode(errors='replace')}",
                lambda: exec_command(conn, command, *args, **kwargs),
            )

        def timed_execute_command(client, *args, **kwargs):
            return log._timed(
                "redis",
                "redis",
                lambda: f"redis {' '.join(str(a) for a in args[:2])}",
                lambda: execute_command(client, *args, **kwargs),
            )

        def timed_pipeline(pipe, *args, **kwargs):
            commands = [c[0][0] for c in pipe.command_stack]
            return log._timed(
                "redis", "redis", lambda: f"redis pipeline {commands}", lambda: pipeline_execute(pipe, *args, **kwargs)
            )

        def timed_request(session, method, url, *args, **kwargs):
            return log._timed(
                "http", "http", lambda: f"http  {method} {url}", lambda: request(session, method, url, *args, **kwargs)
            )

        _connection_base.BaseConnection._exec_command = timed_exec_command
        redis.Redis.execute_command = timed_execute_command
        redis.client.Pipeline.execute = timed_pipeline
        requests.Session.request = timed_request

    def sql_wrapper(self, execute, sql, params, many, context):
        return self._timed(
            "sql",
            "postgres",
            lambda: f"pg    {' '.join(sql.split())[:110]}",
            lambda: execute(sql, params, many, context),
        )

    def reset(self):
        self.count = dict.fromkeys(self.count, 0)
        self.seconds = dict.fromkeys(self.seconds, 0.0)


def in_process(
    count: int, body, address, *, profile: bool = False, warmup: int = 20, top: int = 35, profile_out=None
) -> dict:
    """`count` purchases through Django's test client (no server, no HTTP to the shop) with every
    round trip timed; with `profile`, the round trips of one purchase and cProfile's top functions
    are printed as well. INFO logging is off here (it would bury the output). Shopper i sends
    `body(i)` from `address(i)` (bench/purchase.py's purchase_body and shopper_address)."""
    import logging

    from django.db import connection
    from django.test import Client

    wire = WireLog()
    wire.install()
    client = Client(SERVER_NAME="127.0.0.1")
    logging.disable(logging.INFO)
    first = 1_000_000  # shoppers of their own, apart from the server benchmark's

    def buy(i):
        client.cookies.clear()
        response = client.post(
            "/api/customer/transactions/purchase",
            body(first + i, "7"),
            content_type="application/json",
            HTTP_X_FORWARDED_FOR=address(first + i),
        )
        assert response.status_code == 201, response.content

    profiler = cProfile.Profile() if profile else None
    with connection.execute_wrapper(wire.sql_wrapper):
        for i in range(warmup):
            buy(i)
        wire.recording = []
        buy(warmup)
        one = wire.recording
        wire.recording = None
        wire.reset()
        times = []
        for i in range(warmup + 1, warmup + 1 + count):
            started = time.perf_counter()
            if profiler:
                profiler.enable()
            buy(i)
            if profiler:
                profiler.disable()
            times.append(time.perf_counter() - started)
    bare = []
    for _ in range(count):
        started = time.perf_counter()
        client.get("/healthz")
        bare.append(time.perf_counter() - started)
    logging.disable(logging.NOTSET)
    per = {k: v / count * 1000 for k, v in wire.seconds.items()}
    result = {
        "n": count,
        "purchase_ms": common.summary_ms(times)["median"],
        "mean_ms": sum(times) / count * 1000,
        "bare_ms": common.summary_ms(bare)["median"],
        "postgres_ms": per["postgres"],
        "redis_ms": per["redis"],
        "providers_ms": per["http"],
        "postgres_round_trips": (wire.count["sql"] + wire.count["tx"]) / count,
        "sql_statements": wire.count["sql"] / count,
        "transaction_commands": wire.count["tx"] / count,
        "redis_round_trips": wire.count["redis"] / count,
        "provider_calls": wire.count["http"] / count,
        "round_trips_of_one": one,
        "profiled": profile,
    }
    result["other_ms"] = result["mean_ms"] - per["postgres"] - per["redis"] - per["http"]
    if profile and profile_out:
        profiler.dump_stats(profile_out)
    if profile:
        print("round trips of one purchase (in order):")
        for line in one:
            print(f"  {line}")
        for order in ("cumulative", "tottime"):
            out = io.StringIO()
            pstats.Stats(profiler, stream=out).strip_dirs().sort_stats(order).print_stats(top)
            text = out.getvalue()
            print(f"\n--- cProfile sorted by {order} (totals over {count} purchases) ---")
            print(text[text.find("   ncalls") :].rstrip())
        print()
    print_breakdown(result)
    return result


def print_breakdown(r: dict) -> None:
    print(
        f"in process, {r['n']} purchases{' under cProfile' if r['profiled'] else ''} (no HTTP server; "
        f"bare /healthz {r['bare_ms']:.2f} ms): median {r['purchase_ms']:.2f} ms, mean {r['mean_ms']:.2f} ms ="
    )
    print(
        f"   PostgreSQL {r['postgres_ms']:5.2f} ms  {r['postgres_round_trips']:.0f} round trips "
        f"({r['sql_statements']:.0f} statements + {r['transaction_commands']:.0f} BEGIN/COMMIT)"
    )
    print(f"   Redis      {r['redis_ms']:5.2f} ms  {r['redis_round_trips']:.0f} round trips")
    print(
        f"   providers  {r['providers_ms']:5.2f} ms  {r['provider_calls']:.0f} calls, all of requests' work (stub answers)"
    )
    print(f"   the rest   {r['other_ms']:5.2f} ms  Django, DRF, middleware, ORM query building, JSON")
