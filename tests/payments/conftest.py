import threading
from decimal import Decimal

import pytest
import responses
from django.db import transaction

from tests.catalog.factories import BundleFactory

ESIMGO_ORDERS = "https://api.esim-go.com/v2.4/orders"


@pytest.fixture(autouse=True)
def _payments_settings(settings):
    settings.STAFF_ALERT_EMAILS = ["staff@example.mn"]
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    settings.QPAY_MAX_RETRIES = 1
    settings.ESIMGO_MAX_RETRIES = 0
    yield


@pytest.fixture
def bundle(db):
    return BundleFactory(name="esim_1GB_7D_JP_V2", countries=["JP"], price=Decimal("4.5000"), computed_price_mnt=19500)


@pytest.fixture
def paid_handler(monkeypatch):
    """Stands in for orders.services.handle_invoice_paid: counts calls and on-commit enqueues."""
    calls, enqueued, lock = [], [], threading.Lock()

    def handle_invoice_paid(invoice, actor):
        with lock:
            calls.append((invoice.pk, actor))
        transaction.on_commit(lambda: enqueued.append(invoice.pk))

    monkeypatch.setattr("orders.services.handle_invoice_paid", handle_invoice_paid)
    handle_invoice_paid.calls = calls
    handle_invoice_paid.enqueued = enqueued
    return handle_invoice_paid


def esimgo_validate_body(name="esim_1GB_7D_JP_V2", total=4.5, valid=True):
    return {
        "order": [
            {
                "type": "bundle",
                "item": name,
                "quantity": 1,
                "subTotal": total,
                "pricePerUnit": total,
                "AllowReassign": False,
            }
        ],
        "total": total,
        "valid": valid,
        "currency": "USD",
        "createdDate": "2026-11-23T10:00:00Z",
        "assigned": False,
    }


@pytest.fixture
def esimgo_valid(mocked_responses):
    mocked_responses.add(responses.POST, ESIMGO_ORDERS, json=esimgo_validate_body())
    return mocked_responses
