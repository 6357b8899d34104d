"""The invoice, refund and e-barimt receipt state tables, pinned (tests/state_tables.py)."""

import uuid

import pytest

from esimshop import state_machine
from orders import models as order_models
from payments import services
from payments.models import (
    EBARIMT_TRANSITIONS,
    INVOICE_TRANSITIONS,
    REFUND_TRANSITIONS,
    EbarimtReceipt,
    Invoice,
    InvoiceTransition,
    Payment,
    Refund,
)
from tests.factories import InvoiceFactory, PaidInvoiceFactory
from tests.state_tables import as_plain, check_transition

pytestmark = pytest.mark.django_db

INVOICE = {
    "mark_paid": ({"PENDING"}, "PAID"),
    "accept_late_payment": ({"EXPIRED", "CANCELLED"}, "PAID"),
    "expire": ({"PENDING"}, "EXPIRED"),
    "cancel": ({"PENDING"}, "CANCELLED"),
}
REFUND = {
    "succeed": ({"REQUESTED", "UNKNOWN"}, "SUCCEEDED"),
    "fail": ({"REQUESTED", "UNKNOWN"}, "FAILED"),
    "lose_answer": ({"REQUESTED", "UNKNOWN"}, "UNKNOWN"),
}
EBARIMT = {
    "claim": ({"PENDING", "FAILED", "ISSUING"}, "ISSUING"),
    "fail_without_payment": ({"PENDING", "FAILED", "ISSUING"}, "FAILED"),
    "fail": ({"ISSUING"}, "FAILED"),
    "record_issued": ({"PENDING", "ISSUING", "ISSUED", "FAILED", "CANCELLED", "CANCEL_FAILED"}, "ISSUED"),
    "cancel_unissued": ({"PENDING", "ISSUING", "FAILED"}, "CANCELLED"),
    "cancel_issued": ({"ISSUED", "CANCEL_FAILED"}, "CANCELLED"),
    "cancel_failed": ({"ISSUED", "CANCEL_FAILED"}, "CANCEL_FAILED"),
    "staff_retry": ({"FAILED"}, "PENDING"),
}


def test_the_tables_are_these():
    assert as_plain(INVOICE_TRANSITIONS) == INVOICE
    assert as_plain(REFUND_TRANSITIONS) == REFUND
    assert as_plain(EBARIMT_TRANSITIONS) == EBARIMT


def test_one_exception_under_every_name():
    assert services.IllegalTransition is state_machine.IllegalTransition
    assert order_models.InvalidTransition is state_machine.IllegalTransition
    assert services.TRANSITIONS is INVOICE_TRANSITIONS


@pytest.fixture
def invoice_in(bundle):
    return lambda state: InvoiceFactory(bundle=bundle, status=state)


@pytest.fixture
def refund_in(bundle):
    def make(state):
        invoice = PaidInvoiceFactory(bundle=bundle)
        payment = Payment.objects.create(
            invoice=invoice, qpay_payment_id=uuid.uuid4().hex, status="PAID", amount=invoice.amount_mnt
        )
        return Refund.objects.create(
            invoice=invoice,
            payment=payment,
            amount_mnt=invoice.amount_mnt,
            method=Refund.Method.MANUAL,
            status=state,
            idempotency_key=uuid.uuid4(),
            requested_by_username="finance",
        )

    return make


@pytest.fixture
def receipt_in(bundle):
    def make(state):
        invoice = PaidInvoiceFactory(bundle=bundle)
        return EbarimtReceipt.objects.create(
            invoice=invoice, status=state, receiver_type="CITIZEN", receiver="99112233"
        )

    return make


@pytest.mark.parametrize("name", INVOICE)
def test_invoice_transition(name, invoice_in):
    check_transition(INVOICE_TRANSITIONS, name, invoice_in)


@pytest.mark.parametrize("name", REFUND)
def test_refund_transition(name, refund_in):
    check_transition(REFUND_TRANSITIONS, name, refund_in)


@pytest.mark.parametrize("name", EBARIMT)
def test_ebarimt_receipt_transition(name, receipt_in):
    check_transition(EBARIMT_TRANSITIONS, name, receipt_in)


@pytest.mark.parametrize("name", ["cancel_failed", "cancel_issued"])
def test_ebarimt_receipt_cancel_outcomes_are_conditional(name, receipt_in):
    """The QPay cancel answer lands by compare-and-set: a second cancel cannot overwrite the first."""
    check_transition(EBARIMT_TRANSITIONS, name, receipt_in, conditional=True)


def test_the_invoice_helper_moves_the_schedule_and_records(invoice_in):
    invoice = invoice_in(Invoice.Status.PENDING)
    services._transition(Invoice.objects.select_for_update().get(pk=invoice.pk), "cancel", cause="t", actor="system")
    invoice.refresh_from_db()
    assert invoice.status == Invoice.Status.CANCELLED and invoice.closed_at is not None
    record = InvoiceTransition.objects.get(invoice=invoice)
    assert (record.name, record.from_status, record.to_status, record.actor) == (
        "cancel",
        "PENDING",
        "CANCELLED",
        "system",
    )
    with pytest.raises(services.IllegalTransition):
        services._transition(invoice, "expire", cause="t", actor="system")


def test_a_stale_object_is_refused_and_nothing_changes(invoice_in):
    """The helper reads the state under the row lock: a caller deciding on an old copy is refused."""
    invoice = invoice_in(Invoice.Status.PENDING)
    stale = Invoice.objects.get(pk=invoice.pk)
    state_machine.apply_transition(invoice, "cancel", by="test")
    with pytest.raises(state_machine.IllegalTransition, match="in the database"):
        state_machine.apply_transition(stale, "mark_paid", by="test")
    invoice.refresh_from_db()
    assert invoice.status == Invoice.Status.CANCELLED
    assert list(InvoiceTransition.objects.filter(invoice=invoice).values_list("name", flat=True)) == ["cancel"]


def test_an_unknown_transition_raises_the_one_exception(invoice_in):
    with pytest.raises(state_machine.IllegalTransition, match="unknown transition"):
        state_machine.apply_transition(invoice_in(Invoice.Status.PENDING), "pay_twice", by="test")
