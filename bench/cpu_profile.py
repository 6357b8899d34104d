"""CPU per request of the two hot paths, in process: a purchase, and a verified QPay callback.

    .venv/bin/python bench/cpu_profile.py [--n 200] [--profiler pyinstrument|cprofile|none]
                                          [--log-level INFO] [--json-out FILE] [--profile-out DIR]

Why in process: the capacity bench (bench/capacity.py) measures the server's CPU per answer, but
on the shared 2 cores that figure moves with the machine's load and the GIL contention of 96
threads. This process's CPU time (time.process_time) per request, through Django's test client
and the full middleware stack, with the same settings as the capacity bench (DEBUG=False,
PostgreSQL, Redis, bench/bench_settings.py's in-process provider stub at zero latency, so the
providers' own work is not in it beyond requests' and the stub's few microseconds), is what a
change of code changes. Also counted per request: SQL statements (and BEGIN/COMMIT), Redis round
trips, provider calls, Celery messages published.

Paths:
  purchase  POST /api/customer/transactions/purchase, a new shopper each time (own phone,
            e-mail and address), the same bundle (its eSIM Go validation cached after the first).
  callback  GET /payments/qpay/callback/<id>/?token=..&qpay_payment_id=.. for each invoice
            bought: inbox row, QPay payment/check, Payment row, invoice PAID + transition, order
            + transition + e-mail claim, provisioning and e-mail tasks published.

--profiler pyinstrument needs pyinstrument importable (not a project dependency: e.g.
`pip install --target /tmp/prof pyinstrument` and PYTHONPATH=/tmp/prof); the text profile of
each path is printed (and written to --profile-out DIR).
"""

import argparse
import json
import logging
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench import common  # noqa: E402
from bench.purchase import WireLog, bench_env, purchase_body, setup_django, shopper_address  # noqa: E402

RUN = f"bench-cpu-{os.getpid()}"


class Published:
    """Celery messages published (before_task_publish), by task name."""

    def __init__(self):
        from celery.signals import before_task_publish

        self.count = 0
        before_task_publish.connect(self._seen, weak=False)

    def _seen(self, sender=None, **kwargs):
        self.count += 1


def profiler_for(kind: str):
    if kind == "pyinstrument":
        from pyinstrument import Profiler

        return Profiler(interval=0.0005)
    if kind == "cprofile":
        import cProfile

        return cProfile.Profile()
    return None


def profile_text(profiler, kind: str) -> str:
    if kind == "pyinstrument":
        return profiler.output_text(unicode=True, show_all=False, timeline=False)
    import io
    import pstats

    out = io.StringIO()
    pstats.Stats(profiler, stream=out).strip_dirs().sort_stats("cumulative").print_stats(45)
    return out.getvalue()


def run_path(label, calls, wire, published):
    """Each call once, timed by this process's CPU, its round trips counted."""
    from django.db import connection

    cpu, wall = [], []
    wire.reset()
    published.count = 0
    with connection.execute_wrapper(wire.sql_wrapper):
        for call in calls:
            c0, w0 = time.process_time(), time.perf_counter()
            call()
            cpu.append(time.process_time() - c0)
            wall.append(time.perf_counter() - w0)
    n = len(calls)
    result = {
        "n": n,
        "cpu_ms_median": common.summary_ms(cpu)["median"],
        "cpu_ms_mean": sum(cpu) / n * 1000,
        "wall_ms_median": common.summary_ms(wall)["median"],
        "sql_statements": wire.count["sql"] / n,
        "begin_commit": wire.count["tx"] / n,
        "redis_round_trips": wire.count["redis"] / n,
        "provider_calls": wire.count["http"] / n,
        "celery_messages": published.count / n,
    }
    print(
        f"{label:<9} n={n}: CPU {result['cpu_ms_mean']:.2f} ms mean ({result['cpu_ms_median']:.2f} median), "
        f"wall {result['wall_ms_median']:.2f} ms median; per request: {result['sql_statements']:.1f} SQL + "
        f"{result['begin_commit']:.1f} BEGIN/COMMIT, {result['redis_round_trips']:.1f} Redis, "
        f"{result['provider_calls']:.1f} provider calls, {result['celery_messages']:.1f} Celery messages",
        flush=True,
    )
    return result


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=200, help="timed requests of each path")
    parser.add_argument("--warmup", type=int, default=30)
    parser.add_argument("--profiler", choices=("pyinstrument", "cprofile", "none"), default="none")
    parser.add_argument("--log-level", default="INFO", help="LOG_LEVEL of the run (production: INFO)")
    parser.add_argument("--json-out")
    parser.add_argument("--profile-out", help="directory for the text profiles")
    args = parser.parse_args()

    common.require_services()
    redis_url = common.redis_url()
    log_path = Path(os.environ.get("TMPDIR", "/tmp")) / f"{RUN}.log"
    result = {"log_level": args.log_level, "load_start": os.getloadavg()[0]}
    with common.throwaway_postgres("cpu") as database_url:
        env = {
            **bench_env(database_url, redis_url, "http://127.0.0.1"),
            "CACHE_KEY_PREFIX": RUN,
            "BENCH_CELERY_QUEUE": RUN,
            "LOG_LEVEL": args.log_level,
        }
        try:
            common.run_manage(env, "migrate", "--noinput", "-v", "0")
            setup_django(env)
            # The log lines go where gunicorn's go, a file, not this terminal.
            handler = logging.FileHandler(log_path)
            root = logging.getLogger()
            for old in root.handlers:
                handler.setFormatter(old.formatter)
            root.handlers = [handler]
            result.update(measure(args))
        finally:
            from django.apps import apps

            if apps.ready:
                from django.db import connections

                connections.close_all()
            common.delete_redis_keys(redis_url, f"{RUN}*", f"*{RUN}*")
            log_path.unlink(missing_ok=True)
    result["load_end"] = os.getloadavg()[0]
    if args.json_out:
        Path(args.json_out).write_text(json.dumps(result, indent=2))


def measure(args) -> dict:
    from django.test import Client

    from bench.purchase import callback_urls

    wire, published = WireLog(), Published()
    wire.install()
    client = Client(SERVER_NAME="127.0.0.1")
    bought = []

    def buy(i):
        def call():
            client.cookies.clear()
            response = client.post(
                "/api/customer/transactions/purchase",
                purchase_body(i, "7"),
                content_type="application/json",
                HTTP_X_FORWARDED_FOR=shopper_address(i),
            )
            assert response.status_code == 201, response.content
            bought.append(response.json())

        return call

    def callback(url):
        def call():
            response = client.get(url)
            assert response.status_code == 200 and response["X-Callback-Outcome"] == "PAID", response.content

        return call

    out = {}
    for i in range(args.warmup):
        buy(i)()
    first = args.warmup
    out["purchase"] = run_path("purchase", [buy(i) for i in range(first, first + args.n)], wire, published)
    urls = callback_urls("", bought)
    for url in urls[: args.warmup]:
        callback(url)()
    out["callback"] = run_path("callback", [callback(u) for u in urls[args.warmup :]], wire, published)
    if args.profiler != "none":
        # The same count again under the profiler: new purchases, then their callbacks.
        first = args.warmup + args.n
        profiled = {"purchase": lambda: [buy(i) for i in range(first, first + args.n)]}
        profiled["callback"] = lambda: [callback(u) for u in callback_urls("", bought[-args.n :])]
        for label, make_calls in profiled.items():
            calls = make_calls()
            profiler = profiler_for(args.profiler)
            profiler.start() if args.profiler == "pyinstrument" else profiler.enable()
            for call in calls:
                call()
            profiler.stop() if args.profiler == "pyinstrument" else profiler.disable()
            text = profile_text(profiler, args.profiler)
            print(f"\n--- {args.profiler}: {label}, {len(calls)} requests ---\n{text}")
            if args.profile_out:
                Path(args.profile_out).mkdir(parents=True, exist_ok=True)
                (Path(args.profile_out) / f"{label}.txt").write_text(text)
    return out


if __name__ == "__main__":
    main()
