#!/usr/bin/env python
"""Callback → eSIM page ready: how long after QPay's payment callback reaches the shop can the
shopper see their eSIM (QR and codes)? Real processes: gunicorn serving the shop and its
sandbox providers, a Celery worker, Redis as broker and cache, PostgreSQL.

    .venv/bin/python bench/callback_to_esim.py [--n 50]

Per iteration: buy through the purchase API, pay in the sandbox bank app with the sandbox's own
callback suppressed (fault injection), then
  t0 = just before we send QPay's callback (GET /payments/qpay/callback/<id>/?...&qpay_payment_id=)
  t1 = when GET /esims/<uuid>/ returns the page with the LPA string (polled every 10 ms via the
       public status API, which turns PROCESSED with esimUrl once the order is delivered).
Prints median / p90 / p99 / max of t1 - t0 and of the callback response time alone.
Uses its own database (created fresh) and Redis db, never port 8000.
"""
import argparse
import os
import re
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from decimal import Decimal
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PYTHON = sys.executable


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def percentile(values, fraction):
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(fraction * (len(ordered) - 1))))
    return ordered[index]


def recreate_database(url: str):
    import psycopg

    name = url.rsplit("/", 1)[1]
    admin = url.rsplit("/", 1)[0] + "/postgres"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')


def wait_for(condition, timeout, what):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.01)
    raise SystemExit(f"timed out waiting for {what}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=50, help="number of purchases to measure")
    parser.add_argument("--database-url", default="postgres://postgres@127.0.0.1:5432/esimshop_bench")
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/5")
    parser.add_argument("--worker-concurrency", type=int, default=2)
    args = parser.parse_args()

    port = free_port()
    site = f"http://127.0.0.1:{port}"
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "esimshop.settings",
        "DATABASE_URL": args.database_url,
        "REDIS_URL": args.redis_url,
        "SANDBOX": "1",
        "ESIMGO_API_KEY": "",
        "SITE_URL": site,
        "DEBUG": "True",
        "LOG_LEVEL": "WARNING",
        "EMAIL_URL": "consolemail://",
        "CACHE_KEY_PREFIX": "esimshop-bench",
        # The bench polls the public status API every 10 ms from one IP.
        "PAYMENTS_STATUS_RATE_LIMIT_PER_MINUTE": "1000000",
    }
    os.environ.update(env)
    recreate_database(args.database_url)
    import redis

    redis.Redis.from_url(args.redis_url).flushdb()
    subprocess.run([PYTHON, "manage.py", "migrate", "--noinput", "-v", "0"], cwd=ROOT, env=env, check=True)

    sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    import requests
    from django.db import connection

    from catalog.models import Bundle
    from orders.models import Order
    from sandbox.esimgo.catalogue import get_catalogue
    from sandbox.qpay import faults as qpay_faults
    from sandbox.qpay.models import SandboxPayment
    from sandbox.qpay.services import callback_url_for

    name = "esim_1GB_7D_MN_V2"
    Bundle.objects.create(
        name=name, description="eSIM, 1GB, 7 Days, Mongolia", data_amount_mb=1000, duration_days=7,
        price=Decimal(str(get_catalogue().by_name[name]["price"])), currency="USD", computed_price_mnt=12500,
        source_hash="bench",
    )

    logs = tempfile.mkdtemp(prefix="bench-callback-")
    web_log = open(Path(logs) / "web.log", "w")
    worker_log = open(Path(logs) / "worker.log", "w")
    web = subprocess.Popen(
        [PYTHON, "-m", "gunicorn", "esimshop.wsgi", "--bind", f"127.0.0.1:{port}", "--workers", "3",
         "--threads", "4", "--worker-class", "gthread", "--log-level", "warning"],
        cwd=ROOT, env=env, stdout=web_log, stderr=subprocess.STDOUT,
    )
    worker = subprocess.Popen(
        [PYTHON, "-m", "celery", "-A", "esimshop", "worker", "--loglevel", "WARNING", "--pool", "prefork",
         "--concurrency", str(args.worker_concurrency), "--without-gossip", "--without-mingle", "--without-heartbeat",
         "--hostname", f"bench-{os.getpid()}@%h"],
        cwd=ROOT, env=env, stdout=worker_log, stderr=subprocess.STDOUT,
    )
    latencies, callback_times = [], []
    try:
        wait_for(lambda: _up(requests, site), 60, "the web server")
        # Warm-up purchase (imports, connection pools, QPay token) is not measured.
        for index in range(args.n + 1):
            elapsed, callback_elapsed = one_purchase(requests, site, name, index, qpay_faults, SandboxPayment, callback_url_for)
            connection.close()
            if index:
                latencies.append(elapsed)
                callback_times.append(callback_elapsed)
        delivered = Order.objects.filter(status="DELIVERED").count()
    finally:
        for process in (worker, web):
            process.send_signal(signal.SIGTERM)
        for process in (worker, web):
            try:
                process.wait(30)
            except subprocess.TimeoutExpired:
                process.kill()
        web_log.close()
        worker_log.close()

    ms = [value * 1000 for value in latencies]
    cb = [value * 1000 for value in callback_times]
    print(f"callback -> eSIM page ready, n={len(ms)} (gunicorn 3x4 gthread, celery prefork x{args.worker_concurrency}, "
          f"Redis, PostgreSQL; {delivered} orders delivered)")
    print(f"  median {statistics.median(ms):7.1f} ms   p90 {percentile(ms, 0.90):7.1f} ms   "
          f"p99 {percentile(ms, 0.99):7.1f} ms   max {max(ms):7.1f} ms")
    print(f"callback response alone: median {statistics.median(cb):.1f} ms, p99 {percentile(cb, 0.99):.1f} ms")
    print(f"logs: {logs}")


def _up(requests, site):
    try:
        return requests.get(f"{site}/healthz", timeout=1).status_code == 200
    except requests.RequestException:
        return False


def one_purchase(requests, site, name, index, qpay_faults, SandboxPayment, callback_url_for):
    response = requests.post(f"{site}/api/customer/transactions/purchase", json={
        "phoneNumber": f"9{index:07d}", "email": f"bench{index}@example.mn", "amount": 12500, "packageCode": name,
    }, timeout=30)
    response.raise_for_status()
    purchase = response.json()
    # Pay in the sandbox bank app, but hold back the sandbox's own callback: we send it ourselves.
    qpay_faults.inject("GET callback", count=1)
    bank = requests.Session()
    page = bank.get(purchase["qr_link"], timeout=30).text
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page).group(1)
    bank.post(purchase["qr_link"], data={"csrfmiddlewaretoken": token, "action": "full", "payment_type": "P2P"},
              headers={"Referer": purchase["qr_link"]}, timeout=30).raise_for_status()
    payment = wait_for(lambda: _payment_for(SandboxPayment, purchase), 10, "the sandbox payment")
    url = callback_url_for(payment)
    session = requests.Session()
    started = time.perf_counter()
    callback = session.get(url, timeout=30)
    callback_elapsed = time.perf_counter() - started
    assert callback.status_code == 200, callback.text
    while True:
        reply = session.get(purchase["statusUrl"], timeout=30)
        if reply.status_code != 200:
            raise SystemExit(f"status API answered {reply.status_code}: {reply.text[:200]}")
        status = reply.json()
        if status["status"] == "PROCESSED" and status.get("esimUrl"):
            page = session.get(status["esimUrl"] if status["esimUrl"].startswith("http") else site + status["esimUrl"], timeout=30)
            if page.status_code == 200 and "LPA:1$" in page.text:
                return time.perf_counter() - started, callback_elapsed
        if status["status"] == "FAILED":
            raise SystemExit(f"order failed: {status}")
        if time.perf_counter() - started > 60:
            raise SystemExit(f"eSIM not ready after 60 s: {status}")
        time.sleep(0.01)


def _payment_for(SandboxPayment, purchase):
    qpay_invoice_id = purchase["qr_link"].rstrip("/").rsplit("/", 1)[1]
    return SandboxPayment.objects.filter(invoice__invoice_id=qpay_invoice_id).select_related("invoice").first()


if __name__ == "__main__":
    main()
