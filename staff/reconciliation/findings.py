"""Reconciliation, stage 3: the findings. Every mismatch between what QPay received, what eSIM Go
sold us and what our books say, one Finding each (staff.services stores them as
ReconciliationMismatch rows, keyed by fingerprint)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

from django.core.exceptions import ObjectDoesNotExist
from django.utils import timezone

from orders.models import Order
from staff.models import ReconciliationMismatch
from staff.reconciliation.books import Books
from staff.reconciliation.listings import MONEY_IN_STATUSES, Listing
from staff.reconciliation.periods import local_day

Kind = ReconciliationMismatch.Kind

# A paid order younger than this may simply still be provisioning.
PROVISIONING_GRACE = timedelta(minutes=30)
# Paid within 1 MNT counts as equal (QPay echoes "10.00"-style decimals).
AMOUNT_TOLERANCE_MNT = Decimal("1")


@dataclass
class Finding:
    fingerprint: str
    kind: str
    day: date
    detail: str
    invoice_id: object = None
    order_id: int | None = None
    qpay_payment_id: str = ""
    qpay_invoice_id: str = ""
    esimgo_order_reference: str = ""
    expected_amount: Decimal | None = None
    actual_amount: Decimal | None = None
    currency: str = ""


def _decimal(value) -> Decimal | None:
    """A total as we stored it from an eSIM Go answer (Order.esimgo_order)."""
    if value is None or value == "" or isinstance(value, bool):
        return None
    try:
        result = Decimal(str(value))
    except (InvalidOperation, ValueError):
        return None
    return result if result.is_finite() else None


def _mnt(value: Decimal) -> str:
    return f"{value.quantize(Decimal('1'), rounding=ROUND_HALF_UP):,}₮"


def compare(
    start: datetime,
    end: datetime,
    qpay: Listing,
    esimgo: Listing,
    books: Books,
    *,
    now=None,
    qpay_payment_exists: Callable[[str], bool | None] | None = None,
    esimgo_order_exists: Callable[[str], bool | None] | None = None,
) -> list[Finding]:
    """All mismatches between the two listings and our books.

    `qpay_payment_exists(payment_id)` / `esimgo_order_exists(reference)` look one item up at the
    provider (True/False, None when unsure) before we claim the provider lacks it: our dates
    (first seen, order created) can fall outside the listing window when things ran late.
    """
    now = now or timezone.now()
    qpay_payment_exists = qpay_payment_exists or (lambda payment_id: False)
    esimgo_order_exists = esimgo_order_exists or (lambda reference: False)
    findings: dict[str, Finding] = {}

    def add(finding: Finding):
        findings.setdefault(finding.fingerprint, finding)

    # Per purchase, not per QPay invoice: a remainder invoice's payments count for its purchase.
    def purchase_key(line):
        invoice = books.invoices_by_qpay_id.get(line.object_id)
        return invoice.pk if invoice is not None else line.object_id

    paid_at_qpay_by_invoice: dict = defaultdict(Decimal)
    for line in qpay.lines:
        if line.status in MONEY_IN_STATUSES:
            paid_at_qpay_by_invoice[purchase_key(line)] += line.amount

    # QPay's side: every payment that brought money in.
    for line in qpay.lines:
        if line.status not in MONEY_IN_STATUSES or line.paid_at is None:
            continue
        day = local_day(line.paid_at)
        invoice = books.invoices_by_qpay_id.get(line.object_id)
        ours = books.payments_by_id.get(line.payment_id)
        common = {"qpay_payment_id": line.payment_id, "qpay_invoice_id": line.object_id, "currency": "MNT"}
        if invoice is None:
            add(
                Finding(
                    f"qpay-unknown-invoice:{line.payment_id}",
                    Kind.QPAY_PAID_NOT_IN_BOOKS,
                    day,
                    f"QPay payment {line.payment_id} ({_mnt(line.amount)}, {line.payment_type or '?'}) is for QPay "
                    f"invoice {line.object_id or '?'}, which we have no record of",
                    actual_amount=line.amount,
                    **common,
                )
            )
            continue
        common["invoice_id"] = invoice.pk
        order = getattr(invoice, "order", None) if _has_order(invoice) else None
        common["order_id"] = order.pk if order else None
        if line.status == "PAID" and invoice.status != "PAID":
            flagged = " (flagged for staff)" if invoice.needs_staff_attention else ""
            add(
                Finding(
                    f"qpay-unbooked:{line.payment_id}",
                    Kind.QPAY_PAID_NOT_IN_BOOKS,
                    day,
                    f"QPay shows {_mnt(line.amount)} paid on invoice {invoice.sender_invoice_no}, which is "
                    f"{invoice.status} here{flagged}",
                    actual_amount=line.amount,
                    **common,
                )
            )
        elif line.status == "PAID" and ours is None:
            add(
                Finding(
                    f"qpay-unrecorded:{line.payment_id}",
                    Kind.QPAY_PAID_NOT_IN_BOOKS,
                    day,
                    f"QPay payment {line.payment_id} ({_mnt(line.amount)}) on invoice {invoice.sender_invoice_no} "
                    f"is not recorded here (a second payment?)",
                    actual_amount=line.amount,
                    **common,
                )
            )
        if ours is not None and ours.amount != line.amount:
            add(
                Finding(
                    f"amount-payment:{line.payment_id}",
                    Kind.AMOUNT_DIFFERENCE,
                    day,
                    f"payment {line.payment_id}: QPay says {_mnt(line.amount)}, our record says {_mnt(ours.amount)}",
                    expected_amount=ours.amount,
                    actual_amount=line.amount,
                    **common,
                )
            )
        refunded_here = (
            line.payment_id in books.refunded_payment_ids
            or (ours is not None and ours.status == "REFUNDED")
            or (order is not None and order.status == Order.Status.REFUNDED)
        )
        if line.status == "REFUNDED" and not refunded_here:
            add(
                Finding(
                    f"refund-at-qpay:{line.payment_id}",
                    Kind.REFUND_NOT_REFLECTED,
                    day,
                    f"QPay shows payment {line.payment_id} ({_mnt(line.amount)}) as REFUNDED; our books do not",
                    actual_amount=line.amount,
                    **common,
                )
            )
        if (
            line.status == "PAID"
            and line.payment_id in books.refunded_payment_ids
            and line.payment_type.upper() == "CARD"
        ):
            add(
                Finding(
                    f"refund-not-at-qpay:{line.payment_id}",
                    Kind.REFUND_NOT_REFLECTED,
                    day,
                    f"card payment {line.payment_id} is refunded in our books but QPay still shows it PAID",
                    actual_amount=line.amount,
                    **common,
                )
            )
        if invoice.status == "PAID" and qpay.complete:
            at_qpay = paid_at_qpay_by_invoice[purchase_key(line)]
            due = Decimal(invoice.amount_mnt)
            if abs(at_qpay - due) > AMOUNT_TOLERANCE_MNT:
                add(
                    Finding(
                        f"amount-invoice:{invoice.pk}",
                        Kind.AMOUNT_DIFFERENCE,
                        day,
                        f"invoice {invoice.sender_invoice_no} is for {_mnt(due)} but QPay received {_mnt(at_qpay)}",
                        expected_amount=due,
                        actual_amount=at_qpay,
                        **common,
                    )
                )

    # Our side: payments we booked as paid that QPay does not list.
    if qpay.complete:
        at_qpay = {line.payment_id for line in qpay.lines}
        for payment in books.payments_in_period:
            if payment.status != "PAID" or payment.qpay_payment_id in at_qpay:
                continue
            if qpay_payment_exists(payment.qpay_payment_id) is not False:
                continue
            when = payment.paid_at or payment.first_seen_at
            add(
                Finding(
                    f"booked-not-at-qpay:{payment.qpay_payment_id}",
                    Kind.BOOKED_NOT_AT_QPAY,
                    local_day(when),
                    f"payment {payment.qpay_payment_id} ({_mnt(payment.amount)}) on invoice "
                    f"{payment.invoice.sender_invoice_no} is PAID here but not in QPay's list",
                    invoice_id=payment.invoice_id,
                    qpay_payment_id=payment.qpay_payment_id,
                    qpay_invoice_id=payment.invoice.qpay_invoice_id or "",
                    expected_amount=payment.amount,
                    currency="MNT",
                )
            )

    # Paid but no eSIM.
    for invoice in books.invoices_paid_in_period:
        day = local_day(invoice.paid_at)
        order = invoice.order if _has_order(invoice) else None
        common = {"invoice_id": invoice.pk, "qpay_invoice_id": invoice.qpay_invoice_id or ""}
        if order is None:
            if now - invoice.paid_at > PROVISIONING_GRACE:
                add(
                    Finding(
                        f"no-esim:{invoice.pk}",
                        Kind.PAID_NO_ESIM,
                        day,
                        f"invoice {invoice.sender_invoice_no} is paid but has no order",
                        **common,
                    )
                )
            continue
        common["order_id"] = order.pk
        stuck = (
            order.status in (Order.Status.PAID, Order.Status.PROVISIONING)
            and now - invoice.paid_at > PROVISIONING_GRACE
        )
        if order.status == Order.Status.NEEDS_ATTENTION or stuck:
            add(
                Finding(
                    f"no-esim:{invoice.pk}",
                    Kind.PAID_NO_ESIM,
                    day,
                    f"invoice {invoice.sender_invoice_no} is paid; its order is {order.status}"
                    + (f": {order.attention_reason[:200]}" if order.attention_reason else ""),
                    **common,
                )
            )

    # eSIM Go's side: every order that cost us money.
    for line in esimgo.lines:
        if line.failed or line.created_at is None or not (start <= line.created_at < end):
            continue
        day = local_day(line.created_at)
        what = (
            f"{', '.join(line.items) or '?'}, {line.total if line.total is not None else '?'} {line.currency}".strip()
        )
        order = books.orders_by_reference.get(line.reference)
        common = {"esimgo_order_reference": line.reference, "currency": line.currency[:3]}
        if order is None:
            attempt_order_id = books.attempt_orders_by_reference.get(line.reference)
            detail = f"eSIM Go order {line.reference} ({what}) matches no paid order here"
            if attempt_order_id:
                detail = f"eSIM Go order {line.reference} ({what}) came from a provisioning attempt of an order that uses another eSIM Go order (surplus purchase)"
            add(
                Finding(
                    f"esimgo-unmatched:{line.reference}",
                    Kind.ESIMGO_ORDER_UNMATCHED,
                    day,
                    detail,
                    order_id=attempt_order_id,
                    actual_amount=line.total,
                    **common,
                )
            )
            continue
        recorded = _decimal((order.esimgo_order or {}).get("total"))
        if recorded is not None and line.total is not None and recorded != line.total:
            add(
                Finding(
                    f"amount-esimgo:{line.reference}",
                    Kind.AMOUNT_DIFFERENCE,
                    day,
                    f"eSIM Go order {line.reference}: eSIM Go says {line.total} {line.currency}, "
                    f"we recorded {recorded}",
                    order_id=order.pk,
                    invoice_id=order.invoice_id,
                    expected_amount=recorded,
                    actual_amount=line.total,
                    **common,
                )
            )

    # Delivered here, but eSIM Go (complete list) has no such order.
    if esimgo.complete:
        at_esimgo = {line.reference for line in esimgo.lines}
        for order in books.orders_in_period:
            reference = order.esimgo_order_reference
            if reference and reference not in at_esimgo and esimgo_order_exists(reference) is False:
                add(
                    Finding(
                        f"no-esim-at-esimgo:{order.pk}",
                        Kind.PAID_NO_ESIM,
                        local_day(order.created_at),
                        f"order {order.public_id} records eSIM Go order {order.esimgo_order_reference}, "
                        f"which eSIM Go does not list",
                        order_id=order.pk,
                        invoice_id=order.invoice_id,
                        esimgo_order_reference=order.esimgo_order_reference,
                    )
                )

    return sorted(findings.values(), key=lambda f: (f.day, f.kind, f.fingerprint))


def _has_order(invoice) -> bool:
    try:
        return invoice.order is not None
    except ObjectDoesNotExist:
        return False
