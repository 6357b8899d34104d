"""No secret, token, full phone number or LPA string in the logs of a whole sandbox purchase.

Every logger at DEBUG (urllib3's request lines included), one full flow over real HTTP against
the live server and the sandbox providers: purchase → pay in the bank app → QPay callback →
provisioning → eSIM page → magic link (used, then opened again: Django's "Gone" warning) → a
wrong-token callback → an eSIM Go usage callback. Then every captured record is searched.
"""

import base64
import json
import logging
import re
import secrets
import time
from decimal import Decimal

import pytest
import requests
from django.core import mail

from esimshop.logs import structured_formatter
from integrations.qpay.client import QPayClient
from orders.models import Order
from payments import inbox
from sandbox.esimgo.catalogue import get_catalogue
from sandbox.esimgo.services import send_usage_callback
from tests.catalog.factories import BundleFactory

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

NAME = "esim_1GB_7D_MN_V2"
PHONE = "88123456"


def wait_for(condition, *, timeout=30.0, what="condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.fixture
def shop(live_shop, settings):
    # Secrets unique to this run, so the log scan below can look for them.
    settings.SECRET_KEY = "test-secret-key-" + secrets.token_hex(24)
    settings.QPAY_CLIENT_SECRET = settings.SANDBOX_QPAY_CLIENT_SECRET = "qpay-secret-" + secrets.token_hex(16)
    settings.ESIMGO_API_KEY = settings.SANDBOX_ESIMGO_API_KEY = "esimgo-key-" + secrets.token_hex(16)
    BundleFactory(
        name=NAME,
        countries=["MN"],
        price=Decimal(str(get_catalogue().by_name[NAME]["price"])),
        computed_price_mnt=12500,
    )
    return live_shop


@pytest.fixture
def all_logs(caplog):
    """Root and every logger that sets its own level (django.server, ...) at DEBUG."""
    caplog.set_level(logging.DEBUG)
    for name, logger in list(logging.root.manager.loggerDict.items()):
        if isinstance(logger, logging.Logger) and logger.level:
            caplog.set_level(logging.DEBUG, logger=name)
    return caplog


def csrf(html: str) -> str:
    return re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', html).group(1)


def test_a_whole_purchase_logs_no_secret_token_phone_or_lpa(shop, all_logs, settings):
    base = shop.url
    bought = requests.post(
        f"{base}/api/customer/transactions/purchase",
        json={"phoneNumber": PHONE, "email": "logs@example.mn", "amount": 12500, "packageCode": NAME},
        timeout=30,
    )
    assert bought.status_code == 201, bought.text
    purchase = bought.json()

    bank = requests.Session()
    page = bank.get(purchase["qr_link"], timeout=30)
    assert (
        bank.post(
            purchase["qr_link"],
            data={"csrfmiddlewaretoken": csrf(page.text), "action": "full", "payment_type": "P2P"},
            headers={"Referer": purchase["qr_link"]},
            timeout=60,
        ).status_code
        == 200
    )
    order = wait_for(
        lambda: (
            Order.objects.filter(invoice_id=purchase["internalInvoiceId"], status="DELIVERED")
            .select_related("esim")
            .first()
        ),
        what="delivery",
    )
    lpa = f"LPA:1${order.esim.smdp_address.split('://')[-1].rstrip('/')}${order.esim.matching_id}"
    assert lpa in requests.get(base + order.get_absolute_url(), timeout=30).text
    assert requests.get(purchase["statusUrl"], timeout=30).json()["status"] == "PROCESSED"

    browser = requests.Session()
    form = browser.get(f"{base}/my-esims/", timeout=30).text
    assert (
        browser.post(
            f"{base}/my-esims/",
            data={"csrfmiddlewaretoken": csrf(form), "email": "logs@example.mn"},
            headers={"Referer": f"{base}/my-esims/"},
            timeout=30,
        ).status_code
        == 200
    )
    link = wait_for(lambda: next((m for m in mail.outbox if "/my-esims/login/" in m.body), None), what="magic link")
    path = re.search(r"/my-esims/login/([A-Za-z0-9_\-]+)/", link.body)
    magic_token, login = path.group(1), base + path.group(0)
    confirm = browser.get(login, timeout=30)
    assert (
        browser.post(
            login, data={"csrfmiddlewaretoken": csrf(confirm.text)}, headers={"Referer": login}, timeout=30
        ).status_code
        == 200
    )
    assert browser.get(login, timeout=30).status_code == 410  # used: Django logs "Gone: <path>"

    wrong = requests.get(
        f"{base}/payments/qpay/callback/{purchase['internalInvoiceId']}/?qpay_payment_id=1&token={'f' * 64}", timeout=30
    )
    assert wrong.status_code == 404
    assert send_usage_callback(order.esim.iccid, 80, url=f"{base}/esimgo/callback/")[0] == 200

    qpay_token = QPayClient().get_access_token()  # the cached bearer token the shop used
    secrets_ = {
        "QPay client secret": settings.QPAY_CLIENT_SECRET,
        "QPay Basic credentials": base64.b64encode(
            f"{settings.QPAY_CLIENT_ID}:{settings.QPAY_CLIENT_SECRET}".encode()
        ).decode(),
        "QPay access token": qpay_token,
        "eSIM Go API key": settings.ESIMGO_API_KEY,
        "SECRET_KEY": settings.SECRET_KEY,
        "callback token": inbox.callback_token(purchase["internalInvoiceId"]),
        "full phone number": PHONE,
        "matching id": order.esim.matching_id,
        "LPA string": lpa,
        "magic-link token": magic_token,
    }
    records = all_logs.records
    texts = [r.getMessage() + "\n" + (r.exc_text or "") + (r.stack_info or "") for r in records]
    # What production writes: each record as the JSON line the structured formatter makes of it.
    json_formatter = structured_formatter("json")
    json_lines = [json_formatter.format(r) for r in records]
    everything = "\n".join(texts) + "\n" + all_logs.text + "\n".join(json_lines)
    leaks = {name: [t for t in texts if value in t][:3] for name, value in secrets_.items() if value in everything}
    assert leaks == {}

    # The capture really saw the risky lines (so this test can fail): the sandbox's request line
    # for the callback URL, Django's warning for the used link, the provisioning itself.
    assert len(records) > 50
    assert any("/payments/qpay/callback/" in t and "token=[redacted]" in t for t in texts), "no urllib3 callback line"
    assert any(t.startswith("Gone: /my-esims/login/[redacted]/") for t in texts), "no Django 'Gone' warning"
    assert any(str(order.public_id) in t for t in texts)
    assert all(json.loads(line)["event"] is not None for line in json_lines)


def test_redaction_masks_credentials_but_keeps_ids_readable(settings):
    from esimshop.log_redaction import redact

    settings.QPAY_CLIENT_SECRET = "s3cr3t-value-for-qpay"
    line = (
        "GET /payments/qpay/callback/4f1c2d3e-1111-2222-3333-444455556666/?qpay_payment_id=593015733012345"
        "&token=abcdef0123 /my-esims/login/Zx_9-a/ LPA:1$rsp.example.io$JQ-1UMJ8A-1D0W3XK "
        "phone 99112233 +976 88123456 Bearer eyJhbGciOi.x.y secret s3cr3t-value-for-qpay "
        "iccid 8944538532971469360 order 20261123 amount 12500"
    )
    cleaned = redact(line)
    for gone in (
        "abcdef0123",
        "Zx_9-a",
        "JQ-1UMJ8A-1D0W3XK",
        "99112233",
        "88123456",
        "eyJhbGciOi",
        "s3cr3t-value-for-qpay",
    ):
        assert gone not in cleaned
    for kept in (
        "4f1c2d3e-1111-2222-3333-444455556666",
        "qpay_payment_id=593015733012345",
        "******33",
        "8944538532971469360",
        "20261123",
        "12500",
    ):
        assert kept in cleaned


def test_access_log_lines_are_cleaned_too(caplog):
    """gunicorn's access log (Procfile: --access-logfile -) logs the request line with its query
    string through logging, with a dict of atoms as args: the factory cleans those records too."""
    caplog.set_level(logging.INFO, logger="gunicorn.access")
    logging.getLogger("gunicorn.access").info(
        '%(h)s "%(r)s" %(s)s',
        {
            "h": "203.0.113.5",
            "s": "200",
            "r": "GET /payments/qpay/callback/4f1c2d3e-1111-2222-3333-444455556666/?qpay_payment_id=1&token=deadbeef99 HTTP/1.1",
        },
    )
    logging.getLogger("gunicorn.access").info(
        '%(h)s "%(r)s" %(s)s', {"h": "203.0.113.5", "s": "410", "r": "GET /my-esims/login/AbC_dEf-123/ HTTP/1.1"}
    )
    messages = [r.getMessage() for r in caplog.records]
    assert messages == [
        '203.0.113.5 "GET /payments/qpay/callback/4f1c2d3e-1111-2222-3333-444455556666/?qpay_payment_id=1'
        '&token=[redacted] HTTP/1.1" 200',
        '203.0.113.5 "GET /my-esims/login/[redacted]/ HTTP/1.1" 410',
    ]


def test_capability_urls_are_redacted_in_logs():
    """Issue 9: pay and eSIM page URLs carry the access token; no log line keeps it."""
    from esimshop.log_redaction import redact
    from payments.models import new_access_token

    pay, esim = new_access_token(), new_access_token()
    line = (
        f'"GET /pay/{pay}/ HTTP/1.1" 200 "GET /esims/{esim}/status.json" /esims/{esim}/topup/ '
        f"return=%2Fpay%2F{pay}%2F GET /api/customer/transactions/4f1c2d3e-1111-2222-3333-444455556666/status"
        f"?token={pay} iccid /esims/8944538532971469360/bundles"
    )
    cleaned = redact(line)
    assert pay not in cleaned and esim not in cleaned
    assert "/pay/[redacted]/" in cleaned and "/esims/[redacted]/status.json" in cleaned
    assert "/esims/8944538532971469360/bundles" in cleaned  # eSIM Go API paths keep the ICCID readable
