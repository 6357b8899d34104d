"""Payment reads."""

from decimal import Decimal

from django.core.exceptions import ObjectDoesNotExist
from django.urls import NoReverseMatch
from django.utils.crypto import constant_time_compare

from payments.models import Invoice
from payments.status_cache import StatusSnapshot, token_digest

# Paid within 1 MNT of the invoice counts as paid (as payments.verification.AMOUNT_TOLERANCE_MNT).
AMOUNT_TOLERANCE_MNT = Decimal("1")
# Order statuses (owned by orders) that the public status reports on.
ORDER_DELIVERED = "DELIVERED"
ORDER_NEEDS_ATTENTION = "NEEDS_ATTENTION"


def get_invoice(invoice_id) -> Invoice | None:
    return Invoice.objects.select_related("bundle", "customer").filter(pk=invoice_id).first()


def get_invoice_by_capability(invoice_id, token: str) -> Invoice | None:
    """The invoice, only for the holder of its access token."""
    invoice = get_invoice(invoice_id)
    if invoice is None or not token or not constant_time_compare(invoice.access_token, token):
        return None
    return invoice


def get_invoice_by_access_token(token: str) -> Invoice | None:
    if not token or len(token) > 64:
        return None
    return Invoice.objects.select_related("bundle", "customer").filter(access_token=token).first()


def order_for(invoice: Invoice):
    """The invoice's order (orders app), or None before it exists / before orders is wired."""
    try:
        return invoice.order
    except (ObjectDoesNotExist, AttributeError):
        return None


def public_status(invoice: Invoice) -> dict:
    """What the shopper's page (and the status API) sees. Reads our database only.

    PENDING, PAID, PROCESSED (eSIM delivered), EXPIRED, CANCELLED, FAILED (paid, but the eSIM
    needs staff: still paid, staff will act).
    """
    status = invoice.status
    esim_url = None
    paid = int(invoice.paid_amount) if invoice.paid_amount is not None else 0
    if status == Invoice.Status.PAID:
        order = order_for(invoice)
        order_status = getattr(order, "status", None)
        if order_status == ORDER_DELIVERED:
            status = "PROCESSED"
            try:
                esim_url = order.get_absolute_url()
            except (AttributeError, NoReverseMatch):
                esim_url = None
        elif order_status == ORDER_NEEDS_ATTENTION:
            status = "FAILED"
    return {
        "internalInvoiceId": str(invoice.pk),
        "status": status,
        "paidAmount": paid,
        "expectedAmount": invoice.amount_mnt,
        "expiresAt": invoice.expires_at.isoformat(),
        "paidAt": invoice.paid_at.isoformat() if invoice.paid_at else None,
        "esimUrl": esim_url,
        # Added for the payment page (issue 13); the fields above are the seed contract.
        "paymentState": payment_state(invoice),
        "remainingAmount": max(0, invoice.amount_mnt - paid)
        if invoice.status == Invoice.Status.PENDING and paid
        else 0,
        "extraAmount": max(0, paid - invoice.amount_mnt),
    }


def payment_state(invoice: Invoice) -> str:
    """NONE (nothing arrived), SHORT (part of the amount), FULL, OVERPAID (more than once or
    too much: the extra is refunded), LATE (money arrived after the request expired or was
    cancelled: staff decide between the eSIM and a refund)."""
    paid = invoice.paid_amount or Decimal("0")
    due = Decimal(invoice.amount_mnt)
    if paid <= 0:
        return "NONE"
    if invoice.status in (Invoice.Status.EXPIRED, Invoice.Status.CANCELLED):
        return "LATE"
    if paid < due - AMOUNT_TOLERANCE_MNT:
        return "SHORT"
    if paid > due + AMOUNT_TOLERANCE_MNT:
        return "OVERPAID"
    return "FULL"


def status_snapshot(invoice: Invoice) -> StatusSnapshot:
    """The public status plus what decides whether to ask QPay (kept in payments.status_cache)."""
    return StatusSnapshot(
        pk=invoice.pk,
        public=public_status(invoice),
        is_payable=invoice.is_payable,
        expires_at=invoice.expires_at,
        created_at=invoice.created_at,
        check_count=invoice.check_count,
        token_digest=token_digest(invoice.access_token),
    )
