"""integrations.qpay.client.QPayClient against QPay's recorded wire format (responses-mocked)."""

import base64
import json
import os
import subprocess
import sys
import textwrap
import threading
import time
from decimal import Decimal
from pathlib import Path

import pytest
import requests
import responses
from django.conf import settings as django_settings
from django.core.cache import cache

from integrations.qpay import client as qpay
from integrations.qpay.client import (
    PaymentRow,
    QPayAuthError,
    QPayBadRequest,
    QPayClient,
    QPayMalformedResponse,
    QPayNotFound,
    QPayRateLimited,
    QPayUnavailable,
)
from tests.payments.qpay_mocks import BASE, add_token, calls_to, check_body, paid_row, token_body

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(autouse=True)
def _no_backoff_sleep(monkeypatch):
    monkeypatch.setattr(qpay.time, "sleep", lambda s: None)


def test_token_is_fetched_with_basic_auth_and_shared_by_clients(mocked_responses):
    add_token(mocked_responses, "tok-A")
    mocked_responses.add(responses.GET, f"{BASE}/invoice/inv-1", json={"invoice_id": "inv-1", "invoice_status": "OPEN"})

    QPayClient().get_invoice("inv-1")
    QPayClient().get_invoice("inv-1")  # a second client (another process in production) reuses the token

    auth_calls = calls_to(mocked_responses, "/auth/token")
    assert len(auth_calls) == 1
    expected = "Basic " + base64.b64encode(b"TEST_MERCHANT:test-secret").decode()
    assert auth_calls[0].request.headers["Authorization"] == expected
    gets = calls_to(mocked_responses, "/invoice/inv-1")
    assert [c.request.headers["Authorization"] for c in gets] == ["Bearer tok-A", "Bearer tok-A"]


def test_absolute_expires_in_is_cached_until_sixty_seconds_before_it(mocked_responses, monkeypatch):
    now = time.time()
    add_token(mocked_responses, "tok", expires_in=int(now) + 86400)
    recorded = {}
    real_set = cache.set

    def spy_set(key, value, timeout=None, **kw):
        recorded[key] = timeout
        return real_set(key, value, timeout, **kw)

    monkeypatch.setattr(cache, "set", spy_set)
    QPayClient().get_access_token()
    token_timeout = recorded[QPayClient()._token_key]
    assert 86400 - 60 - 5 <= token_timeout <= 86400 - 60


def test_small_expires_in_is_read_as_a_ttl(mocked_responses, monkeypatch):
    add_token(mocked_responses, "tok", expires_in=7200)
    recorded = {}
    real_set = cache.set
    monkeypatch.setattr(cache, "set", lambda k, v, t=None, **kw: (recorded.__setitem__(k, t), real_set(k, v, t, **kw)))
    QPayClient().get_access_token()
    assert 7200 - 65 <= recorded[QPayClient()._token_key] <= 7200 - 60


def test_expired_cache_entry_renews_via_refresh_then_basic(mocked_responses):
    add_token(mocked_responses, "tok-1")
    mocked_responses.add(responses.POST, f"{BASE}/auth/refresh", json=token_body("tok-2", refresh="refresh-2"))
    client = QPayClient()
    assert client.get_access_token() == "tok-1"
    cache.delete(client._token_key)  # what the cache TTL does 60 s before expires_in
    assert client.get_access_token() == "tok-2"
    refresh = calls_to(mocked_responses, "/auth/refresh")
    assert refresh[0].request.headers["Authorization"] == "Bearer refresh-1"

    # When refresh fails, Basic auth is the fallback.
    mocked_responses.replace(
        responses.POST,
        f"{BASE}/auth/refresh",
        status=401,
        json={"error": "AUTHENTICATION_FAILED", "message": "expired"},
    )
    mocked_responses.replace(responses.POST, f"{BASE}/auth/token", json=token_body("tok-3"))
    cache.delete(client._token_key)
    assert client.get_access_token() == "tok-3"


def test_401_reauthenticates_once_and_retries(mocked_responses):
    mocked_responses.add(responses.POST, f"{BASE}/auth/token", json=token_body("old"))
    mocked_responses.add(responses.POST, f"{BASE}/auth/token", json=token_body("new"))
    mocked_responses.add(responses.POST, f"{BASE}/auth/refresh", status=401, json={"error": "AUTHENTICATION_FAILED"})
    mocked_responses.add(responses.GET, f"{BASE}/invoice/i1", status=401, json={"error": "AUTHENTICATION_FAILED"})
    mocked_responses.add(responses.GET, f"{BASE}/invoice/i1", json={"invoice_id": "i1", "invoice_status": "OPEN"})

    info = QPayClient().get_invoice("i1")

    assert info.status == "OPEN"
    gets = calls_to(mocked_responses, "/invoice/i1")
    assert [c.request.headers["Authorization"] for c in gets] == ["Bearer old", "Bearer new"]
    assert QPayClient().get_access_token() == "new"  # the renewed token is what is shared now


def test_second_401_is_an_auth_error(mocked_responses):
    add_token(mocked_responses)
    mocked_responses.add(responses.POST, f"{BASE}/auth/refresh", status=401, json={"error": "AUTHENTICATION_FAILED"})
    mocked_responses.add(
        responses.GET, f"{BASE}/invoice/i1", status=401, json={"error": "AUTHENTICATION_FAILED", "message": "bad token"}
    )
    with pytest.raises(QPayAuthError) as exc:
        QPayClient().get_invoice("i1")
    assert exc.value.code == "AUTHENTICATION_FAILED" and exc.value.status == 401
    assert len(calls_to(mocked_responses, "/invoice/i1")) == 2


def test_concurrent_token_requests_authenticate_once(mocked_responses):
    gate = threading.Event()

    def slow_token(request):
        gate.wait(2)
        return 200, {}, json.dumps(token_body("shared"))

    mocked_responses.add_callback(responses.POST, f"{BASE}/auth/token", callback=slow_token)
    tokens = []
    threads = [threading.Thread(target=lambda: tokens.append(QPayClient().get_access_token())) for _ in range(5)]
    for t in threads:
        t.start()
    time.sleep(0.2)  # let all five reach the lock (not a timing assert: the count below is exact)
    gate.set()
    for t in threads:
        t.join(5)
    assert tokens == ["shared"] * 5
    assert len(calls_to(mocked_responses, "/auth/token")) == 1


def test_token_is_shared_across_processes(mocked_responses, settings, tmp_path):
    """A second OS process reads the token this one cached (Redis in CI; a file cache otherwise)."""
    if not settings.REDIS_URL:
        # Django's setting_changed handler rebuilds the cache handlers for this override.
        settings.CACHES = {
            "default": {
                "BACKEND": "django.core.cache.backends.filebased.FileBasedCache",
                "LOCATION": str(tmp_path / "cache"),
            }
        }
    add_token(mocked_responses, "cross-process-token")
    QPayClient().get_access_token()

    script = textwrap.dedent(f"""
        import os, django
        os.environ["DJANGO_SETTINGS_MODULE"] = "esimshop.settings"
        from django.conf import settings
        settings.CACHES = {settings.CACHES!r}
        django.setup()
        from integrations.qpay.client import QPayClient

        class NoNetwork:
            def request(self, *a, **k):
                raise SystemExit("the other process tried to authenticate again")

        print(QPayClient(base_url={settings.QPAY_BASE_URL!r}, client_id={settings.QPAY_CLIENT_ID!r},
                         client_secret="x", session=NoNetwork()).get_access_token())
    """)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    out = subprocess.run([sys.executable, "-c", script], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip().splitlines()[-1] == "cross-process-token"


def test_error_body_is_typed_with_quirky_statuses(mocked_responses):
    add_token(mocked_responses)
    mocked_responses.add(
        responses.GET,
        f"{BASE}/invoice/nope",
        status=422,
        json={"error": "INVOICE_NOTFOUND", "message": "Нэхэмжлэл олдсонгүй"},
    )
    mocked_responses.add(
        responses.DELETE,
        f"{BASE}/invoice/gone",
        status=400,
        json={"error": "INVOICE_ALREADY_CANCELED", "message": "already"},
    )
    with pytest.raises(QPayNotFound) as exc:
        QPayClient().get_invoice("nope")
    assert exc.value.code == "INVOICE_NOTFOUND" and exc.value.message == "Нэхэмжлэл олдсонгүй"
    with pytest.raises(QPayBadRequest) as exc:
        QPayClient().cancel_invoice("gone")
    assert exc.value.code == "INVOICE_ALREADY_CANCELED" and not exc.value.transient
    assert len(calls_to(mocked_responses, "/invoice/gone")) == 1  # never retried


def test_5xx_and_429_are_retried_then_succeed(mocked_responses):
    add_token(mocked_responses)
    url = f"{BASE}/payment/check"
    mocked_responses.add(responses.POST, url, status=503, json={"error": "SERVICE_UNAVAILABLE"})
    mocked_responses.add(responses.POST, url, status=429, headers={"Retry-After": "1"}, json={})
    mocked_responses.add(responses.POST, url, json=check_body())
    check = QPayClient(max_retries=2).check_payment("inv")
    assert check.count == 0 and check.paid_amount is None
    assert len(calls_to(mocked_responses, "/payment/check")) == 3


def test_retries_are_bounded(mocked_responses):
    add_token(mocked_responses)
    mocked_responses.add(responses.POST, f"{BASE}/payment/check", status=502, body="<html>bad gateway</html>")
    with pytest.raises(QPayUnavailable) as exc:
        QPayClient(max_retries=2).check_payment("inv")
    assert exc.value.transient and exc.value.status == 502
    assert len(calls_to(mocked_responses, "/payment/check")) == 3


def test_timeouts_are_explicit_and_transient(mocked_responses):
    add_token(mocked_responses)
    mocked_responses.add(responses.GET, f"{BASE}/invoice/slow", body=requests.ReadTimeout("read timed out"))
    client = QPayClient(max_retries=0, connect_timeout=2, read_timeout=7)
    with pytest.raises(QPayUnavailable):
        client.get_invoice("slow")
    assert client.timeout == (2, 7)


def _create(client):
    return client.create_invoice(
        sender_invoice_no="ESIM1",
        amount=19500,
        description="eSIM Japan 1GB",
        callback_url="https://shop.example.mn/cb/?token=t",
    )


def test_invoice_create_is_not_retried_when_it_may_have_reached_qpay(mocked_responses):
    add_token(mocked_responses)
    mocked_responses.add(responses.POST, f"{BASE}/invoice", status=502, json={})
    with pytest.raises(QPayUnavailable):
        _create(QPayClient(max_retries=3))
    mocked_responses.replace(responses.POST, f"{BASE}/invoice", body=requests.ReadTimeout())
    with pytest.raises(QPayUnavailable):
        _create(QPayClient(max_retries=3))
    assert len(calls_to(mocked_responses, "/invoice", "POST")) == 2  # one attempt each


def test_invoice_create_is_retried_when_nothing_reached_qpay(mocked_responses):
    add_token(mocked_responses)
    mocked_responses.add(responses.POST, f"{BASE}/invoice", body=requests.ConnectTimeout())
    mocked_responses.add(responses.POST, f"{BASE}/invoice", status=429, json={"error": "TOO_MANY_REQUESTS"})
    mocked_responses.add(
        responses.POST,
        f"{BASE}/invoice",
        json={
            "invoice_id": "abc",
            "qr_text": "q",
            "qr_image": "data:image/png;base64,AAAA",
            "qPay_shortUrl": "https://s.qpay.mn/x",
            "urls": [
                {"name": "Khan bank", "description": "Хаан банк", "logo": "l", "link": "khanbank://q?qPay_QRcode=q"}
            ],
        },
    )
    created = _create(QPayClient(max_retries=2))
    assert created.invoice_id == "abc" and created.qr_image == "AAAA"  # a data: prefix is tolerated, stored bare
    assert created.short_url == "https://s.qpay.mn/x" and created.urls[0]["link"].startswith("khanbank://")
    body = json.loads(calls_to(mocked_responses, "/invoice", "POST")[-1].request.body)
    assert body == {
        "invoice_code": "TEST_INVOICE",
        "sender_invoice_no": "ESIM1",
        "invoice_receiver_code": "terminal",
        "invoice_description": "eSIM Japan 1GB",
        "amount": 19500,
        "callback_url": "https://shop.example.mn/cb/?token=t",
    }


def test_invoice_create_refuses_non_integer_amounts():
    with pytest.raises(ValueError):
        QPayClient().create_invoice(sender_invoice_no="x", amount=Decimal("10.5"), description="d", callback_url="u")


def test_get_invoice_reads_mixed_amount_types_and_both_cancel_spellings(mocked_responses):
    add_token(mocked_responses)
    mocked_responses.add(
        responses.GET,
        f"{BASE}/invoice/a",
        json={
            "invoice_id": "a",
            "invoice_status": "CANCELED",
            "total_amount": "10.00",
            "gross_amount": 10,
            "minimum_amount": None,
            "sender_invoice_no": "ESIM1",
        },
    )
    mocked_responses.add(
        responses.GET,
        f"{BASE}/invoice/b",
        json={"invoice_id": "b", "invoice_status": "CANCELLED", "total_amount": 19500},
    )
    a, b = QPayClient().get_invoice("a"), QPayClient().get_invoice("b")
    assert (a.status, a.total_amount) == ("CANCELLED", Decimal("10.00"))
    assert (b.status, b.total_amount) == ("CANCELLED", Decimal("19500"))


def test_payment_check_posts_our_invoice_id_pages_and_reads_decimals(mocked_responses):
    add_token(mocked_responses)
    first = [paid_row("100.00", payment_id=str(i)) for i in range(100)]
    mocked_responses.add(
        responses.POST, f"{BASE}/payment/check", json={"count": 101, "paid_amount": 10150, "rows": first}
    )
    mocked_responses.add(
        responses.POST,
        f"{BASE}/payment/check",
        json={"count": 101, "paid_amount": 10150, "rows": [paid_row(150, payment_id="x")]},
    )
    check = QPayClient().check_payment("our-qpay-invoice")
    bodies = [json.loads(c.request.body) for c in calls_to(mocked_responses, "/payment/check")]
    assert bodies == [
        {"object_type": "INVOICE", "object_id": "our-qpay-invoice", "offset": {"page_number": 1, "page_limit": 100}},
        {"object_type": "INVOICE", "object_id": "our-qpay-invoice", "offset": {"page_number": 2, "page_limit": 100}},
    ]
    assert check.count == 101 and len(check.rows) == 101
    assert check.total_paid == Decimal("10150.00") and check.paid_amount == Decimal("10150")
    assert all(isinstance(r.amount, Decimal) for r in check.rows)


def test_only_paid_rows_count_as_money_in():
    check = qpay.PaymentCheck(
        count=3,
        paid_amount=None,
        rows=[
            PaymentRow.from_wire(paid_row("500.00", payment_id="1")),
            PaymentRow.from_wire(paid_row("500.00", payment_id="2", status="REFUNDED")),
            PaymentRow.from_wire(paid_row("500.00", payment_id="3", status="NEW")),
        ],
    )
    assert check.total_paid == Decimal("500.00")


def test_payment_rows_read_old_and_new_spellings():
    new = PaymentRow.from_wire(
        {
            "payment_id": 493622150113497,
            "payment_status": "PAID",
            "payment_amount": "100.00",
            "trx_fee": "1.5",
            "payment_wallet": "qPay wallet",
            "payment_type": "P2P",
        }
    )
    old = PaymentRow.from_wire(
        {
            "payment_id": "abc",
            "payment_status": "paid",
            "payment_amount": 100,
            "payment_fee": 2,
            "payemnt_wallet": "legacy",
            "transaction_type": "CARD",
        }
    )
    assert (new.payment_id, new.fee, new.wallet, new.payment_type) == (
        "493622150113497",
        Decimal("1.5"),
        "qPay wallet",
        "P2P",
    )
    assert (old.amount, old.fee, old.wallet, old.payment_type, old.status) == (
        Decimal("100"),
        Decimal("2"),
        "legacy",
        "CARD",
        "PAID",
    )
    with pytest.raises(QPayMalformedResponse):
        PaymentRow.from_wire({"payment_status": "PAID"})
    with pytest.raises(QPayMalformedResponse):
        PaymentRow.from_wire({"payment_id": "1", "payment_amount": True})


def test_get_list_cancel_and_refund_payment(mocked_responses):
    add_token(mocked_responses)
    mocked_responses.add(
        responses.GET,
        f"{BASE}/payment/p1",
        json={
            "payment_id": "p1",
            "payment_status": "PAID",
            "payment_fee": "0.00",
            "payment_amount": "19500.00",
            "payment_currency": "MNT",
            "object_type": "INVOICE",
            "object_id": "inv",
            "transaction_type": "CARD",
        },
    )
    mocked_responses.add(
        responses.POST,
        f"{BASE}/payment/list",
        json={
            "count": 1,
            "rows": [
                {
                    "payment_id": "p1",
                    "payment_status": "PAID",
                    "payment_amount": "19500.00",
                    "paid_by": "CARD",
                    "object_type": "INVOICE",
                    "object_id": "inv",
                }
            ],
        },
    )
    mocked_responses.add(responses.DELETE, f"{BASE}/payment/refund/p1", json={})
    mocked_responses.add(
        responses.DELETE,
        f"{BASE}/payment/cancel/p2",
        status=400,
        json={"error": "PAYMENT_SETTLED", "message": "card only"},
    )
    client = QPayClient()
    row = client.get_payment("p1")
    assert (row.object_id, row.amount, row.payment_type) == ("inv", Decimal("19500.00"), "CARD")
    listed = client.list_payments(object_id="inv")
    assert listed.count == 1 and listed.rows[0].payment_type == "CARD"
    assert client.refund_payment("p1", note="butsaalt").raw == {}
    refund = calls_to(mocked_responses, "/payment/refund/p1")[0]
    assert refund.request.method == "DELETE" and json.loads(refund.request.body) == {"note": "butsaalt"}
    with pytest.raises(QPayBadRequest) as exc:
        client.cancel_payment("p2")
    assert exc.value.code == "PAYMENT_SETTLED"


def test_rate_limited_error_is_transient(mocked_responses):
    add_token(mocked_responses)
    mocked_responses.add(responses.GET, f"{BASE}/invoice/x", status=429, headers={"Retry-After": "3"}, json={})
    with pytest.raises(QPayRateLimited) as exc:
        QPayClient(max_retries=0).get_invoice("x")
    assert exc.value.retry_after == 3.0 and exc.value.transient


def test_malformed_success_body(mocked_responses):
    add_token(mocked_responses)
    mocked_responses.add(responses.POST, f"{BASE}/payment/check", body="<html>ok</html>", status=200)
    with pytest.raises(QPayMalformedResponse):
        QPayClient(max_retries=0).check_payment("x")


def test_secrets_are_not_in_error_messages(mocked_responses):
    mocked_responses.add(
        responses.POST,
        f"{BASE}/auth/token",
        status=401,
        json={"error": "AUTHENTICATION_FAILED", "message": "bad credentials"},
    )
    with pytest.raises(QPayAuthError) as exc:
        QPayClient().get_access_token()
    assert django_settings.QPAY_CLIENT_SECRET not in str(exc.value)


def test_only_safe_bank_links_and_http_short_urls_are_kept(mocked_responses):
    add_token(mocked_responses)
    mocked_responses.add(
        responses.POST,
        f"{BASE}/invoice",
        json={
            "invoice_id": "i",
            "qr_text": "q",
            "qr_image": "AAAA",
            "qPay_shortUrl": "javascript:alert(1)",
            "urls": [
                {"name": "x", "link": "javascript:alert(1)"},
                {"name": "y", "link": "data:text/html,hi"},
                {"name": "Khan bank", "link": "khanbank://q?qPay_QRcode=q"},
                "garbage",
                {"name": "no link"},
            ],
        },
    )
    created = _create(QPayClient())
    assert [u["name"] for u in created.urls] == ["Khan bank"] and created.short_url == ""


def test_proxy_environment_is_honoured_and_not_rescanned_on_every_call(mocked_responses, monkeypatch):
    for name in qpay.REQUESTS_ENVIRONMENT:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.example.mn:3128")
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", "/etc/ssl/certs/example-bundle.pem")
    client = QPayClient()
    assert client.session.proxies["https"] == "http://proxy.example.mn:3128"
    assert client.session.verify == "/etc/ssl/certs/example-bundle.pem"

    scans = []
    real_scan = requests.sessions.get_environ_proxies
    monkeypatch.setattr(requests.sessions, "get_environ_proxies", lambda *a, **k: scans.append(a) or real_scan(*a, **k))
    add_token(mocked_responses)
    mocked_responses.add(responses.GET, f"{BASE}/invoice/inv-1", json={"invoice_id": "inv-1", "invoice_status": "OPEN"})
    client.get_invoice("inv-1")
    assert scans == []  # requests did not read the environment again for the token and invoice calls

    monkeypatch.setenv("NO_PROXY", "merchant.qpay.mn")  # a changed environment is read again
    assert "https" not in QPayClient().session.proxies
