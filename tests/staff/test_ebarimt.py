"""E-barimt through QPay: issued after a verified payment (when enabled), never in the eSIM's way,
retried and flagged on failure, shown to the shopper; the sandbox speaks the same shape."""

import base64
import json

import pytest
import responses
from django.urls import reverse

from integrations.qpay.client import QPayUnavailable
from orders.models import EmailLog
from payments import ebarimt, verification
from payments.models import EbarimtReceipt, Invoice, Payment
from staff import selectors
from tests.orders.factories import DeliveredOrderFactory, InvoiceFactory
from tests.payments.qpay_mocks import BASE as QPAY
from tests.payments.qpay_mocks import add_check, paid_row

CREATE = f"{QPAY}/ebarimt_v3/create"


def receipt_body(payment_id, **overrides):
    body = {
        "id": "9f0c5a52-0000-4000-8000-000000000001",
        "ebarimt_by": "QPAY",
        "ebarimt_receiver_type": "CITIZEN",
        "ebarimt_receiver": "88614450",
        "g_payment_id": payment_id,
        "paid_by": "P2P",
        "object_type": "INVOICE",
        "amount": "19500.00",
        "vat_amount": "1772.73",
        "city_tax_amount": "0.00",
        "ebarimt_qr_data": "1234567890123456789012345678901234567890",
        "ebarimt_lottery": "HV 83198235",
        "barimt_status": "REGISTERED",
        "ebarimt_receipt_id": "000000000000000000000000000000001",
        "status": True,
    }
    body.update(overrides)
    return body


@pytest.fixture
def enabled(settings):
    settings.EBARIMT_ENABLED = True


@pytest.fixture
def pending(db):
    invoice = InvoiceFactory(status=Invoice.Status.PENDING, paid_at=None)
    invoice.customer.phone_number = "88614450"
    invoice.customer.save()
    return invoice


def test_receipt_is_issued_after_the_payment_is_verified(
    enabled, pending, mocked_responses, qpay_token, django_capture_on_commit_callbacks, monkeypatch
):
    row = paid_row(f"{pending.amount_mnt}.00", payment_id="493622150113497")
    add_check(mocked_responses, row)
    create = mocked_responses.add(responses.POST, CREATE, json=receipt_body("493622150113497"))
    monkeypatch.setattr("orders.tasks.provision_order_task.delay", lambda *a, **k: None)

    with django_capture_on_commit_callbacks(execute=True):
        verification.verify_invoice_payment(pending.pk, cause="callback", actor="callback")

    assert create.call_count == 1
    assert json.loads(create.calls[0].request.body) == {
        "payment_id": "493622150113497",
        "ebarimt_receiver_type": "CITIZEN",
        "ebarimt_receiver": "88614450",
    }
    receipt = EbarimtReceipt.objects.get(invoice=pending)
    assert (receipt.status, receipt.lottery, receipt.receipt_id) == (
        EbarimtReceipt.Status.ISSUED,
        "HV 83198235",
        "000000000000000000000000000000001",
    )
    assert receipt.payment.qpay_payment_id == "493622150113497"


def test_a_company_register_number_makes_it_a_company_receipt(enabled, db, mocked_responses, qpay_token):
    order = DeliveredOrderFactory(invoice__company_register="5395305")
    Payment.objects.create(invoice=order.invoice, qpay_payment_id="p-1", status="PAID", amount=order.invoice.amount_mnt)
    create = mocked_responses.add(responses.POST, CREATE, json=receipt_body("p-1", ebarimt_receiver_type="COMPANY"))
    ebarimt.schedule_receipt(order.invoice)
    ebarimt.issue(order.invoice_id)
    body = json.loads(create.calls[0].request.body)
    assert (body["ebarimt_receiver_type"], body["ebarimt_receiver"]) == ("COMPANY", "5395305")


def test_switched_off_by_default(
    pending, mocked_responses, qpay_token, django_capture_on_commit_callbacks, monkeypatch
):
    add_check(mocked_responses, paid_row(f"{pending.amount_mnt}.00"))
    monkeypatch.setattr("orders.tasks.provision_order_task.delay", lambda *a, **k: None)
    with django_capture_on_commit_callbacks(execute=True):
        verification.verify_invoice_payment(pending.pk, cause="callback", actor="callback")
    assert not EbarimtReceipt.objects.exists()
    assert not [c for c in mocked_responses.calls if "ebarimt" in c.request.url]


def test_a_failure_is_flagged_retried_and_never_touches_the_esim(
    enabled, db, mocked_responses, qpay_token, admin_client, organisation
):
    order = DeliveredOrderFactory()
    Payment.objects.create(invoice=order.invoice, qpay_payment_id="p-2", status="PAID", amount=order.invoice.amount_mnt)
    ebarimt.schedule_receipt(order.invoice)
    mocked_responses.add(responses.POST, CREATE, json={"error": "INTERNAL", "message": "down"}, status=503)

    failed = ebarimt.issue(order.invoice_id)
    with pytest.raises(QPayUnavailable):
        ebarimt.issue(order.invoice_id, raise_transient=True)  # the task's way: raise so Celery retries

    assert failed.status == EbarimtReceipt.Status.FAILED and "down" in failed.last_error
    order.refresh_from_db()
    assert order.status == "DELIVERED"
    assert any(s.key == "ebarimt" for s in selectors.needs_attention())
    html = admin_client.get(reverse("admin:index")).content.decode()
    assert 'id="queue-ebarimt"' in html

    mocked_responses.replace(responses.POST, CREATE, json=receipt_body("p-2"))
    counts = ebarimt.sweep()  # eager Celery in tests: the re-queued task runs now
    assert counts["issue"] == 1
    assert EbarimtReceipt.objects.get().status == EbarimtReceipt.Status.ISSUED
    assert not any(s.key == "ebarimt" for s in selectors.needs_attention())


def test_not_enrolled_is_not_retried_by_the_sweep(enabled, db, mocked_responses, qpay_token):
    order = DeliveredOrderFactory()
    Payment.objects.create(invoice=order.invoice, qpay_payment_id="p-3", status="PAID", amount=order.invoice.amount_mnt)
    ebarimt.schedule_receipt(order.invoice)
    create = mocked_responses.add(
        responses.POST, CREATE, json={"error": "EBARIMT_NOT_REGISTERED", "message": "no"}, status=400
    )
    ebarimt.issue(order.invoice_id)
    assert ebarimt.sweep()["issue"] == 0
    assert create.call_count == 1


def test_the_shopper_sees_the_lottery_number_on_the_esim_page_and_in_the_email(db, client):
    order = DeliveredOrderFactory()
    payment = Payment.objects.create(invoice=order.invoice, qpay_payment_id="p-4", status="PAID", amount=19500)
    EbarimtReceipt.objects.create(
        invoice=order.invoice,
        payment=payment,
        status=EbarimtReceipt.Status.ISSUED,
        receiver_type="CITIZEN",
        receiver="88614450",
        lottery="HV 83198235",
        qr_data="1234567890",
        receipt_id="000000000000000000000000000000001",
    )
    page = client.get(order.get_absolute_url()).content.decode()
    assert 'id="ebarimt-lottery">HV 83198235<' in page and "ebarimt-qr" in page

    from orders.emails import build_message

    log = EmailLog.objects.create(order=order, kind=EmailLog.Kind.ESIM_READY, to=order.customer.email)
    message = build_message(log)
    assert "HV 83198235" in message.body and "1234567890" in message.body
    assert "HV 83198235" in message.alternatives[0][0]


def test_a_cancelled_receipt_is_not_shown(db, client):
    order = DeliveredOrderFactory()
    EbarimtReceipt.objects.create(
        invoice=order.invoice,
        status=EbarimtReceipt.Status.CANCELLED,
        receiver_type="CITIZEN",
        receiver="88614450",
        lottery="HV 83198235",
    )
    assert "HV 83198235" not in client.get(order.get_absolute_url()).content.decode()


# --- the sandbox QPay issues receipts in the same shape -------------------------------------------


@pytest.fixture
def sandbox_api(client, db, settings):
    auth = (
        "Basic "
        + base64.b64encode(f"{settings.SANDBOX_QPAY_CLIENT_ID}:{settings.SANDBOX_QPAY_CLIENT_SECRET}".encode()).decode()
    )
    token = client.post("/sandbox/qpay/v2/auth/token", HTTP_AUTHORIZATION=auth).json()["access_token"]

    def call(method, path, body=None):
        kwargs = {"HTTP_AUTHORIZATION": f"Bearer {token}"}
        if body is not None:
            kwargs.update(data=json.dumps(body), content_type="application/json")
        return getattr(client, method)(f"/sandbox/qpay/v2/{path}", **kwargs)

    return call


@pytest.fixture
def sandbox_payment(db):
    from decimal import Decimal

    from sandbox.qpay.models import SandboxInvoice, SandboxPayment

    invoice = SandboxInvoice.objects.create(
        invoice_code="TEST_INVOICE",
        sender_invoice_no="ESIM1",
        invoice_receiver_code="terminal",
        invoice_description="eSIM",
        amount=Decimal("19500"),
        callback_url="https://x",
        qr_text="q",
    )
    return SandboxPayment.objects.create(payment_id="493622150113497", invoice=invoice, amount=Decimal("19500"))


def test_sandbox_issues_and_cancels_receipts_like_qpay(sandbox_api, sandbox_payment):
    created = sandbox_api(
        "post",
        "ebarimt_v3/create",
        {"payment_id": "493622150113497", "ebarimt_receiver_type": "CITIZEN", "ebarimt_receiver": "88614450"},
    )
    again = sandbox_api(
        "post",
        "ebarimt_v3/create",
        {"payment_id": "493622150113497", "ebarimt_receiver_type": "CITIZEN", "ebarimt_receiver": "88614450"},
    )
    body = created.json()
    assert created.status_code == 200 and again.json()["ebarimt_lottery"] == body["ebarimt_lottery"]
    for key in (
        "id",
        "ebarimt_lottery",
        "ebarimt_qr_data",
        "ebarimt_receipt_id",
        "barimt_status",
        "amount",
        "vat_amount",
        "g_payment_id",
        "ebarimt_receiver_phone",
    ):
        assert key in body, key
    assert body["barimt_status"] == "REGISTERED" and body["vat_amount"] == "1772.73"
    assert body["ebarimt_receiver_phone"] == "88*14*50" and len(body["ebarimt_receipt_id"]) == 33
    cancelled = sandbox_api("delete", "ebarimt_v3/493622150113497")
    assert cancelled.json()["barimt_status"] == "CANCELED"


@pytest.mark.parametrize(
    "body, code",
    [
        ({"payment_id": "493622150113497", "ebarimt_receiver_type": "PERSON"}, "OBJECT_DATA_ERROR"),
        (
            {"payment_id": "493622150113497", "ebarimt_receiver_type": "COMPANY", "ebarimt_receiver": "12"},
            "CUSTOMER_REGISTER_INVALID",
        ),
        ({"payment_id": "nope", "ebarimt_receiver_type": "CITIZEN"}, "PAYMENT_NOTFOUND"),
    ],
)
def test_sandbox_is_strict(sandbox_api, sandbox_payment, body, code):
    response = sandbox_api("post", "ebarimt_v3/create", body)
    assert response.status_code in (400, 422) and response.json()["error"] == code


def test_sandbox_can_say_not_enrolled(sandbox_api, sandbox_payment, settings):
    settings.SANDBOX_QPAY_EBARIMT_REGISTERED = False
    response = sandbox_api(
        "post", "ebarimt_v3/create", {"payment_id": "493622150113497", "ebarimt_receiver_type": "CITIZEN"}
    )
    assert response.json()["error"] == "EBARIMT_NOT_REGISTERED"
