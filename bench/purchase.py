"""Benchmark: the purchase API and verified QPay callbacks against a bare view, on one real server.

    .venv/bin/python bench/purchase.py [--purchases 300] [--concurrency 4] [--json-out FILE]
    .venv/bin/python bench/purchase.py --profile 200      # where a purchase's time goes (cProfile)

Production shape: gunicorn (the Procfile's sync workers, --workers 2), DEBUG=False, LOG_LEVEL=INFO,
PostgreSQL (a throwaway database) and Redis (cache, rate limits, QPay token, Celery broker; the
run's own key prefix and queue, deleted afterwards). Providers at zero latency: QPay and eSIM Go
are answered in-process by bench/stub_providers.py, a requests transport mounted at their real
base URLs (BENCH_STUB_PROVIDERS=1 in bench/bench_settings.py), so the shop's own clients run
unchanged and only the network and the providers' work are gone. eSIM Go's shared limiter
(its 10 req/s quota, ESIMGO_RATE_LIMIT_PER_SECOND) is switched off: it would hold a sequential
client to 9 purchases a second and measure the quota, not the shop. Each shopper comes from an
address of their own (X-Forwarded-For behind the production proxy setting), so the per-address
purchase limit keeps its production value. The run's Celery queue is declared as a worker would
declare it, so the payment-check tasks are really pushed to Redis (no worker consumes them here).

1. Purchase vs bare view: one client, sequential, the two interleaved (purchase, /healthz,
   purchase, ...) so a busy moment on the machine hits both alike. Each purchase is a new
   shopper with no cookies: eSIM Go validate, customer, invoice row + transition, QPay token
   (cached) + invoice, QR/links stored, payment checks scheduled in Celery. /healthz is a bare
   JsonResponse view behind the same middleware. Also the double-submit path (same shopper again:
   the open invoice comes back, no provider call).
2. Verified callbacks/s: QPay-style GET callbacks (?token=..&qpay_payment_id=..) for the invoices
   just created; each asks the (stub) QPay payment/check, records the payment, marks the invoice
   PAID and hands over to orders (order row, e-mail claim, provisioning task enqueued; no worker
   runs here). Sequential (1 client) and --concurrency clients; duplicates (already PAID, no
   QPay call) likewise; /healthz at the same concurrency for scale.

3. Where a purchase's time goes: 100 purchases in process (Django's test client, same settings,
   database and Redis, no HTTP server) with every PostgreSQL, Redis and provider round trip timed.

--profile N: only that, for N purchases under cProfile, also listing one purchase's round trips.
"""

import argparse
import json
import os
import secrets
import shutil
import sys
import tempfile
import threading
import time
from decimal import Decimal
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench import common  # noqa: E402
from bench.purchase_in_process import in_process  # noqa: E402

BUNDLE = "esim_1GB_7D_MN_V2"
PRICE_MNT = 12500
QPAY_URL = "https://merchant.qpay.mn"
ESIMGO_URL = "https://api.esim-go.com/v2.4"
RUN = f"bench-purchase-{os.getpid()}"


def bench_env(database_url: str, redis_url: str, site: str) -> dict:
    return {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "bench.bench_settings",
        "DATABASE_URL": database_url,
        "REDIS_URL": redis_url,
        "CACHE_KEY_PREFIX": RUN,
        "BENCH_CELERY_QUEUE": RUN,
        "DEBUG": "False",
        "SECRET_KEY": "bench-only-" + secrets.token_hex(32),
        "ALLOWED_HOSTS": "127.0.0.1,testserver",
        "SITE_URL": site,
        "LOG_LEVEL": "INFO",
        "EMAIL_URL": "consolemail://",
        "BENCH_STUB_PROVIDERS": "1",
        "QPAY_BASE_URL": QPAY_URL,
        "ESIMGO_BASE_URL": ESIMGO_URL,
        "ESIMGO_API_KEY": "bench-stub-esimgo-key",
        # Benchmarks leave invoices unpaid from one machine: the open-invoice caps would refuse them.
        **{f"PAYMENTS_MAX_OPEN_INVOICES_{k}": "1000000" for k in ("PER_PHONE", "PER_EMAIL", "PER_ADDRESS", "TOTAL")},
        "QPAY_CLIENT_ID": "BENCH_MERCHANT",
        "QPAY_CLIENT_SECRET": "bench-stub-secret",
        "QPAY_INVOICE_CODE": "BENCH_INVOICE",
        "QPAY_CALLBACK_PUBLIC_BASE_URL": site,
        "TRUSTED_PROXY_COUNT": "1",  # shoppers' addresses arrive as the proxy's X-Forwarded-For entry
        "ESIMGO_RATE_LIMIT_PER_SECOND": "0",
        "PAYMENTS_STATUS_RATE_LIMIT_PER_MINUTE": "1000000",
        "EBARIMT_ENABLED": "False",
    }


def setup_django(env: dict) -> None:
    os.environ.update(env)
    import django

    django.setup()
    from catalog.models import Bundle
    from esimshop.celery import app
    from sandbox.esimgo.catalogue import get_catalogue

    with app.connection_for_write() as connection:  # as a worker on these queues would: messages are kept
        for queue in app.conf.task_queues:
            queue.bind(connection.default_channel).declare()
    price = Decimal(str(get_catalogue().by_name[BUNDLE]["price"]))
    Bundle.objects.create(
        name=BUNDLE,
        description="eSIM, 1GB, 7 Days, Mongolia, V2",
        data_amount_mb=1000,
        duration_days=7,
        price=price,
        currency="USD",
        computed_price_mnt=PRICE_MNT,
        source_hash="bench",
    )


def purchase_body(i: int, prefix: str = "9") -> dict:
    return {
        "phoneNumber": f"{prefix}{i:07d}",
        "email": f"bench{prefix}{i}@example.mn",
        "amount": PRICE_MNT,
        "packageCode": BUNDLE,
    }


# --- 1. purchase vs bare view -------------------------------------------------------------------


def shopper_address(i: int) -> str:
    """Each shopper has an address of their own, as seen behind the production proxy (the last
    X-Forwarded-For entry with TRUSTED_PROXY_COUNT=1), so the per-address purchase
    limit (30 a minute) stays at its production value and costs what it costs a real shopper."""
    return f"10.{i // 65536 % 256}.{i // 256 % 256}.{i % 256}"


def timed(session, method, url, **kwargs):
    session.cookies.clear()  # every purchase is a new shopper (an API client without a cookie jar)
    started = time.perf_counter()
    response = session.request(method, url, timeout=30, **kwargs)
    return time.perf_counter() - started, response


def purchases_vs_bare(site: str, count: int, warmup: int):
    import requests

    session = requests.Session()
    purchase_url, bare_url = f"{site}/api/customer/transactions/purchase", f"{site}/healthz"
    times = {"purchase": [], "bare": [], "double-submit": [], "bare (double-submit pass)": []}
    invoices = []
    for i in range(warmup + count):
        elapsed, response = timed(
            session, "POST", purchase_url, json=purchase_body(i), headers={"X-Forwarded-For": shopper_address(i)}
        )
        if response.status_code != 201:
            raise SystemExit(f"purchase {i}: HTTP {response.status_code} {response.text[:300]}")
        invoices.append(response.json())
        bare_elapsed, bare = timed(session, "GET", bare_url)
        assert bare.status_code == 200
        if i >= warmup:
            times["purchase"].append(elapsed)
            times["bare"].append(bare_elapsed)
    for i in range(warmup, warmup + count):  # the same shoppers again: their open invoice comes back
        elapsed, response = timed(
            session, "POST", purchase_url, json=purchase_body(i), headers={"X-Forwarded-For": shopper_address(i)}
        )
        if response.status_code != 201 or response.json()["internalInvoiceId"] != invoices[i]["internalInvoiceId"]:
            raise SystemExit(f"double-submit {i}: HTTP {response.status_code} {response.text[:300]}")
        bare_elapsed, _ = timed(session, "GET", bare_url)
        times["double-submit"].append(elapsed)
        times["bare (double-submit pass)"].append(bare_elapsed)
    return times, invoices


# --- 2. callbacks -------------------------------------------------------------------------------


def callback_urls(site: str, invoices) -> list[str]:
    from bench.stub_providers import payment_id_for
    from payments.inbox import callback_token

    return [
        f"{site}/payments/qpay/callback/{data['internalInvoiceId']}/?token={callback_token(data['internalInvoiceId'])}"
        f"&qpay_payment_id={payment_id_for(data['invoice_id'])}"
        for data in invoices
    ]


def fire(urls, concurrency: int):
    """GET each URL once from `concurrency` client threads; (seconds, [(status, text, outcome)])."""
    import requests

    outcomes, lock, index = [], threading.Lock(), iter(range(len(urls)))

    def client():
        session = requests.Session()
        while True:
            with lock:
                i = next(index, None)
            if i is None:
                return
            response = session.get(urls[i], timeout=60)
            with lock:
                outcomes.append((response.status_code, response.text, response.headers.get("X-Callback-Outcome")))

    threads = [threading.Thread(target=client) for _ in range(concurrency)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return time.perf_counter() - started, outcomes


def callbacks(site: str, invoices, concurrency: int, log_path) -> dict:
    urls = callback_urls(site, invoices)
    half = len(urls) // 2
    bare = [f"{site}/healthz"] * half
    results = {}
    for label, batch, clients, expected in (
        ("verified, 1 client", urls[:half], 1, "PAID"),
        (f"verified, {concurrency} clients", urls[half:], concurrency, "PAID"),
        (f"duplicate, {concurrency} clients", urls[:half], concurrency, "DUPLICATE"),
        ("bare /healthz, 1 client", bare, 1, None),
        (f"bare /healthz, {concurrency} clients", bare, concurrency, None),
    ):
        seconds, outcomes = fire(batch, clients)
        bad = [o for o in outcomes if o[0] != 200 or (expected and (o[1] != "SUCCESS" or o[2] != expected))]
        if bad:
            raise SystemExit(f"{label}: {len(bad)} unexpected replies, e.g. {bad[0]}\n{common.tail(log_path)}")
        results[label] = {"n": len(batch), "per_second": len(batch) / seconds, "clients": clients}
    from payments.models import Invoice

    results["invoices PAID"] = Invoice.objects.filter(status="PAID").count()
    return results


# --- report -------------------------------------------------------------------------------------


def report(times, calls, args) -> dict:
    s = {label: common.summary_ms(values) for label, values in times.items()}
    ratio = s["purchase"]["median"] / s["bare"]["median"]
    again = s["double-submit"]["median"] / s["bare (double-submit pass)"]["median"]
    print(
        f"\n1. Purchase API vs bare view: gunicorn sync x{args.workers}, DEBUG=False, PostgreSQL + Redis, "
        f"providers stubbed in-process at zero latency; {args.purchases} of each, interleaved, 1 client"
    )
    print(f"   {'request':<42}{'median ms':>10}{'p95 ms':>9}{'p99 ms':>9}{'x bare':>8}")
    for label, versus in (
        ("bare", "bare"),
        ("purchase", "bare"),
        ("bare (double-submit pass)", "bare (double-submit pass)"),
        ("double-submit", "bare (double-submit pass)"),
    ):
        name = {
            "bare": "GET /healthz (bare view)",
            "purchase": "POST purchase (new invoice)",
            "double-submit": "POST purchase (double-submit, reused)",
        }.get(label, "GET /healthz (same pass)")
        print(
            f"   {name:<42}{s[label]['median']:>10.2f}{s[label]['p95']:>9.2f}{s[label]['p99']:>9.2f}"
            f"{s[label]['median'] / s[versus]['median']:>8.1f}"
        )
    print("\n2. QPay callbacks (same server; each verified one = stub QPay payment/check + PAID + order handed over)")
    print(f"   {'what':<40}{'n':>6}{'per second':>12}")
    for label, row in calls.items():
        if isinstance(row, dict):
            print(f"   {label:<40}{row['n']:>6}{row['per_second']:>12.1f}")
    print(f"   invoices PAID: {calls['invoices PAID']} of {args.purchases + args.warmup}")
    return {
        "purchase_ms": s["purchase"],
        "bare_ms": s["bare"],
        "ratio": ratio,
        "double_submit_ms": s["double-submit"],
        "double_submit_ratio": again,
        "callbacks": calls,
        "workers": args.workers,
        "concurrency": args.concurrency,
        "purchases": args.purchases,
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--purchases", type=int, default=300, help="timed purchases (and bare requests)")
    parser.add_argument("--warmup", type=int, default=20)
    parser.add_argument("--concurrency", type=int, default=4, help="client threads for the concurrent callbacks")
    parser.add_argument("--workers", type=int, default=2, help="gunicorn sync workers")
    parser.add_argument("--profile", type=int, metavar="N", help="profile N purchases in process instead")
    parser.add_argument("--profile-out", metavar="FILE", help="with --profile: also write cProfile's stats here")
    parser.add_argument("--json-out", help="write the figures as JSON here (bench/run_all.py reads it)")
    args = parser.parse_args()

    common.require_services()
    tmp = Path(tempfile.mkdtemp(prefix="esimshop-purchase-bench-"))
    log_path = tmp / "server.log"
    redis_url = common.redis_url()
    server = None
    with common.throwaway_postgres("purchase") as database_url:
        port = common.free_port()
        site = f"http://127.0.0.1:{port}"
        env = bench_env(database_url, redis_url, site)
        try:
            common.run_manage(env, "migrate", "--noinput", "-v", "0")
            setup_django(env)
            if args.profile:
                in_process(args.profile, purchase_body, shopper_address, profile=True, profile_out=args.profile_out)
                shutil.rmtree(tmp, ignore_errors=True)
                return
            server = common.start_gunicorn(port=port, env=env, log_path=log_path, workers=args.workers)
            times, invoices = purchases_vs_bare(site, args.purchases, args.warmup)
            calls = callbacks(site, invoices, args.concurrency, log_path)
            common.stop(server)
            server = None
            result = report(times, calls, args)
            print("\n3. Where a purchase's time goes")
            result["in_process"] = in_process(min(args.purchases, 100), purchase_body, shopper_address)
            if args.json_out:
                Path(args.json_out).write_text(json.dumps(result, indent=2))
            shutil.rmtree(tmp, ignore_errors=True)  # the server log is kept only when something failed
        finally:
            common.stop(server)
            from django.apps import apps

            if apps.ready:
                from django.db import connections

                connections.close_all()
            common.delete_redis_keys(redis_url, f"{RUN}*", f"*{RUN}*")


if __name__ == "__main__":
    main()
