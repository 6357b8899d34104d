"""Short payments: what arrived, what is missing, and a QPay invoice for only the rest.

A shopper who paid 6,400₮ of 12,800₮ must not be shown the first QR again (it asks for the
full 12,800₮, so "paying in full" would take 19,200₮). They get a second QPay invoice for the
remainder; verification (payments.verification.verify_invoice_payment) checks every QPay invoice of
the purchase and sums their PAID rows, so the purchase is paid once the total is complete.
Or they ask for their money back: the purchase is cancelled and staff return what arrived.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import timedelta
from decimal import ROUND_CEILING, Decimal

from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from integrations.qpay.client import QPayClient, QPayError
from payments import expiry, inbox, purchase, verification
from payments.models import Invoice, RemainderInvoice
from payments.verification import InvoiceId

logger = logging.getLogger(__name__)

# The remainder invoice is worth creating only with time left to pay it: extend the purchase's
# expiry to at least this far ahead (the money already paid is waiting on it).
REMAINDER_MIN_TIME_TO_PAY = timedelta(minutes=10)


class RemainderNotPossible(purchase.PurchaseError):
    http_status = 409


@dataclass(frozen=True)
class MoneyState:
    """What the shopper has paid against what was asked, in whole tugrik."""

    expected: int
    paid: int

    @property
    def missing(self) -> int:
        return max(0, self.expected - self.paid)

    @property
    def extra(self) -> int:
        return max(0, self.paid - self.expected)

    @property
    def is_short(self) -> bool:
        return 0 < self.paid and self.missing > verification.AMOUNT_TOLERANCE_MNT

    @property
    def is_over(self) -> bool:
        return self.extra > verification.AMOUNT_TOLERANCE_MNT


def money_state(invoice: Invoice) -> MoneyState:
    paid = invoice.paid_amount or Decimal("0")
    # Round a paid fraction down: never claim more arrived than did.
    return MoneyState(expected=invoice.amount_mnt, paid=int(paid))


def amount_due(invoice: Invoice) -> int:
    paid = invoice.paid_amount or Decimal("0")
    return int((Decimal(invoice.amount_mnt) - paid).to_integral_value(rounding=ROUND_CEILING))


def open_remainder(invoice: Invoice) -> RemainderInvoice | None:
    """The payable remainder invoice for what is due now, if the shopper asked for one."""
    if invoice.status != Invoice.Status.PENDING:
        return None
    due = amount_due(invoice)
    return invoice.remainders.filter(amount_mnt=due, qpay_invoice_id__isnull=False, qpay_cancelled_at=None).first()


def request_remainder(invoice_id: InvoiceId, *, actor: str = "shopper") -> RemainderInvoice:
    """Create (or return) the QPay invoice for what a short payment left unpaid."""
    invoice = Invoice.objects.get(pk=invoice_id)
    due = amount_due(invoice)
    if invoice.status != Invoice.Status.PENDING or not invoice.paid_amount or due <= verification.AMOUNT_TOLERANCE_MNT:
        raise RemainderNotPossible(_("Nothing is left to pay on this purchase."))
    if invoice.expires_at <= timezone.now():
        raise RemainderNotPossible(_("This payment request has expired."))
    remainder = invoice.remainders.filter(amount_mnt=due).first()
    if remainder is None:
        try:
            with transaction.atomic():
                remainder = RemainderInvoice.objects.create(
                    invoice=invoice,
                    amount_mnt=due,
                    sender_invoice_no=f"{invoice.sender_invoice_no[:36]}R{due}",
                )
        except IntegrityError:  # a double-click: the other request creates it
            remainder = invoice.remainders.get(amount_mnt=due)
    if remainder.qpay_invoice_id:
        return remainder
    _extend_expiry(invoice)
    try:
        created = QPayClient().create_invoice(
            sender_invoice_no=remainder.sender_invoice_no,
            amount=due,
            description=purchase.qpay_description(invoice),
            callback_url=inbox.callback_url(invoice),
            lines=[
                {
                    "sender_product_code": invoice.bundle.name[:45],
                    "line_description": purchase.qpay_description(invoice),
                    "line_quantity": 1,
                    "line_unit_price": due,
                }
            ],
        )
    except QPayError as exc:
        logger.error("QPay remainder invoice for %s failed: %s", invoice.pk, exc)
        remainder.delete()  # nothing was created at QPay: the next click tries again
        raise purchase.ProviderUnavailable(
            _("The payment service is not reachable right now. Please try again in a minute.")
        ) from exc
    updated = RemainderInvoice.objects.filter(pk=remainder.pk, qpay_invoice_id=None).update(
        qpay_invoice_id=created.invoice_id,
        qr_text=created.qr_text,
        qr_image=created.qr_image,
        short_url=created.short_url[:255],
        bank_urls=created.urls,
    )
    if not updated:  # a concurrent click stored its QPay invoice first: retire ours
        expiry.cancel_qpay_invoice_on_commit(created.invoice_id)
    remainder.refresh_from_db()
    logger.info("invoice %s: remainder invoice %s for %s MNT (%s)", invoice.pk, remainder.qpay_invoice_id, due, actor)
    return remainder


def _extend_expiry(invoice: Invoice) -> None:
    latest = timezone.now() + REMAINDER_MIN_TIME_TO_PAY
    if invoice.expires_at >= latest:
        return
    Invoice.objects.filter(pk=invoice.pk, status=Invoice.Status.PENDING).update(expires_at=latest)
    invoice.expires_at = latest
    expiry.schedule_expiry_at(invoice.pk, latest)


def ask_for_refund(invoice_id: InvoiceId, *, actor: str = "shopper") -> Invoice:
    """The shopper gives up on a short-paid purchase: cancel it; staff return what arrived."""
    invoice = expiry.cancel_invoice(invoice_id, cause="shopper asked for the short payment back", actor=actor)
    open_at_qpay = invoice.remainders.exclude(qpay_invoice_id=None).filter(qpay_cancelled_at=None)
    for qpay_invoice_id in open_at_qpay.values_list("qpay_invoice_id", flat=True):
        if qpay_invoice_id:
            expiry.cancel_qpay_invoice_on_commit(qpay_invoice_id)
    with transaction.atomic():
        locked = Invoice.objects.select_for_update().get(pk=invoice.pk)
        if locked.paid_amount:
            verification.flag_for_staff(
                locked,
                f"refund requested by the shopper: short payment {locked.paid_amount} MNT of {locked.amount_mnt} MNT",
                actor=actor,
            )
    return locked
