"""20 concurrent callbacks for one paid invoice, each on its own thread and DB connection:
exactly one PAID transition, one handle_invoice_paid call, one provisioning enqueue.

Runs with 20 truly concurrent threads on PostgreSQL (CI). SQLite's shared in-memory test
database answers "table is locked" instead of waiting, so there it runs 4 threads, each with
its own connection, delivering one at a time (the outcome assertions are the same).
"""

import contextlib
import json
import threading
import time

import pytest
import responses
from django.db import connection
from django.test import Client

from integrations.qpay.client import QPayClient
from payments import inbox
from payments.models import Invoice, InvoiceTransition, QPayCallback
from tests.payments.factories import InvoiceFactory
from tests.payments.qpay_mocks import BASE, add_token, check_body, paid_row


def _callers() -> int:
    return 20 if connection.vendor == "postgresql" else 4


def _one_at_a_time_on_sqlite():
    return contextlib.nullcontext() if connection.vendor == "postgresql" else _SQLITE_TURN


_SQLITE_TURN = threading.Lock()


@pytest.mark.django_db(transaction=True)
def test_concurrent_callbacks_have_exactly_one_winner(bundle, mocked_responses, paid_handler):
    invoice = InvoiceFactory(bundle=bundle)
    add_token(mocked_responses)
    body = json.dumps(check_body(paid_row("19500.00", payment_id="493622150113497")))

    def slow_check(request):
        time.sleep(0.05)  # widen the window between "QPay says paid" and taking the row lock
        return 200, {}, body

    mocked_responses.add_callback(responses.POST, f"{BASE}/payment/check", callback=slow_check)
    QPayClient().get_access_token()  # warm the shared token so threads race on the invoice only

    n = _callers()
    turn = _one_at_a_time_on_sqlite()
    barrier = threading.Barrier(n)
    replies, errors = [], []
    url = f"/payments/qpay/callback/{invoice.pk}/?token={inbox.callback_token(invoice.pk)}&qpay_payment_id=493622150113497"

    def deliver():
        try:
            barrier.wait(10)
            with turn:
                response = Client().get(url)
            replies.append((response.status_code, response.content, response["X-Callback-Outcome"]))
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=deliver) for _ in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)

    assert errors == []
    assert len(replies) == n
    assert all(status == 200 and content == b"SUCCESS" for status, content, _ in replies)
    outcomes = sorted(outcome for _, _, outcome in replies)
    assert outcomes.count("PAID") == 1
    if connection.vendor == "postgresql":
        assert outcomes.count("DUPLICATE") == n - 1
    invoice.refresh_from_db()
    assert invoice.status == Invoice.Status.PAID
    assert InvoiceTransition.objects.filter(invoice=invoice, name="mark_paid").count() == 1
    assert len(paid_handler.calls) == 1
    assert paid_handler.enqueued == [invoice.pk]  # one provisioning enqueue, after commit
    assert QPayCallback.objects.filter(invoice=invoice).count() == n  # every callback stored
