"""Benchmark: the purchase API and the QPay callback.

    .venv/bin/python bench/purchase.py [--purchases 300] [--callbacks 200] [--concurrency 4]

1. Purchase API, in process (Django's WSGI handler through the test Client, no network):
   POST /api/customer/transactions/purchase with eSIM Go's validate and QPay's token + invoice
   calls mocked in-process with `responses` at zero latency (QPay answers with a real ~1 KB
   sandbox QR PNG). Each request is a new shopper, so each one does the whole path: validate,
   customer, invoice row, QPay create, store QR/links. Compared with /healthz (a bare
   JsonResponse view) through the same client. Also the double-submit path (same shopper
   again: the open invoice is returned, no provider calls).
2. Verified callbacks over real HTTP: gunicorn (gthread) serving the shop WITH the sandbox
   QPay mounted, on a free loopback port. N invoices are created through the real purchase
   API (eSIM Go validate → sandbox eSIM Go, invoice → sandbox QPay, both over HTTP) and paid
   in the sandbox; then the bench fires QPay-style GET callbacks (?qpay_payment_id=…), each of
   which makes the shop ask the sandbox QPay's /v2/payment/check over HTTP before marking the
   invoice PAID. Reported: callbacks/s sequentially and with --concurrency clients, duplicate
   callbacks/s (idempotent fast path, no QPay call), and /healthz requests/s on the same server.
   Celery is given an in-memory broker that no worker reads, so orders' provisioning is
   enqueued but not run: the figure is payment verification only.

Everything lives in a temp dir (SQLite file, unless DATABASE_URL points at PostgreSQL: then a
throwaway database bench_purchase_<pid> is created and dropped). Cache: local memory per process.
"""
import argparse
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
TMP = tempfile.mkdtemp(prefix="esimshop-purchase-bench-")
SERVER_DB_URL = os.environ.get("DATABASE_URL", "")
PG_NAME = f"bench_purchase_{os.getpid()}"
if SERVER_DB_URL.startswith("postgres"):
    DB_URL = SERVER_DB_URL.rsplit("/", 1)[0] + f"/{PG_NAME}"
else:
    SERVER_DB_URL = ""
    DB_URL = f"sqlite:///{TMP}/bench.sqlite3"
SECRET = "bench-only-" + os.urandom(16).hex()
BASE_ENV = {
    "DJANGO_SETTINGS_MODULE": "esimshop.settings",
    "DATABASE_URL": DB_URL,
    "DEBUG": "False",
    "SECRET_KEY": SECRET,
    "ALLOWED_HOSTS": "127.0.0.1,testserver",
    "SECURE_SSL_REDIRECT": "False",
    "REDIS_URL": "",
    "LOG_LEVEL": "ERROR",
    "SANDBOX": "True",
    "ESIMGO_API_KEY": "",
    "CELERY_TASK_ALWAYS_EAGER": "False",  # memory broker, no worker: provisioning is not part of the figure
    "PAYMENTS_STATUS_RATE_LIMIT_PER_MINUTE": "1000000",
    "SANDBOX_ESIMGO_RATE_LIMIT": "0",
}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


PORT = free_port()
SITE = f"http://127.0.0.1:{PORT}"
BASE_ENV["SITE_URL"] = SITE
os.environ.update(BASE_ENV)

import django  # noqa: E402

django.setup()

import requests  # noqa: E402
import responses  # noqa: E402
from django.conf import settings  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.test import Client  # noqa: E402

from catalog.models import Bundle  # noqa: E402
from payments.models import Invoice  # noqa: E402
from sandbox.esimgo.catalogue import get_catalogue  # noqa: E402
from sandbox.qpay import services as sandbox_qpay  # noqa: E402

BUNDLE = "esim_1GB_7D_MN_V2"
QPAY = "https://merchant.qpay.mn/v2"
ESIMGO = "https://api.esim-go.com/v2.4"


def p95(values):
    ordered = sorted(values)
    return ordered[max(0, int(len(ordered) * 0.95) - 1)]


def summary(values):
    return statistics.median(values) * 1000, p95(values) * 1000


def create_database():
    if SERVER_DB_URL:
        import psycopg

        admin = settings.DATABASES["default"]
        with psycopg.connect(host=admin["HOST"] or "127.0.0.1", port=admin["PORT"] or 5432, user=admin["USER"],
                             password=admin["PASSWORD"], dbname="postgres", autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{PG_NAME}"')
    call_command("migrate", verbosity=0)
    price = get_catalogue().by_name[BUNDLE]["price"]
    Bundle.objects.create(name=BUNDLE, description="eSIM, 1GB, 7 Days, Mongolia, V2", data_amount_mb=1000,
                          duration_days=7, price=price, computed_price_mnt=12500, source_hash="bench")


def drop_database():
    if SERVER_DB_URL:
        import psycopg
        from django.db import connections

        connections.close_all()
        admin = settings.DATABASES["default"]
        with psycopg.connect(host=admin["HOST"] or "127.0.0.1", port=admin["PORT"] or 5432, user=admin["USER"],
                             password=admin["PASSWORD"], dbname="postgres", autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{PG_NAME}" WITH (FORCE)')


# --- 1. purchase API in process ---------------------------------------------------------------

def bench_purchase_in_process(count: int, warmup: int = 20):
    settings.QPAY_BASE_URL = "https://merchant.qpay.mn"
    settings.ESIMGO_BASE_URL = ESIMGO
    settings.ESIMGO_API_KEY = "bench-key"
    settings.ESIMGO_RATE_LIMIT_PER_SECOND = 0
    qr_image = sandbox_qpay.qr_png_base64("0002010102122650" + "1" * 60)
    validate = {"order": [{"type": "bundle", "item": BUNDLE, "quantity": 1}], "valid": True,
                "total": float(get_catalogue().by_name[BUNDLE]["price"]), "currency": "USD"}

    def invoice(request):
        qr_text = "0002010102122650" + uuid.uuid4().hex
        return 200, {}, json.dumps({"invoice_id": str(uuid.uuid4()), "qr_text": qr_text, "qr_image": qr_image,
                                    "qPay_shortUrl": "https://s.qpay.mn/x",
                                    "urls": sandbox_qpay.bank_urls(qr_text)})

    client = Client()
    times, bare, again = [], [], []
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        rsps.add(responses.POST, f"{ESIMGO}/orders", json=validate)
        rsps.add(responses.POST, f"{QPAY}/auth/token", json=sandbox_qpay.issue_tokens("TEST_MERCHANT"))
        rsps.add_callback(responses.POST, f"{QPAY}/invoice", callback=invoice)
        for i in range(warmup + count):
            body = json.dumps({"phoneNumber": f"9{i:07d}", "email": f"bench{i}@example.mn", "amount": 12500,
                               "packageCode": BUNDLE})
            started = time.perf_counter()
            response = client.post("/api/customer/transactions/purchase", body, content_type="application/json")
            elapsed = time.perf_counter() - started
            assert response.status_code == 201, response.content
            if i >= warmup:
                times.append(elapsed)
        for i in range(warmup + count):  # the same shoppers again: double-submit → the open invoice
            body = json.dumps({"phoneNumber": f"9{i:07d}", "email": f"bench{i}@example.mn", "amount": 12500,
                               "packageCode": BUNDLE})
            started = time.perf_counter()
            response = client.post("/api/customer/transactions/purchase", body, content_type="application/json")
            elapsed = time.perf_counter() - started
            assert response.status_code == 201
            if i >= warmup:
                again.append(elapsed)
    for i in range(warmup + count):
        started = time.perf_counter()
        assert client.get("/healthz").status_code == 200
        elapsed = time.perf_counter() - started
        if i >= warmup:
            bare.append(elapsed)
    return times, again, bare


# --- 2. callbacks over real HTTP --------------------------------------------------------------

def start_server() -> subprocess.Popen:
    gunicorn = Path(sys.executable).with_name("gunicorn")
    env = {**os.environ, **BASE_ENV, "ESIMGO_BASE_URL": f"{SITE}/sandbox/esimgo/v2.4",
           "QPAY_BASE_URL": f"{SITE}/sandbox/qpay", "QPAY_CALLBACK_PUBLIC_BASE_URL": SITE,
           "SANDBOX_QPAY_CALLBACK_INLINE": "True"}
    server = subprocess.Popen(
        [str(gunicorn), "esimshop.wsgi", "--bind", f"127.0.0.1:{PORT}", "--worker-class", "gthread",
         "--workers", "2", "--threads", "8", "--log-level", "warning"],
        cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=open(f"{TMP}/server.log", "wb"), start_new_session=True,
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise SystemExit("gunicorn exited during start-up: " + Path(f"{TMP}/server.log").read_text()[-2000:])
        try:
            if requests.get(f"{SITE}/healthz", timeout=1).status_code == 200:
                return server
        except requests.RequestException:
            time.sleep(0.2)
    raise SystemExit("gunicorn did not answer /healthz within 30 s")


def make_paid_invoices(count: int, first: int = 0) -> list[str]:
    """Through the real purchase API over HTTP; then paid in the sandbox without its callback."""
    from payments.services import callback_token
    from sandbox.qpay.models import SandboxInvoice, SandboxPayment

    urls = []
    session = requests.Session()
    for i in range(first, first + count):
        response = session.post(f"{SITE}/api/customer/transactions/purchase", json={
            "phoneNumber": f"8{i:07d}", "email": f"cb{i}@example.mn", "amount": 12500, "packageCode": BUNDLE},
            timeout=30)
        assert response.status_code == 201, response.text
        data = response.json()
        sandbox_invoice = SandboxInvoice.objects.get(pk=data["invoice_id"])
        payment = SandboxPayment.objects.create(payment_id=sandbox_qpay.new_payment_id("P2P"), invoice=sandbox_invoice,
                                                amount=sandbox_invoice.amount)
        SandboxInvoice.objects.filter(pk=sandbox_invoice.pk).update(status="CLOSED")
        invoice_id = data["internalInvoiceId"]
        urls.append(f"{SITE}/payments/qpay/callback/{invoice_id}/?token={callback_token(invoice_id)}"
                    f"&qpay_payment_id={payment.payment_id}")
    return urls


def fire(urls, concurrency):
    """GET each URL once (QPay's callback); returns (elapsed seconds, outcomes)."""
    outcomes, lock, index = [], threading.Lock(), iter(range(len(urls)))

    def worker():
        session = requests.Session()
        while True:
            with lock:
                i = next(index, None)
            if i is None:
                return
            response = session.get(urls[i], timeout=60)
            with lock:
                outcomes.append((response.status_code, response.text, response.headers.get("X-Callback-Outcome")))

    threads = [threading.Thread(target=worker) for _ in range(concurrency)]
    started = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return time.perf_counter() - started, outcomes


def bare_rps(count, concurrency):
    return fire([f"{SITE}/healthz"] * count, concurrency)[0]


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--purchases", type=int, default=300)
    parser.add_argument("--callbacks", type=int, default=200)
    parser.add_argument("--concurrency", type=int, default=4)
    args = parser.parse_args()
    server = None
    try:
        create_database()
        db = "PostgreSQL" if SERVER_DB_URL else "SQLite"
        times, again, bare = bench_purchase_in_process(args.purchases)
        (p_med, p_p95), (a_med, a_p95), (b_med, b_p95) = summary(times), summary(again), summary(bare)
        print(f"\n1. Purchase API in process ({db}, providers mocked at zero latency, {args.purchases} requests each)")
        print(f"   {'path':<40}{'median ms':>10}{'p95 ms':>9}{'x bare':>8}")
        print(f"   {'GET /healthz (bare view)':<40}{b_med:>10.2f}{b_p95:>9.2f}{1:>8.1f}")
        print(f"   {'POST purchase (new invoice)':<40}{p_med:>10.2f}{p_p95:>9.2f}{p_med / b_med:>8.1f}")
        print(f"   {'POST purchase (double-submit, reused)':<40}{a_med:>10.2f}{a_p95:>9.2f}{a_med / b_med:>8.1f}")

        server = start_server()
        first_urls = make_paid_invoices(args.callbacks)
        second_urls = make_paid_invoices(args.callbacks, first=args.callbacks)
        seq_seconds, seq = fire(first_urls, 1)
        con_seconds, con = fire(second_urls, args.concurrency)
        dup_seconds, dup = fire(first_urls, args.concurrency)
        bare_seq = bare_rps(args.callbacks, 1)
        bare_con = bare_rps(args.callbacks, args.concurrency)
        for name, results, expected in (("sequential", seq, "PAID"), ("concurrent", con, "PAID"),
                                        ("duplicate", dup, "DUPLICATE")):
            bad = [r for r in results if r[0] != 200 or r[1] != "SUCCESS" or r[2] != expected]
            if bad:
                print(Path(f"{TMP}/server.log").read_text()[-3000:])
                raise SystemExit(f"{name}: {len(bad)} unexpected callback replies, e.g. {bad[0]}")
        paid = Invoice.objects.filter(status="PAID").count()
        n = args.callbacks
        print(f"\n2. QPay callbacks over real HTTP (gunicorn gthread 2x8, {db}; each verification = "
              f"POST /v2/payment/check to the sandbox over HTTP)")
        print(f"   {'what':<46}{'per second':>11}{'x bare':>8}   (x bare = time per request / bare view's)")
        print(f"   {'GET /healthz, 1 client':<46}{n / bare_seq:>11.0f}{1:>8.1f}")
        print(f"   {'verified callbacks -> PAID, 1 client':<46}{n / seq_seconds:>11.1f}{seq_seconds / bare_seq:>8.1f}")
        print(f"   {f'GET /healthz, {args.concurrency} clients':<46}{n / bare_con:>11.0f}{1:>8.1f}")
        print(f"   {f'verified callbacks -> PAID, {args.concurrency} clients':<46}{n / con_seconds:>11.1f}"
              f"{con_seconds / bare_con:>8.1f}")
        print(f"   {f'duplicate callbacks (no QPay call), {args.concurrency} clients':<46}{n / dup_seconds:>11.1f}"
              f"{dup_seconds / bare_con:>8.1f}")
        print(f"   invoices PAID: {paid} of {2 * n} (each exactly once)")
    finally:
        if server is not None:
            os.killpg(server.pid, signal.SIGTERM)
            server.wait(10)
        drop_database()
        shutil.rmtree(TMP, ignore_errors=True)


if __name__ == "__main__":
    main()
