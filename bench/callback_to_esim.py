#!/usr/bin/env python
"""Callback -> eSIM page ready: how long after QPay's payment callback reaches the shop can the
shopper see their eSIM (QR and codes)? Real processes throughout.

    .venv/bin/python bench/callback_to_esim.py [--n 50] [--worker-concurrency 2] [--json-out FILE]

gunicorn (gthread 3x4, DEBUG=False, bench/bench_settings.py) serves the shop and its built-in
sandbox QPay and eSIM Go over real HTTP; a Celery worker (prefork) provisions; Redis is broker
and cache (the run's own key prefix and queue, deleted afterwards); PostgreSQL is a throwaway
database, dropped afterwards. eSIM Go's shared rate limiter keeps its production value (9 req/s).

Per iteration: buy through the purchase API, pay in the sandbox bank app with the sandbox's own
callback suppressed (fault injection), then
  t0 = just before we send QPay's callback (GET /payments/qpay/callback/<id>/?...&qpay_payment_id=)
  t1 = when GET /esims/<uuid>/ returns the page with the LPA string (polled every 10 ms via the
       public status API, which turns PROCESSED with esimUrl once the order is delivered).
One warm-up iteration is not counted. Prints median / p90 / p99 / max of t1 - t0 and of the
callback response alone; targets: median <= 1 s, p99 <= 3 s.
"""

import argparse
import json
import os
import re
import secrets
import sys
import tempfile
import time
from decimal import Decimal
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench import common  # noqa: E402

BUNDLE = "esim_1GB_7D_MN_V2"
RUN = f"bench-callback-{os.getpid()}"
TARGET_MEDIAN_MS, TARGET_P99_MS = 1000, 3000


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=50, help="number of purchases to measure")
    parser.add_argument("--worker-concurrency", type=int, default=2)
    parser.add_argument("--json-out", help="write the figures as JSON here (bench/run_all.py reads it)")
    args = parser.parse_args()

    common.require_services()
    redis_url = common.redis_url()
    logs = Path(tempfile.mkdtemp(prefix="esimshop-callback-bench-"))
    web = worker = None
    with common.throwaway_postgres("callback") as database_url:
        port = common.free_port()
        site = f"http://127.0.0.1:{port}"
        env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "bench.bench_settings",
            "DATABASE_URL": database_url,
            "REDIS_URL": redis_url,
            "CACHE_KEY_PREFIX": RUN,
            "BENCH_CELERY_QUEUE": RUN,
            "DEBUG": "False",
            "SECRET_KEY": "bench-only-" + secrets.token_hex(32),
            "ALLOWED_HOSTS": "127.0.0.1",
            "SITE_URL": site,
            "TRUSTED_PROXY_COUNT": "1",  # shoppers' addresses arrive as the proxy's X-Forwarded-For entry
            "SANDBOX": "True",
            "SANDBOX_PUBLIC_DEMO": "True",  # DEBUG=False on the sandbox: allowed only as a demo
            "ESIMGO_API_KEY": "",
            "LOG_LEVEL": "INFO",
            "EMAIL_URL": "consolemail://",
            # One client polls the public status API every 10 ms: not a shopper's pace.
            "PAYMENTS_STATUS_RATE_LIMIT_PER_MINUTE": "1000000",
            # Benchmarks leave invoices unpaid from one machine: the open-invoice caps would refuse them.
            **{
                f"PAYMENTS_MAX_OPEN_INVOICES_{k}": "1000000" for k in ("PER_PHONE", "PER_EMAIL", "PER_ADDRESS", "TOTAL")
            },
        }
        try:
            common.run_manage(env, "migrate", "--noinput", "-v", "0")
            os.environ.update(env)
            import django

            django.setup()
            create_bundle()
            web = common.start_gunicorn(
                port=port, env=env, log_path=logs / "web.log", workers=3, worker_class="gthread", threads=4
            )
            worker = common.start_celery_worker(
                env=env, log_path=logs / "worker.log", concurrency=args.worker_concurrency, queue=RUN, name=RUN
            )
            latencies, callback_times = [], []
            for index in range(args.n + 1):  # the first one warms up imports, pools, the QPay token
                elapsed, callback_elapsed = one_purchase(site, index, logs)
                if index:
                    latencies.append(elapsed)
                    callback_times.append(callback_elapsed)
            from orders.models import Order

            delivered = Order.objects.filter(status="DELIVERED").count()
        finally:
            common.stop(worker, timeout=30)
            common.stop(web)
            from django.apps import apps

            if apps.ready:
                from django.db import connections

                connections.close_all()
            common.delete_redis_keys(redis_url, f"{RUN}*", f"*{RUN}*")

    ready, callback = common.summary_ms(latencies), common.summary_ms(callback_times)
    p90 = common.percentile([s * 1000 for s in latencies], 0.90)
    print(
        f"callback -> eSIM page ready, n={ready['n']} (gunicorn gthread 3x4, celery prefork x{args.worker_concurrency}, "
        f"Redis, PostgreSQL, sandbox providers over HTTP; {delivered} orders delivered)"
    )
    print(
        f"  median {ready['median']:7.1f} ms   p90 {p90:7.1f} ms   p99 {ready['p99']:7.1f} ms   max {ready['max']:7.1f} ms"
        f"   (targets: median <= {TARGET_MEDIAN_MS} ms, p99 <= {TARGET_P99_MS} ms)"
    )
    print(f"callback response alone: median {callback['median']:.1f} ms, p99 {callback['p99']:.1f} ms")
    print(f"logs: {logs}")
    if args.json_out:
        Path(args.json_out).write_text(
            json.dumps(
                {
                    "ready_ms": ready,
                    "p90_ms": p90,
                    "callback_ms": callback,
                    "delivered": delivered,
                    "n": args.n,
                    "worker_concurrency": args.worker_concurrency,
                },
                indent=2,
            )
        )


def create_bundle():
    from catalog.models import Bundle
    from sandbox.esimgo.catalogue import get_catalogue

    Bundle.objects.create(
        name=BUNDLE,
        description="eSIM, 1GB, 7 Days, Mongolia",
        data_amount_mb=1000,
        duration_days=7,
        price=Decimal(str(get_catalogue().by_name[BUNDLE]["price"])),
        currency="USD",
        computed_price_mnt=12500,
        source_hash="bench",
    )


def one_purchase(site, index, logs):
    import requests
    from django.db import connection

    from sandbox.qpay import faults as qpay_faults
    from sandbox.qpay.services import callback_url_for

    # Each shopper from an address of their own (TRUSTED_PROXY_COUNT=1, as behind the production proxy):
    # the per-address purchase limit (30 a minute) keeps its production value.
    response = requests.post(
        f"{site}/api/customer/transactions/purchase",
        json={
            "phoneNumber": f"9{index:07d}",
            "email": f"bench{index}@example.mn",
            "amount": 12500,
            "packageCode": BUNDLE,
        },
        headers={"X-Forwarded-For": f"10.1.{index // 256 % 256}.{index % 256}"},
        timeout=30,
    )
    if response.status_code != 201:
        raise SystemExit(f"purchase {index}: HTTP {response.status_code} {response.text[:300]}")
    purchase = response.json()
    # Pay in the sandbox bank app, but hold back the sandbox's own callback: we send it ourselves.
    qpay_faults.inject("GET callback", count=1)
    bank = requests.Session()
    page = bank.get(purchase["qr_link"], timeout=30).text
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page).group(1)
    bank.post(
        purchase["qr_link"],
        data={"csrfmiddlewaretoken": token, "action": "full", "payment_type": "P2P"},
        headers={"Referer": purchase["qr_link"]},
        timeout=30,
    ).raise_for_status()
    payment = common.wait_for(lambda: _payment_for(purchase), 10, "the sandbox payment")
    url = callback_url_for(payment)
    connection.close()
    session = requests.Session()
    started = time.perf_counter()
    callback = session.get(url, timeout=30)
    callback_elapsed = time.perf_counter() - started
    if callback.status_code != 200:
        raise SystemExit(f"callback {index}: HTTP {callback.status_code} {callback.text[:200]}")
    while True:
        reply = session.get(purchase["statusUrl"], timeout=30)
        if reply.status_code != 200:
            raise SystemExit(f"status API answered {reply.status_code}: {reply.text[:200]}")
        status = reply.json()
        if status["status"] == "PROCESSED" and status.get("esimUrl"):
            esim_url = status["esimUrl"] if status["esimUrl"].startswith("http") else site + status["esimUrl"]
            page = session.get(esim_url, timeout=30)
            if page.status_code == 200 and "LPA:1$" in page.text:
                return time.perf_counter() - started, callback_elapsed
        if status["status"] == "FAILED":
            raise SystemExit(f"order failed: {status}\n{common.tail(logs / 'worker.log')}")
        if time.perf_counter() - started > 60:
            raise SystemExit(f"eSIM not ready after 60 s: {status}\n{common.tail(logs / 'worker.log')}")
        time.sleep(0.01)


def _payment_for(purchase):
    from sandbox.qpay.models import SandboxPayment

    qpay_invoice_id = purchase["qr_link"].rstrip("/").rsplit("/", 1)[1]
    return SandboxPayment.objects.filter(invoice__invoice_id=qpay_invoice_id).select_related("invoice").first()


if __name__ == "__main__":
    main()
