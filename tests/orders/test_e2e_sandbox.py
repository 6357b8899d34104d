"""The whole sandbox flow over real HTTP: buy → pay in the sandbox bank app → eSIM page with QR →
e-mails → My eSIMs with data left → an eSIM Go usage callback → the 80 % e-mail.

With PostgreSQL and Redis (CI) the tasks run in a real `celery -A esimshop worker` subprocess that
shares the test database and the Redis broker with the live server; without them (a laptop with
no services) the same flow runs with in-process tasks. Waits are conditions with deadlines,
never fixed sleeps.
"""

import os
import re
import subprocess
import sys
import tempfile
import time
from decimal import Decimal
from pathlib import Path

import pytest
import requests
from django.conf import settings as django_settings
from django.core import mail
from django.db import connection

from orders.models import EmailLog, ESIMGoCallback, Order
from sandbox.esimgo.catalogue import get_catalogue
from sandbox.esimgo.models import SandboxEsim
from sandbox.esimgo.services import send_usage_callback
from tests.catalog.factories import BundleFactory

# Its worker consumes the default queues on the session's Redis: never beside another test that
# does (one xdist group, tests/conftest.py).
pytestmark = [
    pytest.mark.slow,
    pytest.mark.django_db(transaction=True),
    pytest.mark.xdist_group("session-redis-workers"),
]

NAME = "esim_1GB_7D_MN_V2"
ROOT = Path(__file__).resolve().parents[2]
REAL_WORKER = bool(django_settings.REDIS_URL) and connection.vendor == "postgresql"


def wait_for(condition, *, timeout=60.0, interval=0.1, what="condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")


def database_url() -> str:
    db = connection.settings_dict
    auth = db["USER"] + (f":{db['PASSWORD']}" if db["PASSWORD"] else "")
    return f"postgres://{auth}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"


class Mailbox:
    """E-mails sent by whoever runs the tasks: the worker's console backend, or locmem in-process."""

    def __init__(self, log_path=None):
        self.log_path = log_path

    def text(self) -> str:
        if self.log_path:
            return Path(self.log_path).read_text(errors="replace")
        return "\n".join(f"To: {', '.join(m.to)}\nSubject: {m.subject}\n{m.body}" for m in mail.outbox)


@pytest.fixture
def shop(live_shop):
    BundleFactory(
        name=NAME,
        countries=["MN"],
        price=Decimal(str(get_catalogue().by_name[NAME]["price"])),
        computed_price_mnt=12500,
    )
    return live_shop


@pytest.fixture
def tasks(shop, settings):
    """Where Celery tasks run: a real worker subprocess on Redis, or in-process (no services)."""
    from esimshop.celery import app as celery_app

    if not REAL_WORKER:
        yield Mailbox()
        return
    settings.CELERY_TASK_ALWAYS_EAGER = False
    celery_app.conf.task_always_eager = False
    log = tempfile.NamedTemporaryFile("w+", prefix="celery-worker-", suffix=".log", delete=False)
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "esimshop.settings",
        "DATABASE_URL": database_url(),  # the live server's test database
        "REDIS_URL": settings.REDIS_URL,
        "CELERY_TASK_ALWAYS_EAGER": "0",
        "SANDBOX": "1",
        "ESIMGO_API_KEY": "",
        "SITE_URL": shop.url,
        "ESIMGO_BASE_URL": shop.url + "/sandbox/esimgo/v2.4",
        "QPAY_BASE_URL": shop.url + "/sandbox/qpay",
        "QPAY_CALLBACK_PUBLIC_BASE_URL": shop.url,
        "EMAIL_URL": "consolemail://",
        "CONN_MAX_AGE": "0",
        "PYTHONUNBUFFERED": "1",
    }
    worker = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "esimshop",
            "worker",
            "--loglevel",
            "INFO",
            "--pool",
            "prefork",
            "--concurrency",
            "2",
            "--purge",
            "--without-gossip",
            "--without-mingle",
            "--without-heartbeat",
            "--hostname",
            f"e2e-{os.getpid()}@%h",
        ],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        wait_for(
            lambda: worker.poll() is not None or "ready." in Path(log.name).read_text(errors="replace"),
            timeout=60,
            what="the Celery worker to start",
        )
        assert worker.poll() is None, Path(log.name).read_text(errors="replace")[-3000:]
        yield Mailbox(log.name)
    finally:
        worker.terminate()
        try:
            worker.wait(20)
        except subprocess.TimeoutExpired:
            worker.kill()
            worker.wait(10)
        celery_app.conf.task_always_eager = True
        log.close()
        os.unlink(log.name)


def test_buy_pay_install_page_emails_my_esims_and_usage(shop, tasks):
    base = shop.url
    # 1. Buy through the public API (validated with the sandbox eSIM Go, invoiced at the sandbox QPay).
    response = requests.post(
        f"{base}/api/customer/transactions/purchase",
        json={"phoneNumber": "99112233", "email": "traveller@example.mn", "amount": 12500, "packageCode": NAME},
        timeout=30,
    )
    assert response.status_code == 201, response.text
    purchase = response.json()

    # 2. Pay in the sandbox bank app; it calls the shop's QPay callback like QPay does.
    bank = requests.Session()
    bank_url = purchase["qr_link"]
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', bank.get(bank_url, timeout=30).text).group(1)
    paid = bank.post(
        bank_url,
        data={"csrfmiddlewaretoken": token, "action": "full", "payment_type": "P2P"},
        headers={"Referer": bank_url},
        timeout=60,
    )
    assert paid.status_code == 200

    # 3. The worker provisions the eSIM at the sandbox eSIM Go: wait for DELIVERED in the database.
    order = wait_for(
        lambda: (
            Order.objects.filter(invoice_id=purchase["internalInvoiceId"], status="DELIVERED")
            .select_related("esim")
            .first()
        ),
        timeout=60,
        what="the order to be delivered",
    )
    sandbox_esim = SandboxEsim.objects.get(iccid=order.esim.iccid)
    assert order.esim.matching_id == sandbox_esim.matching_id
    # eSIM Go's customerRef points back at our order (set by a follow-up task).
    wait_for(
        lambda: SandboxEsim.objects.filter(iccid=order.esim.iccid, customer_ref=str(order.public_id)).exists(),
        timeout=30,
        what="customerRef on the sandbox eSIM",
    )

    # 4. The payment status reaches PROCESSED and links to the eSIM page.
    status = wait_for(
        lambda: (s := requests.get(purchase["statusUrl"], timeout=30).json())["status"] == "PROCESSED" and s,
        timeout=30,
        what="status PROCESSED",
    )
    assert status["esimUrl"].endswith(order.get_absolute_url())

    # 5. The eSIM page: QR, codes, one-tap links; private.
    page = requests.get(
        base + order.get_absolute_url(),
        timeout=30,
        headers={"User-Agent": "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X)"},
    )
    assert page.status_code == 200
    assert page.headers["Cache-Control"] == "private, no-store" and "noindex" in page.headers["X-Robots-Tag"]
    assert f"LPA:1${sandbox_esim.smdp_address.split('://')[-1].rstrip('/')}${sandbox_esim.matching_id}" in page.text
    assert "<svg" in page.text and "esimsetup.apple.com" in page.text

    # 6. E-mails: payment received and eSIM ready, each once.
    wait_for(lambda: EmailLog.objects.filter(order=order, status="SENT").count() == 2, timeout=30, what="two e-mails")
    outbox = tasks.text()
    assert outbox.count(str(order.esim.matching_id)) >= 1

    # 7. My eSIMs: ask for a link, open it from the e-mail, see data left from the sandbox eSIM Go.
    browser = requests.Session()
    form = browser.get(f"{base}/my-esims/", timeout=30).text
    csrf = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', form).group(1)
    asked = browser.post(
        f"{base}/my-esims/",
        data={"csrfmiddlewaretoken": csrf, "email": "traveller@example.mn"},
        headers={"Referer": f"{base}/my-esims/"},
        timeout=30,
    )
    assert asked.status_code == 200
    link = wait_for(
        lambda: re.search(re.escape(base) + r"(/my-esims/login/[A-Za-z0-9_\-]+/)", tasks.text()),
        timeout=30,
        what="the magic-link e-mail",
    ).group(1)
    confirm = browser.get(base + link, timeout=30)
    csrf = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', confirm.text).group(1)
    signed_in = browser.post(
        base + link, data={"csrfmiddlewaretoken": csrf}, headers={"Referer": base + link}, timeout=30
    )
    assert signed_in.status_code == 200 and order.esim.iccid in signed_in.text
    assert re.search(r"\d+(\.\d+)? (MB|GB|МБ|ГБ)", signed_in.text)  # data left from /esims/<iccid>/bundles

    # 8. eSIM Go reports 80 % used: signed V3 callback → stored → task → one 80 % e-mail.
    status_code, _payload = send_usage_callback(order.esim.iccid, 80, url=f"{base}/esimgo/callback/")
    assert status_code == 200
    wait_for(
        lambda: EmailLog.objects.filter(order=order, kind="usage_80", status="SENT").exists(),
        timeout=30,
        what="the 80 % e-mail",
    )
    assert ESIMGoCallback.objects.get().processed_at is not None
    assert EmailLog.objects.filter(order=order).count() == 3
    if REAL_WORKER:  # the work really happened in the worker process
        log = tasks.text()
        assert re.search(r"Task orders\.tasks\.provision_order_task\[[0-9a-f-]+\] succeeded", log), log[-3000:]
        assert re.search(r"Task orders\.tasks\.process_esimgo_callback_task\[[0-9a-f-]+\] succeeded", log)
