"""Read-only panels for the order and invoice admin pages: everything about one purchase.

Invoice, payments, raw QPay callbacks, invoice transitions, refunds, the e-barimt receipt, eSIM Go
usage callbacks and the staff audit trail — one query each, whatever the number of rows.
"""

from django.contrib.contenttypes.models import ContentType
from django.core.exceptions import ObjectDoesNotExist
from django.db.models import Q

from orders.models import ESIMGoCallback, Order
from payments.models import Invoice
from staff import refunds
from staff.models import StaffAction

MAX_ROWS = 50


def _receipt(invoice):
    try:
        return invoice.ebarimt
    except ObjectDoesNotExist:
        return None


def _order(invoice):
    try:
        return invoice.order
    except ObjectDoesNotExist:
        return None


def purchase_panels(invoice, order=None) -> dict:
    targets = Q(content_type=ContentType.objects.get_for_model(Invoice), object_id=str(invoice.pk))
    if order is not None:
        targets |= Q(content_type=ContentType.objects.get_for_model(Order), object_id=str(order.pk))
    iccid = (order.esim.iccid if order is not None and order.esim_id else "") or (order.topup_iccid if order else "")
    payments = list(invoice.payments.all())
    refund_rows = list(invoice.refunds.select_related("payment").all())
    money_in = int(sum(p.amount for p in payments if p.status in refunds.MONEY_IN))
    counted = sum(r.amount_mnt for r in refund_rows if r.status in r.COUNTED_STATUSES)
    return {
        "panel_invoice": invoice,
        "panel_order": order,
        "panel_payments": payments,
        "panel_callbacks": list(invoice.callbacks.all()[:MAX_ROWS]),
        "panel_invoice_transitions": list(invoice.transitions.all()),
        "panel_refunds": refund_rows,
        "panel_refundable": max(money_in - counted, 0),
        "panel_money_in": money_in,
        "panel_receipt": _receipt(invoice),
        "panel_usage_callbacks": list(ESIMGoCallback.objects.filter(iccid=iccid)[:20]) if iccid else [],
        "panel_staff_actions": list(StaffAction.objects.filter(targets).select_related("user")[:MAX_ROWS]),
    }


def invoice_panels(invoice) -> dict:
    return purchase_panels(invoice, _order(invoice))
