"""Money states the shopper sees (issue 13): short payment → only the remainder is offered and
the purchase completes (staff flag cleared) once the total arrives; late payment acknowledged;
double payment reported at its real amount; the QPay text the bank app shows."""

import json
from datetime import timedelta
from decimal import Decimal

import pytest
import responses
from django.utils import timezone

from payments import inbox, purchase, remainder, selectors, verification
from payments.models import Invoice, InvoiceTransition, RemainderInvoice
from tests.payments.factories import InvoiceFactory
from tests.payments.qpay_mocks import BASE, add_invoice_create, add_token, check_body, paid_row


@pytest.fixture
def invoice(bundle):
    return InvoiceFactory(bundle=bundle)  # 19,500₮


def add_checks_by_invoice(rsps, rows_by_qpay_id):
    """payment/check answered per QPay invoice id (object_id), like QPay."""

    def answer(request):
        object_id = json.loads(request.body)["object_id"]
        return 200, {}, json.dumps(check_body(*rows_by_qpay_id.get(object_id, [])))

    rsps.upsert(responses.CallbackResponse(responses.POST, f"{BASE}/payment/check", callback=answer))


def verify(invoice):
    return verification.verify_invoice_payment(invoice.pk, cause="test", actor="test")


def test_short_payment_then_the_remainder_completes_the_purchase(invoice, mocked_responses, paid_handler):
    add_token(mocked_responses)
    rows = {invoice.qpay_invoice_id: [paid_row("9700.00")]}
    add_checks_by_invoice(mocked_responses, rows)
    assert verify(invoice).outcome == verification.AMOUNT_MISMATCH
    invoice.refresh_from_db()
    assert invoice.needs_staff_attention and invoice.staff_attention_reason.startswith("short payment")
    public = selectors.public_status(invoice)
    assert (public["status"], public["paymentState"], public["paidAmount"], public["remainingAmount"]) == (
        "PENDING",
        "SHORT",
        9700,
        9800,
    )

    created = add_invoice_create(mocked_responses)
    extra = remainder.request_remainder(invoice.pk)
    assert extra.amount_mnt == 9800 and extra.qpay_invoice_id
    sent = json.loads([c for c in mocked_responses.calls if c.request.url.endswith("/invoice")][0].request.body)
    assert sent["amount"] == 9800 and sent["callback_url"] == inbox.callback_url(invoice)
    assert remainder.request_remainder(invoice.pk).pk == extra.pk and len(created) == 1  # a double-click: one invoice

    rows[extra.qpay_invoice_id] = [paid_row("9800.00")]
    assert verify(invoice).outcome == verification.PAID
    invoice.refresh_from_db()
    assert invoice.status == Invoice.Status.PAID and invoice.paid_amount == Decimal("19500")
    assert not invoice.needs_staff_attention and invoice.staff_attention_reason == ""
    assert InvoiceTransition.objects.filter(invoice=invoice, name="clear_staff_flag").exists()
    assert invoice.payments.count() == 2  # both payments recorded on the purchase (refundable one by one)
    assert len(paid_handler.calls) == 1  # handed over to orders once


def test_remainder_extends_a_nearly_expired_request(bundle, mocked_responses):
    invoice = InvoiceFactory(
        bundle=bundle, paid_amount=Decimal("9700"), expires_at=timezone.now() + timedelta(minutes=1)
    )
    add_token(mocked_responses)
    add_invoice_create(mocked_responses)
    remainder.request_remainder(invoice.pk)
    invoice.refresh_from_db()
    assert invoice.expires_at >= timezone.now() + timedelta(minutes=9)


def test_no_remainder_when_nothing_is_missing(invoice):
    with pytest.raises(remainder.RemainderNotPossible):
        remainder.request_remainder(invoice.pk)
    assert not RemainderInvoice.objects.exists()


def test_shopper_asks_for_a_short_payment_back(bundle, mocked_responses):
    invoice = InvoiceFactory(bundle=bundle, paid_amount=Decimal("9700"))
    mocked_responses.add(responses.DELETE, f"{BASE}/invoice/{invoice.qpay_invoice_id}", json={})
    add_token(mocked_responses)
    result = remainder.ask_for_refund(invoice.pk)
    assert result.status == Invoice.Status.CANCELLED and result.needs_staff_attention
    assert "refund requested by the shopper" in result.staff_attention_reason
    assert selectors.public_status(result)["paymentState"] == "LATE"


def test_late_payment_is_reported(bundle, mocked_responses):
    invoice = InvoiceFactory(bundle=bundle, status=Invoice.Status.EXPIRED)
    add_token(mocked_responses)
    add_checks_by_invoice(mocked_responses, {invoice.qpay_invoice_id: [paid_row("19500.00")]})
    assert verify(invoice).outcome == verification.LATE_PAYMENT
    invoice.refresh_from_db()
    public = selectors.public_status(invoice)
    assert (public["status"], public["paymentState"], public["paidAmount"]) == ("EXPIRED", "LATE", 19500)


def test_double_payment_reports_the_real_amount(invoice, mocked_responses, paid_handler):
    add_token(mocked_responses)
    rows = {invoice.qpay_invoice_id: [paid_row("19500.00")]}
    add_checks_by_invoice(mocked_responses, rows)
    assert verify(invoice).outcome == verification.PAID
    rows[invoice.qpay_invoice_id].append(paid_row("19500.00"))
    verification.verify_invoice_payment(invoice.pk, cause="test", actor="test", recheck_paid=True)
    invoice.refresh_from_db()
    public = selectors.public_status(invoice)
    assert (public["paidAmount"], public["extraAmount"], public["paymentState"]) == (39000, 19500, "OVERPAID")
    assert invoice.needs_staff_attention and "paid more than once" in invoice.staff_attention_reason


def test_qpay_description_is_the_mongolian_plan_name_and_the_shop(invoice):
    text = purchase.qpay_description(invoice)
    assert text.endswith(" · esimshop") and "Япон" in text
    assert "eSIM eSIM" not in text and "V2" not in text
