"""End to end over real HTTP (pytest-django live_server): the purchase API validates with the
sandbox eSIM Go and invoices at the sandbox QPay; a person pays on the sandbox bank page;
the sandbox calls the shop's callback exactly as QPay does; the shop verifies against the
sandbox and the invoice is PAID. No mocks on the wire."""

import re
import threading
from decimal import Decimal

import pytest
import requests
from django.core.cache import cache
from django.db import transaction

from catalog.models import Bundle
from integrations.qpay.client import QPayClient
from payments.models import Invoice, QPayCallback
from sandbox.esimgo.catalogue import get_catalogue
from sandbox.qpay.models import SandboxPayment
from tests.catalog.factories import BundleFactory

NAME = "esim_1GB_7D_MN_V2"


@pytest.fixture
def shop(live_shop, monkeypatch):
    calls, lock = [], threading.Lock()

    def handle_invoice_paid(invoice, actor):
        with lock:
            calls.append((invoice.pk, actor))
        transaction.on_commit(lambda: None)

    monkeypatch.setattr("orders.services.handle_invoice_paid", handle_invoice_paid)
    BundleFactory(
        name=NAME,
        countries=["MN"],
        price=Decimal(str(get_catalogue().by_name[NAME]["price"])),
        computed_price_mnt=12500,
    )
    live_shop.paid_calls = calls
    return live_shop


def purchase(shop):
    response = requests.post(
        f"{shop.url}/api/customer/transactions/purchase",
        json={"phoneNumber": "99112233", "email": "e2e@example.mn", "amount": 12500, "packageCode": NAME},
        timeout=30,
    )
    assert response.status_code == 201, response.text
    return response.json()


def pay_on_bank_page(shop, data, action="full", payment_type="P2P"):
    session = requests.Session()
    bank_url = f"{shop.url}/sandbox/qpay/pay/{data['invoice_id']}/"
    page = session.get(bank_url, timeout=30)
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text).group(1)
    response = session.post(
        bank_url,
        data={"csrfmiddlewaretoken": token, "action": action, "payment_type": payment_type},
        headers={"Referer": bank_url},
        timeout=60,
    )
    assert response.status_code == 200, response.text[:500]  # after the redirect back to the bank page
    return response


def status(shop, data):
    return requests.get(data["statusUrl"], timeout=30).json()


@pytest.mark.django_db(transaction=True)
def test_buy_and_pay_in_the_sandbox_end_to_end(shop):
    data = purchase(shop)
    assert data["qr_link"].startswith(f"{shop.url}/sandbox/qpay/pay/")
    assert status(shop, data)["status"] == "PENDING"

    pay_on_bank_page(shop, data)

    invoice = Invoice.objects.get(pk=data["internalInvoiceId"])
    assert invoice.status == Invoice.Status.PAID and invoice.paid_amount == 12500
    callback = QPayCallback.objects.get(invoice=invoice)
    payment = SandboxPayment.objects.get()
    assert callback.method == "GET" and callback.outcome == "PAID"
    assert callback.qpay_payment_id == payment.payment_id
    assert (payment.callback_status, payment.callback_body) == (200, "SUCCESS")
    assert shop.paid_calls == [(invoice.pk, "callback")]
    assert status(shop, data)["status"] == "PAID" and status(shop, data)["paidAmount"] == 12500

    # Paying the same invoice twice: the second callback is a DUPLICATE, but staff hear about it.
    pay_on_bank_page(shop, data)
    invoice.refresh_from_db()
    assert invoice.needs_staff_attention and "paid more than once" in invoice.staff_attention_reason
    assert len(shop.paid_calls) == 1


@pytest.mark.django_db(transaction=True)
def test_short_payment_in_the_sandbox_is_amount_mismatch(shop):
    data = purchase(shop)
    pay_on_bank_page(shop, data, action="short", payment_type="CARD")
    invoice = Invoice.objects.get(pk=data["internalInvoiceId"])
    assert invoice.status == Invoice.Status.PENDING and invoice.needs_staff_attention
    assert QPayCallback.objects.get(invoice=invoice).outcome == "AMOUNT_MISMATCH"
    assert shop.paid_calls == []


@pytest.mark.django_db(transaction=True)
def test_client_reauthenticates_against_the_sandbox_after_a_401(shop):
    client = QPayClient()
    client.get_access_token()
    cache.set(client._token_key, {"access_token": "stale-token", "expires_at": 0}, 60)  # e.g. revoked
    created = client.create_invoice(
        sender_invoice_no="ESIMLIVE1", amount=100, description="test", callback_url="http://127.0.0.1:9/never"
    )
    assert created.qr_image and created.urls
    check = client.check_payment(created.invoice_id)
    assert check.count == 0 and check.paid_amount is None
    client.cancel_invoice(created.invoice_id)
    assert client.get_invoice(created.invoice_id).status == "CANCELLED"
    assert Bundle.objects.filter(name=NAME).exists()
