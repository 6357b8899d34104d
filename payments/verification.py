"""Payment verification: ask QPay, record the payments it lists, mark the invoice PAID, hand it on.

The one path every hint of a payment takes (QPay's callback, the scheduled checks, the status
poll, staff): verify_invoice_payment asks QPay's payment/check with OUR stored QPay invoice ids,
counts only PAID rows, and marks the invoice PAID under its row lock when they cover the amount.
The paid invoice is announced through payments.signals (orders delivers it) in that transaction.
Money where it should not be (short, late, paid twice) is flagged for staff, never dropped.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal

from django.conf import settings
from django.core.mail import send_mail
from django.db import transaction
from django.urls import reverse
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from esimshop import metrics
from esimshop.logs import bind as bind_log_context
from integrations.qpay.client import PaymentCheck, PaymentRow, QPayClient, QPayError
from payments import ebarimt, signals, status_cache
from payments.models import Invoice, InvoiceTransition, Payment
from payments.services import IllegalTransition, Status, _locked, _now, _transition

logger = logging.getLogger(__name__)

# Paid within 1 MNT of the invoice counts as paid (QPay echoes "10.00"-style decimals).
AMOUNT_TOLERANCE_MNT = Decimal("1")
# An invoice's primary key as callers hold it: the UUID, or its text from a task's arguments or a URL.
InvoiceId = uuid.UUID | str


# --- Outcomes -------------------------------------------------------------------------------

PAID = "PAID"
DUPLICATE = "DUPLICATE"
NOT_PAID = "NOT_PAID"
AMOUNT_MISMATCH = "AMOUNT_MISMATCH"
VERIFY_FAILED = "VERIFY_FAILED"
LATE_PAYMENT = "LATE_PAYMENT"


@dataclass(frozen=True)
class Verification:
    outcome: str
    invoice: Invoice
    detail: str = ""


# --- Verification ---------------------------------------------------------------------------


def verify_invoice_payment(
    invoice_id: InvoiceId,
    *,
    cause: str,
    actor: str,
    raise_transient: bool = False,
    recheck_paid: bool = False,
    client: QPayClient | None = None,
) -> Verification:
    """The one verification path (callback, retry task, status poll, staff).

    Order of work (seed 004): idempotency first → ask QPay payment/check with OUR stored QPay
    invoice id → count only PAID rows → amount must cover the invoice within 1 MNT → mark
    PAID under the invoice row lock (one winner) and hand over to orders in that transaction.
    `recheck_paid` asks QPay even for a PAID invoice (to notice a second payment).
    """
    bind_log_context(invoice_id=invoice_id)
    result = _verify(
        invoice_id, cause=cause, actor=actor, raise_transient=raise_transient, recheck_paid=recheck_paid, client=client
    )
    metrics.payment_checked(result.outcome)
    return result


def _verify(
    invoice_id: InvoiceId,
    *,
    cause: str,
    actor: str,
    raise_transient: bool,
    recheck_paid: bool,
    client: QPayClient | None,
) -> Verification:
    invoice = Invoice.objects.get(pk=invoice_id)
    if invoice.status == Status.PAID and not recheck_paid:
        return Verification(DUPLICATE, invoice, "already paid")
    if not invoice.qpay_invoice_id:
        return Verification(NOT_PAID, invoice, "no QPay invoice")
    try:
        client = client or QPayClient()
        checks = [client.check_payment(qpay_id) for qpay_id in _qpay_ids(invoice)]
        check = (
            checks[0]
            if len(checks) == 1
            else PaymentCheck(
                count=sum(c.count for c in checks), paid_amount=None, rows=[r for c in checks for r in c.rows]
            )
        )
    except QPayError as exc:
        logger.warning("QPay payment/check for invoice %s failed: %s", invoice.pk, exc)
        if raise_transient and exc.transient:
            raise
        return Verification(VERIFY_FAILED, invoice, str(exc)[:255])
    return _apply_check(invoice.pk, check, cause=cause, actor=actor)


@transaction.atomic
def _apply_check(invoice_id: InvoiceId, check: PaymentCheck, *, cause: str, actor: str) -> Verification:
    invoice = _locked(invoice_id)
    _record_payments(invoice, check.rows)
    # The check's bookkeeping is written with whatever else this outcome writes: one UPDATE of the
    # locked row per outcome, not one per field group.
    checked: dict[str, object] = {"last_checked_at": _now(), "check_count": invoice.check_count + 1}
    paid = sum((r.amount for r in check.paid_rows if r.currency.upper() in ("MNT", "")), Decimal("0"))
    due = Decimal(invoice.amount_mnt)
    if invoice.status == Status.PAID:
        # A second payment raises what the shopper sees as paid (never lowered: a refund is
        # recorded as a Refund, not by forgetting money that arrived).
        if paid > (invoice.paid_amount or 0):
            checked["paid_amount"] = paid
        _save(invoice, **checked)
        if paid > due + AMOUNT_TOLERANCE_MNT:
            flag_for_staff(invoice, _overpayment_reason(check, paid, due), actor=actor)
        return Verification(DUPLICATE, invoice, "already paid")
    if paid <= 0:
        _save(invoice, **checked)
        return Verification(NOT_PAID, invoice, f"{check.count} payment rows, none PAID")
    if paid < due - AMOUNT_TOLERANCE_MNT:
        _save(invoice, **checked, paid_amount=paid)
        flag_for_staff(invoice, f"short payment: {paid} MNT of {due} MNT", actor=actor)
        return Verification(AMOUNT_MISMATCH, invoice, f"paid {paid} of {due}")
    if invoice.status != Status.PENDING:
        _save(invoice, **checked, paid_amount=paid)
        flag_for_staff(invoice, f"payment of {paid} MNT arrived after the invoice was {invoice.status}", actor=actor)
        return Verification(LATE_PAYMENT, invoice, f"paid {paid} on a {invoice.status} invoice")
    _transition(invoice, "mark_paid", cause=cause, actor=actor, **checked, paid_amount=paid, paid_at=_now())
    _clear_short_payment_flag(invoice, paid, actor=actor)
    if paid > due + AMOUNT_TOLERANCE_MNT:
        flag_for_staff(invoice, _overpayment_reason(check, paid, due), actor=actor)
    signals.announce_invoice_paid(invoice, actor=actor)
    _schedule_ebarimt(invoice)
    return Verification(PAID, invoice, f"paid {paid}")


def _clear_short_payment_flag(invoice: Invoice, paid: Decimal, *, actor: str) -> None:
    """The remainder arrived: the short payment staff were told about is complete now."""
    if not (invoice.needs_staff_attention and invoice.staff_attention_reason.startswith("short payment")):
        return
    reason = f"total complete: {paid} MNT of {invoice.amount_mnt} MNT"
    _save(invoice, needs_staff_attention=False, staff_attention_reason="")
    InvoiceTransition.objects.create(
        invoice=invoice,
        from_status=invoice.status,
        to_status=invoice.status,
        name="clear_staff_flag",
        cause=reason,
        actor=actor[:150],
    )
    logger.info("invoice %s: staff flag cleared (%s)", invoice.pk, reason)


def _save(invoice: Invoice, **changes: object) -> None:
    for attr, value in changes.items():
        setattr(invoice, attr, value)
    invoice.save(update_fields=[*changes, "updated_at"])
    # A write outside _transition (paid amount, remainder state) changes what a poll shows too.
    status_cache.invalidate(invoice.pk)


def _overpayment_reason(check: PaymentCheck, paid: Decimal, due: Decimal) -> str:
    """One wording per fact, whichever check sees it first: flag_for_staff alerts once per reason,
    so a double payment seen at mark_paid and again by a later check is one alert, not two."""
    kind = "paid more than once" if len(check.paid_rows) > 1 else "overpaid"
    return f"{kind}: {paid} MNT for a {due} MNT invoice"


def _record_payments(invoice: Invoice, rows: Iterable[PaymentRow]) -> None:
    ours = set(_qpay_ids(invoice))
    for row in rows:
        if row.object_id and row.object_id not in ours:
            logger.warning(
                "QPay row %s belongs to %s, not %s; ignored", row.payment_id, row.object_id, invoice.qpay_invoice_id
            )
            continue
        paid_at = parse_datetime(row.payment_date) if row.payment_date else None
        if paid_at is not None and timezone.is_naive(paid_at):
            paid_at = timezone.make_aware(paid_at)
        payment, created = Payment.objects.get_or_create(
            qpay_payment_id=row.payment_id,
            defaults={
                "invoice": invoice,
                "status": row.status[:16],
                "amount": row.amount,
                "currency": row.currency[:3],
                "payment_type": row.payment_type[:16],
                "paid_at": paid_at,
                "raw": row.raw,
            },
        )
        if created:
            continue
        if payment.invoice_id != invoice.pk:
            logger.error("QPay payment %s already recorded on invoice %s", row.payment_id, payment.invoice_id)
            continue
        if payment.status != row.status[:16] or payment.amount != row.amount:
            payment.status, payment.amount, payment.raw = row.status[:16], row.amount, row.raw
            payment.save(update_fields=["status", "amount", "raw", "updated_at"])


def accept_late_payment(invoice_id: InvoiceId, *, actor: str) -> Invoice:
    """Staff decision: money that arrived after cancel/expiry buys the eSIM after all."""
    with transaction.atomic():
        invoice = _locked(invoice_id)
        paid = invoice.paid_amount or Decimal("0")
        if paid < Decimal(invoice.amount_mnt) - AMOUNT_TOLERANCE_MNT:
            raise IllegalTransition(f"invoice {invoice.pk}: paid {paid} does not cover {invoice.amount_mnt}")
        _transition(invoice, "accept_late_payment", cause="late payment accepted by staff", actor=actor, paid_at=_now())
        signals.announce_invoice_paid(invoice, actor=actor)
        _schedule_ebarimt(invoice)
    return invoice


def _schedule_ebarimt(invoice: Invoice) -> None:
    """The VAT receipt, when EBARIMT_ENABLED: its own task after commit, never in the eSIM's way."""
    ebarimt.schedule_receipt(invoice)


def _qpay_ids(invoice: Invoice) -> list[str]:
    """The purchase's QPay invoices: the first, then any remainder invoices (payments.remainder)."""
    remainders = invoice.remainders.exclude(qpay_invoice_id=None).values_list("qpay_invoice_id", flat=True)
    return [qpay_id for qpay_id in (invoice.qpay_invoice_id, *remainders) if qpay_id]


# --- Staff alerts ---------------------------------------------------------------------------


def flag_for_staff(invoice: Invoice, reason: str, *, actor: str) -> None:
    """Mark a LOCKED invoice for staff and e-mail them (once per distinct reason)."""
    if invoice.needs_staff_attention and invoice.staff_attention_reason == reason[:255]:
        return
    invoice.needs_staff_attention = True
    invoice.staff_attention_reason = reason[:255]
    invoice.save(update_fields=["needs_staff_attention", "staff_attention_reason", "updated_at"])
    InvoiceTransition.objects.create(
        invoice=invoice,
        from_status=invoice.status,
        to_status=invoice.status,
        name="flag_for_staff",
        cause=reason[:255],
        actor=actor[:150],
    )
    logger.warning("invoice %s flagged for staff: %s", invoice.pk, reason)
    subject = f"[esimshop] payment needs attention: {invoice.sender_invoice_no}"
    body = (
        f"{reason}\n\nInvoice {invoice.pk} ({invoice.sender_invoice_no}), QPay invoice {invoice.qpay_invoice_id}\n"
        f"Status {invoice.status}, amount {invoice.amount_mnt} MNT, paid {invoice.paid_amount}\n"
        f"Admin: {settings.SITE_URL}{reverse('admin:payments_invoice_change', args=[invoice.pk])}\n"
    )
    transaction.on_commit(lambda: _send_staff_alert(subject, body))


def _send_staff_alert(subject: str, body: str) -> None:
    recipients = list(settings.STAFF_ALERT_EMAILS or [])
    if not recipients:
        logger.error("no STAFF_ALERT_EMAILS configured; alert not sent: %s", subject)
        return
    try:
        send_mail(subject, body, settings.DEFAULT_FROM_EMAIL, recipients)
    except Exception:  # noqa: BLE001 - an alert must never break payment processing
        logger.exception("staff alert e-mail failed: %s", subject)
