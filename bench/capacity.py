"""Benchmark: capacity with real provider latency, the server exactly as the Procfile starts it.

    .venv/bin/python bench/capacity.py [--seconds 20] [--pollers 1000] [--json-out FILE]

Production shape: the Procfile's `web:` line run by bash (PORT, WEB_CONCURRENCY, GUNICORN_THREADS
from the environment; gunicorn gthread), DEBUG=False, PostgreSQL (a throwaway database on the
DATABASE_URL server) and Redis (REDIS_URL; the run's own key prefix and Celery queue, deleted
afterwards). QPay and eSIM Go are answered in-process by bench/stub_providers.py with
BENCH_PROVIDER_LATENCY_MS (250) per call and QPay's payment/check at BENCH_QPAY_CHECK_LATENCY_MS
(150); every provider call is counted in a Redis hash, whichever process made it.

Phases (each shopper has an address of their own, as behind the production proxy):
 1. 30 shoppers posting purchases back to back for --seconds: purchases/s, median, p95.
 2. 100 shoppers likewise: slowest answer, 503s (counted; the shopper waits Retry-After), 500s.
 3. 30 shoppers again plus --pollers waiting shoppers polling their invoice's status on
    payments/static/payments/pay.js's schedule (bench/load.py), pages opened 0-5 min ago.
 4. Verified QPay callbacks/s for invoices of phase 1 (--callback-clients at once), and the bare
    view at the same concurrency; then a Celery worker (Procfile `worker:` options, the run's
    queue, eSIM Go's limiter at its real 9/s) delivers the paid orders: eSIM Go requests per
    delivered eSIM from the stub's counts, deliveries per second.
 5. Peak RSS (VmHWM) of the gunicorn master and each worker, and of each Celery process.

eSIM Go's limiter is off for the web server in phases 1-3 (ESIMGO_RATE_LIMIT_PER_SECOND=0):
purchases validate with eSIM Go, and at 9/s the limiter would cap purchases at 9/s, which
measures the quota, not the server - the payments side's per-bundle validation cache is what
takes validation off that budget (issue 9's branch; see bench/results.md).
"""

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench import capacity_deliveries, common, load  # noqa: E402
from bench.purchase import bench_env, callback_urls, purchase_body, setup_django, shopper_address  # noqa: E402

RUN = f"bench-capacity-{os.getpid()}"
PROVIDER_MS, CHECK_MS = 250, 150


def procfile_web_command() -> str:
    for line in (ROOT / "Procfile").read_text().splitlines():
        if line.startswith("web:"):
            return line.split(":", 1)[1].strip()
    raise SystemExit("Procfile has no web: line")


def start_procfile_web(env: dict, port: int, log_path) -> subprocess.Popen:
    """bash runs the Procfile line itself (its ${VAR:-default}s expanded as a process manager would)."""
    env = {**env, "PORT": str(port), "PATH": f"{Path(sys.executable).parent}:{env.get('PATH', '')}"}
    log = open(log_path, "ab")
    server = subprocess.Popen(
        ["bash", "-c", f"exec {procfile_web_command()}"],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    log.close()
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise SystemExit(f"the Procfile's web server exited during start-up:\n{common.tail(log_path)}")
        if common.answers(f"http://127.0.0.1:{port}/healthz"):
            return server
        time.sleep(0.2)
    common.stop(server)
    raise SystemExit(f"web server did not answer within 60 s:\n{common.tail(log_path)}")


def summarise(rows, seconds) -> dict:
    statuses = {}
    for _, _, status in rows:
        statuses[status] = statuses.get(status, 0) + 1
    ok = [s for _, s, status in rows if status == 201]
    every = [s for _, s, _ in rows]
    out = {
        "answers": len(rows),
        "statuses": statuses,
        "created": len(ok),
        "per_second": len(ok) / seconds,
        "max_ms": max(every) * 1000 if every else None,
        "load": os.getloadavg()[0],
    }
    if ok:
        out.update({f"{k}_ms": v for k, v in common.summary_ms(ok).items()})
    return out


SERVER_PID = {}


def shopper_phase(site, count, seconds, start_index):
    """Shoppers for `seconds`; also the web server's and this client's CPU per created invoice
    (on a shared machine the CPU they got, next to the load average, says how far it was starved)."""
    answers = load.Answers()
    server_cpu, client_cpu = load.tree_cpu_seconds(SERVER_PID["web"]), time.process_time()
    created = load.shoppers(
        site=site,
        count=count,
        seconds=seconds,
        body_for=purchase_body,
        address_for=shopper_address,
        answers=answers,
        start_index=start_index,
    )
    summary = summarise(answers.rows, seconds)
    server_cpu = load.tree_cpu_seconds(SERVER_PID["web"]) - server_cpu
    client_cpu = time.process_time() - client_cpu
    summary.update(
        {
            "web_cpu_share": server_cpu / seconds,
            "client_cpu_share": client_cpu / seconds,
            "web_cpu_ms_per_answer": server_cpu * 1000 / max(summary["answers"], 1),
        }
    )
    return summary, created


def status_path_of(purchase: dict) -> str:
    parts = urlsplit(purchase["statusUrl"])
    return f"{parts.path}?{parts.query}"


def provider_counts(redis_url) -> dict:
    return capacity_deliveries.provider_counts(redis_url, f"{RUN}:calls")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--pollers", type=int, default=1000)
    parser.add_argument("--callback-clients", type=int, default=32)
    parser.add_argument("--callbacks", type=int, default=600)
    parser.add_argument("--burst-paid", type=int, default=400, help="paid orders waiting when the burst starts")
    parser.add_argument("--json-out")
    args = parser.parse_args()

    common.require_services()
    log_dir = Path(tempfile.mkdtemp(prefix="esimshop-capacity-bench-"))
    redis_url = common.redis_url()
    server = None
    result = {"procfile_web": procfile_web_command(), "provider_ms": PROVIDER_MS, "check_ms": CHECK_MS}
    with common.throwaway_postgres("capacity") as database_url:
        port = common.free_port()
        site = f"http://127.0.0.1:{port}"
        env = {
            **bench_env(database_url, redis_url, site),
            "CACHE_KEY_PREFIX": RUN,
            "BENCH_CELERY_QUEUE": RUN,
            "BENCH_PROVIDER_LATENCY_MS": str(PROVIDER_MS),
            "BENCH_QPAY_CHECK_LATENCY_MS": str(CHECK_MS),
            "BENCH_COUNT_REDIS_URL": redis_url,
            "BENCH_COUNT_KEY": f"{RUN}:calls",
            "LOG_LEVEL": "WARNING",
            "PAYMENTS_PURCHASE_RATE_LIMIT_PER_MINUTE": "30",
        }
        for name in ("WEB_CONCURRENCY", "GUNICORN_THREADS", "WEB_MAX_IN_FLIGHT"):
            if os.environ.get(name):
                env[name] = os.environ[name]
        try:
            common.run_manage(env, "migrate", "--noinput", "-v", "0")
            setup_django(env)
            server = start_procfile_web(env, port, log_dir / "web.log")
            SERVER_PID["web"] = server.pid
            shopper_phase(site, 10, 3, 5_000_000)  # warm-up: imports, connections, QPay token
            print(f"web: {result['procfile_web']}", flush=True)
            result["30 shoppers"], invoices = shopper_phase(site, 30, args.seconds, 0)
            print("30 shoppers:", json.dumps(result["30 shoppers"]), flush=True)
            result["100 shoppers"], more = shopper_phase(site, 100, args.seconds, 1_000_000)
            print("100 shoppers:", json.dumps(result["100 shoppers"]), flush=True)
            # The purchase answer's statusUrl: the status API wants the invoice's capability token
            # (issue 9); the id alone is a 404. Path and query only, on this run's own server.
            urls = [f"{site}{status_path_of(data)}" for data in (more + invoices)[: args.pollers]]
            pollers = load.Pollers(urls).start()
            time.sleep(2)
            window = time.monotonic()
            result["30 shoppers + pollers"], unpaid = shopper_phase(site, 30, args.seconds, 2_000_000)
            end = time.monotonic()
            pollers.stop()
            polls = pollers.answers.between(window, end)
            result["polls"] = {
                "pollers": len(urls),
                "answers": len(polls),
                "per_second": len(polls) / (end - window),
                "statuses": {s: sum(1 for *_, x in polls if x == s) for s in {x for *_, x in polls}},
                **{f"{k}_ms": v for k, v in common.summary_ms([s for _, s, _ in polls]).items()},
                "client_lag_p95_ms": common.percentile(pollers.late, 0.95) * 1000,
            }
            print("30 shoppers + pollers:", json.dumps(result["30 shoppers + pollers"]), flush=True)
            print("polls:", json.dumps(result["polls"]), flush=True)
            # The status polls queued payment checks (no worker ran): drop them, so the worker
            # below only delivers what the callbacks paid (the stub QPay reports every invoice paid).
            import redis

            redis.Redis.from_url(redis_url).delete(RUN)
            result["callbacks"] = callback_phase(site, invoices[: args.callbacks], args.callback_clients)
            print("callbacks:", json.dumps(result["callbacks"]), flush=True)
            result["web_peak_rss_mb"] = load.process_tree_peaks(server.pid)
            common.stop(server)
            server = None
            result["deliveries"] = capacity_deliveries.deliveries(
                env, log_dir, redis_url, f"{RUN}:calls", RUN, result["callbacks"]["paid"], timeout=180
            )
            print("deliveries:", json.dumps(result["deliveries"]), flush=True)
            result["deliveries during a purchase burst"] = delivery_burst(
                env, log_dir, redis_url, (unpaid + invoices[args.callbacks :])[: args.burst_paid], args.seconds
            )
            print("deliveries during a purchase burst:", json.dumps(result["deliveries during a purchase burst"]))
            result["validations_per_purchase"] = validations_per_purchase(redis_url)
            if args.json_out:
                Path(args.json_out).write_text(json.dumps(result, indent=2, default=str))
            errors = re.findall(r"^.*(?:Traceback|ERROR).*$", common.tail(log_dir / "web.log", 20000), re.M)
            result["server_errors"] = errors[:5]
            print("server log errors:", errors[:5] or "none")
            shutil.rmtree(log_dir, ignore_errors=True)
        finally:
            common.stop(server)
            from django.apps import apps

            if apps.ready:
                from django.db import connections

                connections.close_all()
            common.delete_redis_keys(redis_url, f"{RUN}*", f"*{RUN}*")


def delivery_burst(env, log_dir, redis_url, invoices, seconds) -> dict:
    """Phase 6: paid orders delivered at eSIM Go's limit while 30 shoppers' purchases validate
    under the same limiter (bench/capacity_deliveries.py)."""
    from bench.purchase import fire

    port = common.free_port()

    def start_web(limited_env):
        return start_procfile_web(limited_env, port, log_dir / "burst-web.log"), f"http://127.0.0.1:{port}"

    def pay(site):
        _seconds, outcomes = fire(callback_urls(site, invoices), 32)
        return sum(1 for o in outcomes if o[2] == "PAID")

    import redis

    redis.Redis.from_url(redis_url).delete(RUN)  # earlier phases' payment checks: not this phase's work
    return capacity_deliveries.burst(
        env=env,
        log_dir=log_dir,
        redis_url=redis_url,
        count_key=f"{RUN}:calls",
        queue=RUN,
        start_web=start_web,
        pay=pay,
        shoppers=30,
        seconds=max(seconds, 20),
    )


def callback_phase(site, invoices, clients) -> dict:
    from bench.purchase import fire
    from payments.models import Invoice

    cpu = load.tree_cpu_seconds(SERVER_PID["web"])
    seconds, outcomes = fire(callback_urls(site, invoices), clients)
    cpu = load.tree_cpu_seconds(SERVER_PID["web"]) - cpu
    bare_seconds, bare = fire([f"{site}/healthz"] * len(invoices), clients)
    good = [o for o in outcomes if o[0] == 200 and o[1] == "SUCCESS" and o[2] == "PAID"]
    return {
        "n": len(invoices),
        "clients": clients,
        "verified": len(good),
        "per_second": len(good) / seconds,
        "bare_per_second": len(bare) / bare_seconds,
        "statuses": sorted({o[0] for o in outcomes}),
        "paid": Invoice.objects.filter(status="PAID").count(),
        "load": os.getloadavg()[0],
        "web_cpu_share": cpu / seconds,
        "web_cpu_ms_per_callback": cpu * 1000 / max(len(invoices), 1),
    }


def validations_per_purchase(redis_url) -> float:
    from payments.models import Invoice

    counts = provider_counts(redis_url)
    return counts.get("esimgo POST orders:validate", 0) / max(Invoice.objects.count(), 1)


if __name__ == "__main__":
    main()
