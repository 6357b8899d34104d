"""The sandbox QPay speaks QPay's wire format (docs/providers/qpay.md) and is as strict as the real API."""

import base64
import json
import time
from decimal import Decimal

import pytest
import responses
from django.conf import settings as django_settings

from integrations.qpay.client import jwt_claim
from sandbox.qpay import faults
from sandbox.qpay.models import SandboxInvoice, SandboxPayment

API = "/sandbox/qpay/v2"
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def basic(user=None, password=None):
    """This installation's sandbox merchant (settings.SANDBOX_QPAY_*), unless told otherwise."""
    user = django_settings.SANDBOX_QPAY_CLIENT_ID if user is None else user
    password = django_settings.SANDBOX_QPAY_CLIENT_SECRET if password is None else password
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


@pytest.fixture
def token(client, db):
    return client.post(f"{API}/auth/token", HTTP_AUTHORIZATION=basic()).json()["access_token"]


@pytest.fixture
def api(client, token):
    def call(method, path, body=None, **extra):
        kwargs = {"HTTP_AUTHORIZATION": f"Bearer {token}", **extra}
        if body is not None:
            kwargs.update(data=json.dumps(body), content_type="application/json")
        return getattr(client, method.lower())(f"{API}/{path}", **kwargs)

    return call


def invoice_body(**overrides):
    body = {
        "invoice_code": "SANDBOX_INVOICE",
        "sender_invoice_no": "ESIM0001",
        "invoice_receiver_code": "terminal",
        "invoice_description": "eSIM Japan 1GB",
        "amount": 19500,
        "callback_url": "https://shop.example.mn/payments/qpay/callback/x/?token=t",
    }
    body.update(overrides)
    return {k: v for k, v in body.items() if v is not None}


def test_token_shape_is_the_real_one(client, db):
    before = int(time.time())
    data = client.post(f"{API}/auth/token", HTTP_AUTHORIZATION=basic()).json()
    assert data["token_type"] == "bearer" and data["scope"] == "get_token"
    assert data["not-before-policy"] == "0" and data["session_state"] == "sandbox"
    assert before + 86400 - 5 <= data["expires_in"] <= int(time.time()) + 86400  # ABSOLUTE unix time
    assert data["refresh_expires_in"] == data["expires_in"]


@pytest.mark.parametrize("header", ["", basic(password="wrong"), basic(user="OTHER"), "Basic !!!", "Bearer x"])
def test_bad_credentials_are_401(client, db, header):
    response = (
        client.post(f"{API}/auth/token", HTTP_AUTHORIZATION=header) if header else client.post(f"{API}/auth/token")
    )
    assert response.status_code == 401
    assert response.json()["error"] in ("AUTHENTICATION_FAILED", "NO_CREDENDIALS") and "message" in response.json()


def test_refresh_gives_new_tokens(client, db):
    first = client.post(f"{API}/auth/token", HTTP_AUTHORIZATION=basic()).json()
    refreshed = client.post(f"{API}/auth/refresh", HTTP_AUTHORIZATION=f"Bearer {first['refresh_token']}")
    assert refreshed.status_code == 200 and refreshed.json()["access_token"] != first["access_token"]
    wrong_kind = client.post(f"{API}/auth/refresh", HTTP_AUTHORIZATION=f"Bearer {first['access_token']}")
    assert wrong_kind.status_code == 401


@pytest.mark.parametrize(
    "path,method",
    [
        ("invoice", "post"),
        ("invoice/abc", "get"),
        ("payment/check", "post"),
        ("payment/list", "post"),
        ("payment/1", "get"),
    ],
)
def test_bearer_is_required_elsewhere(client, db, path, method):
    assert getattr(client, method)(f"{API}/{path}").status_code == 401
    response = getattr(client, method)(f"{API}/{path}", HTTP_AUTHORIZATION="Bearer forged.token")
    assert response.status_code == 401 and response.json()["error"] == "AUTHENTICATION_FAILED"


def test_expired_token_is_401(client, db, settings):
    settings.SANDBOX_QPAY_TOKEN_LIFETIME = -1
    token = client.post(f"{API}/auth/token", HTTP_AUTHORIZATION=basic()).json()["access_token"]
    assert client.get(f"{API}/invoice/x", HTTP_AUTHORIZATION=f"Bearer {token}").status_code == 401


def test_invoice_create_answers_like_qpay(api):
    response = api(
        "POST",
        "invoice",
        invoice_body(lines=[{"line_description": "eSIM", "line_quantity": 1, "line_unit_price": 19500}]),
    )
    assert response.status_code == 200
    data = response.json()
    assert set(data) == {"invoice_id", "qr_text", "qr_image", "qPay_shortUrl", "urls"}
    assert not data["qr_image"].startswith("data:")
    assert base64.b64decode(data["qr_image"]).startswith(PNG_SIGNATURE)
    assert "ULAANBAATAR" in data["qr_text"] and "ESIMSHOP" in data["qr_text"]
    assert data["qPay_shortUrl"].endswith(f"/sandbox/qpay/pay/{data['invoice_id']}/")
    assert len(data["urls"]) >= 5
    for url in data["urls"]:
        assert set(url) == {"name", "description", "logo", "link"}
        assert url["link"].endswith(f"://q?qPay_QRcode={data['qr_text']}")


def test_duplicate_sender_invoice_no_is_accepted_like_real_qpay(api):
    a = api("POST", "invoice", invoice_body()).json()["invoice_id"]
    b = api("POST", "invoice", invoice_body()).json()["invoice_id"]
    assert a != b and SandboxInvoice.objects.filter(sender_invoice_no="ESIM0001").count() == 2


@pytest.mark.parametrize(
    "overrides,code",
    [
        ({"invoice_code": None}, "OBJECT_DATA_ERROR"),
        ({"invoice_code": "OTHER"}, "INVOICE_CODE_INVALID"),
        ({"sender_invoice_no": None}, "OBJECT_DATA_ERROR"),
        ({"sender_invoice_no": "X" * 46}, "OBJECT_DATA_ERROR"),
        ({"invoice_receiver_code": None}, "OBJECT_DATA_ERROR"),
        ({"invoice_description": None}, "OBJECT_DATA_ERROR"),
        ({"invoice_description": "d" * 256}, "OBJECT_DATA_ERROR"),
        ({"callback_url": None}, "OBJECT_DATA_ERROR"),
        ({"callback_url": "ftp://x"}, "OBJECT_DATA_ERROR"),
        ({"callback_url": "https://x/" + "a" * 250}, "OBJECT_DATA_ERROR"),
        ({"amount": None}, "INVALID_AMOUNT"),
        ({"amount": 0}, "INVALID_AMOUNT"),
        ({"amount": -5}, "INVALID_AMOUNT"),
        ({"amount": True}, "INVALID_AMOUNT"),
        (
            {"amount": 100, "lines": [{"line_description": "a", "line_quantity": 1, "line_unit_price": 90}]},
            "INVALID_AMOUNT",
        ),
        ({"lines": [{"line_quantity": 1, "line_unit_price": 90}]}, "OBJECT_DATA_ERROR"),
    ],
)
def test_invoice_create_validates_like_the_real_api(api, overrides, code):
    response = api("POST", "invoice", invoice_body(**overrides))
    assert response.status_code == 400
    assert response.json()["error"] == code and response.json()["message"]
    assert SandboxInvoice.objects.count() == 0


def test_amount_may_come_from_lines(api):
    response = api(
        "POST",
        "invoice",
        invoice_body(amount=None, lines=[{"line_description": "a", "line_quantity": 2, "line_unit_price": 5000}]),
    )
    assert response.status_code == 200
    assert SandboxInvoice.objects.get().amount == Decimal("10000")


def test_invalid_json_body(api, client, token):
    response = client.post(
        f"{API}/invoice", data="{nope", content_type="application/json", HTTP_AUTHORIZATION=f"Bearer {token}"
    )
    assert response.status_code == 400 and response.json()["error"] == "OBJECT_DATA_ERROR"


def test_get_invoice_has_mixed_amount_types(api):
    invoice_id = api("POST", "invoice", invoice_body()).json()["invoice_id"]
    data = api("GET", f"invoice/{invoice_id}").json()
    assert data["invoice_status"] == "OPEN" and data["sender_invoice_no"] == "ESIM0001"
    assert data["total_amount"] == "19500.00" and data["gross_amount"] == 19500 and data["minimum_amount"] == "0.00"
    assert "qr_image" not in data and "urls" not in data  # cannot be fetched again
    assert data["lines"]


def test_unknown_invoice_is_invoice_notfound(api):
    for ident in ("8f2d6a8e-0000-4000-8000-000000000000", "not-a-uuid"):
        response = api("GET", f"invoice/{ident}")
        assert response.status_code == 422
        assert response.json() == {"error": "INVOICE_NOTFOUND", "message": "Нэхэмжлэл олдсонгүй"}


def test_cancel_invoice(api):
    invoice_id = api("POST", "invoice", invoice_body()).json()["invoice_id"]
    response = api("DELETE", f"invoice/{invoice_id}")
    assert response.status_code == 200 and response.json() == {}
    assert api("GET", f"invoice/{invoice_id}").json()["invoice_status"] == "CANCELED"  # one L, as observed
    again = api("DELETE", f"invoice/{invoice_id}")
    assert again.status_code == 400 and again.json()["error"] == "INVOICE_ALREADY_CANCELED"


def _pay(invoice_id, amount=None, payment_type="P2P"):
    from sandbox.qpay import services

    invoice = SandboxInvoice.objects.get(pk=invoice_id)
    return services.pay(
        invoice_id, amount=Decimal(amount if amount is not None else invoice.amount), payment_type=payment_type
    )


@pytest.fixture
def no_callbacks(settings, mocked_responses):
    settings.SANDBOX_QPAY_CALLBACK_INLINE = True
    mocked_responses.add(responses.GET, "https://shop.example.mn/payments/qpay/callback/x/", body="SUCCESS")
    return mocked_responses


def test_payment_check_rows_and_paid_amount(api, no_callbacks, django_capture_on_commit_callbacks):
    invoice_id = api("POST", "invoice", invoice_body()).json()["invoice_id"]
    check = {"object_type": "INVOICE", "object_id": invoice_id, "offset": {"page_number": 1, "page_limit": 100}}
    assert api("POST", "payment/check", check).json() == {"count": 0, "rows": []}  # paid_amount absent
    with django_capture_on_commit_callbacks(execute=True):
        payment = _pay(invoice_id)
    data = api("POST", "payment/check", check).json()
    assert data["count"] == 1 and data["paid_amount"] == 19500
    row = data["rows"][0]
    assert row["payment_id"] == payment.payment_id and len(row["payment_id"]) == 15 and row["payment_id"].isdigit()
    assert row["payment_status"] == "PAID" and row["payment_amount"] == "19500.00" and row["trx_fee"] == "0.00"
    assert row["payment_currency"] == "MNT" and row["payment_type"] == "P2P" and "payment_wallet" in row
    assert api("GET", f"invoice/{invoice_id}").json()["invoice_status"] == "CLOSED"
    # The callback went out exactly as QPay sends it.
    callback = no_callbacks.calls[-1].request
    assert callback.method == "GET"
    assert (
        callback.url
        == f"https://shop.example.mn/payments/qpay/callback/x/?token=t&qpay_payment_id={payment.payment_id}"
    )


def test_payment_check_validates_its_body(api):
    assert (
        api("POST", "payment/check", {"object_type": "PAYMENT", "object_id": "x"}).json()["error"]
        == "INVALID_OBJECT_TYPE"
    )
    assert api("POST", "payment/check", {"object_type": "INVOICE"}).status_code == 400
    bad_offset = {"object_type": "INVOICE", "object_id": "x", "offset": {"page_number": 0, "page_limit": 100}}
    assert api("POST", "payment/check", bad_offset).status_code == 400


def test_payment_check_pages(api, no_callbacks):
    invoice_id = api("POST", "invoice", invoice_body(amount=300)).json()["invoice_id"]
    for _ in range(3):
        _pay(invoice_id, 100)
    page = api(
        "POST",
        "payment/check",
        {"object_type": "INVOICE", "object_id": invoice_id, "offset": {"page_number": 2, "page_limit": 2}},
    ).json()
    assert page["count"] == 3 and len(page["rows"]) == 1 and page["paid_amount"] == 300


def test_get_and_list_payments(api, no_callbacks, token):
    invoice_id = api("POST", "invoice", invoice_body()).json()["invoice_id"]
    payment = _pay(invoice_id, payment_type="CARD")
    data = api("GET", f"payment/{payment.payment_id}").json()
    assert data["object_type"] == "INVOICE" and data["object_id"] == invoice_id
    assert data["payment_fee"] == "0.00" and data["transaction_type"] == "CARD" and data["card_transactions"]
    assert api("GET", "payment/123").json()["error"] == "PAYMENT_NOTFOUND"
    listed = api(
        "POST",
        "payment/list",
        {"object_type": "INVOICE", "object_id": invoice_id, "offset": {"page_number": 1, "page_limit": 10}},
    ).json()
    assert listed["count"] == 1 and listed["rows"][0]["paid_by"] == "CARD"
    # What real clients send (qpay-go): MERCHANT + the merchant id from the token, a page_limit
    # above 100, branch/terminal codes and dates (docs/providers/qpay.md, payment list).
    merchant_id = jwt_claim(token, "merchant_id")
    assert merchant_id == "KKTT"
    merchant = api(
        "POST",
        "payment/list",
        {
            "object_type": "MERCHANT",
            "object_id": merchant_id,
            "merchant_branch_code": "",
            "merchant_terminal_code": "",
            "start_date": "2026-01-01",
            "end_date": "2026-12-31",
            "offset": {"page_number": 1, "page_limit": 500},
        },
    )
    assert merchant.status_code == 200 and merchant.json()["count"] == 1
    assert (
        api(
            "POST",
            "payment/list",
            {"object_type": "MERCHANT", "object_id": "SOMEONE_ELSE", "offset": {"page_number": 1, "page_limit": 10}},
        ).status_code
        == 422
    )
    assert (
        api(
            "POST", "payment/list", {"object_type": "MERCHANT", "offset": {"page_number": 1, "page_limit": 10}}
        ).status_code
        == 400
    )


def test_refund_is_card_only(api, no_callbacks):
    invoice_id = api("POST", "invoice", invoice_body(amount=200)).json()["invoice_id"]
    card = _pay(invoice_id, 100, "CARD")
    p2p = _pay(invoice_id, 100, "P2P")
    refused = api("DELETE", f"payment/refund/{p2p.payment_id}", {"note": "butsaalt"})
    assert refused.status_code == 400 and refused.json()["error"] == "PAYMENT_SETTLED"
    assert api("DELETE", f"payment/refund/{card.payment_id}", {"note": "butsaalt"}).json() == {}
    assert SandboxPayment.objects.get(pk=card.pk).status == "REFUNDED"
    again = api("DELETE", f"payment/cancel/{card.payment_id}")
    assert again.json()["error"] == "PAYMENT_ALREADY_CANCELED"
    check = api("POST", "payment/check", {"object_type": "INVOICE", "object_id": invoice_id}).json()
    assert {r["payment_status"] for r in check["rows"]} == {"PAID", "REFUNDED"} and check["paid_amount"] == 100


def test_fault_injection(api):
    faults.inject("payment_check", status=503, count=2, headers={"Retry-After": "1"})
    body = {"object_type": "INVOICE", "object_id": "x"}
    assert [api("POST", "payment/check", body).status_code for _ in range(3)] == [503, 503, 200]
    faults.inject("POST invoice_create", status=500, after=True)
    assert api("POST", "invoice", invoice_body()).status_code == 500
    assert SandboxInvoice.objects.count() == 1  # created, answer lost


def test_bank_page_pays_in_full_too_little_twice_and_after_cancel(
    client, api, no_callbacks, django_capture_on_commit_callbacks
):
    invoice_id = api("POST", "invoice", invoice_body()).json()["invoice_id"]
    page = client.get(f"/sandbox/qpay/pay/{invoice_id}/?return=/pay/abc/")
    assert page.status_code == 200 and "19,500₮" in page.content.decode()
    with django_capture_on_commit_callbacks(execute=True):
        short = client.post(
            f"/sandbox/qpay/pay/{invoice_id}/", {"action": "short", "payment_type": "P2P", "return": "/pay/abc/"}
        )
    assert short.status_code == 302 and "return=/pay/abc/" in short["Location"]
    assert SandboxPayment.objects.get().amount == Decimal("9750")
    assert SandboxInvoice.objects.get().status == "OPEN"
    with django_capture_on_commit_callbacks(execute=True):
        client.post(f"/sandbox/qpay/pay/{invoice_id}/", {"action": "full", "payment_type": "CARD"})
    assert SandboxInvoice.objects.get().status == "CLOSED"
    with django_capture_on_commit_callbacks(execute=True):
        client.post(f"/sandbox/qpay/pay/{invoice_id}/", {"action": "full", "payment_type": "P2P"})  # twice
    assert SandboxPayment.objects.count() == 3
    assert len([c for c in no_callbacks.calls if "qpay_payment_id=" in c.request.url]) == 3
    assert all(p.callback_status == 200 and p.callback_body == "SUCCESS" for p in SandboxPayment.objects.all())

    cancelled = api("POST", "invoice", invoice_body()).json()["invoice_id"]
    api("DELETE", f"invoice/{cancelled}")
    refused = client.post(f"/sandbox/qpay/pay/{cancelled}/", {"action": "full"})
    assert refused.status_code == 200 and SandboxPayment.objects.filter(invoice_id=cancelled).count() == 0
    with django_capture_on_commit_callbacks(execute=True):
        client.post(f"/sandbox/qpay/pay/{cancelled}/", {"action": "after_cancel"})
    assert SandboxPayment.objects.filter(invoice_id=cancelled).count() == 1


def test_bank_page_ignores_foreign_return_urls(client, api):
    invoice_id = api("POST", "invoice", invoice_body()).json()["invoice_id"]
    html = client.get(f"/sandbox/qpay/pay/{invoice_id}/?return=https://evil.example/").content.decode()
    assert "evil.example" not in html


def test_lost_callback_fault(api, no_callbacks, django_capture_on_commit_callbacks):
    faults.inject("callback")
    invoice_id = api("POST", "invoice", invoice_body()).json()["invoice_id"]
    with django_capture_on_commit_callbacks(execute=True):
        payment = _pay(invoice_id)
    payment.refresh_from_db()
    assert payment.callback_error == "lost (sandbox fault)"
    assert not [c for c in no_callbacks.calls if "qpay_payment_id=" in c.request.url]
