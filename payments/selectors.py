"""Payment reads."""
from django.core.exceptions import ObjectDoesNotExist
from django.urls import NoReverseMatch
from django.utils.crypto import constant_time_compare

from payments.models import Invoice

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
        "paidAmount": int(invoice.paid_amount) if invoice.paid_amount is not None else 0,
        "expectedAmount": invoice.amount_mnt,
        "expiresAt": invoice.expires_at.isoformat(),
        "paidAt": invoice.paid_at.isoformat() if invoice.paid_at else None,
        "esimUrl": esim_url,
    }
