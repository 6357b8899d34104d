"""Reconciliation, stage 2: our books for the period (invoices, payments, orders, provisioning
attempts, refunds), loaded in a few queries around what the providers listed."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from django.db.models import Q

from orders.models import Order, ProvisioningAttempt
from payments.models import Invoice, Payment, Refund, RemainderInvoice
from staff.reconciliation.listings import Listing
from staff.reconciliation.periods import MATCH_MARGIN, local_day


@dataclass
class Books:
    """Our side, loaded in a few queries."""

    invoices_by_qpay_id: dict
    invoices_paid_in_period: list
    payments_by_id: dict
    payments_in_period: list
    orders_by_reference: dict
    orders_in_period: list
    attempt_orders_by_reference: dict
    refunded_payment_ids: set
    refunds: list  # [(day, amount_mnt)]


def _refund_records(start, end, payment_ids):
    """Refunds recorded in our books: (set of QPay payment ids refunded, [(day, amount)])."""
    done = Refund.objects.filter(status=Refund.Status.SUCCEEDED)
    refunded_ids = set(
        done.filter(payment__qpay_payment_id__in=payment_ids).values_list("payment__qpay_payment_id", flat=True)
    )
    in_period = done.filter(completed_at__gte=start, completed_at__lt=end).values_list("completed_at", "amount_mnt")
    return refunded_ids, [(local_day(when), Decimal(amount)) for when, amount in in_period]


def load_books(start: datetime, end: datetime, qpay: Listing, esimgo: Listing) -> Books:
    wide_start, wide_end = start - MATCH_MARGIN, end + MATCH_MARGIN
    qpay_invoice_ids = {line.object_id for line in qpay.lines if line.object_id}
    qpay_payment_ids = {line.payment_id for line in qpay.lines}
    references = {line.reference for line in esimgo.lines}

    # A short payment's remainder is a second QPay invoice of the same purchase (payments.remainder).
    remainder_of = dict(
        RemainderInvoice.objects.filter(qpay_invoice_id__in=qpay_invoice_ids).values_list(
            "qpay_invoice_id", "invoice_id"
        )
    )
    invoices = list(
        Invoice.objects.filter(
            Q(qpay_invoice_id__in=qpay_invoice_ids)
            | Q(pk__in=set(remainder_of.values()))
            | Q(paid_at__gte=wide_start, paid_at__lt=wide_end)
        ).select_related("order")
    )
    by_pk = {invoice.pk: invoice for invoice in invoices}
    invoice_ids = [invoice.pk for invoice in invoices]
    payments = list(
        Payment.objects.filter(
            Q(qpay_payment_id__in=qpay_payment_ids)
            | Q(invoice_id__in=invoice_ids)
            | Q(paid_at__gte=start, paid_at__lt=end)
            | Q(paid_at__isnull=True, first_seen_at__gte=start, first_seen_at__lt=end)
        ).select_related("invoice")
    )
    orders = list(
        Order.objects.filter(
            Q(esimgo_order_reference__in=references)
            | Q(invoice_id__in=invoice_ids)
            | Q(created_at__gte=start, created_at__lt=end)
        ).select_related("invoice")
    )
    attempts = ProvisioningAttempt.objects.filter(esimgo_order_reference__in=references).values_list(
        "esimgo_order_reference", "order_id"
    )
    refunded_ids, refunds = _refund_records(start, end, qpay_payment_ids | {p.qpay_payment_id for p in payments})

    def in_period(moment):
        return moment is not None and start <= moment < end

    return Books(
        invoices_by_qpay_id={
            **{i.qpay_invoice_id: i for i in invoices if i.qpay_invoice_id},
            **{qpay_id: by_pk[pk] for qpay_id, pk in remainder_of.items() if pk in by_pk},
        },
        invoices_paid_in_period=[i for i in invoices if i.status == Invoice.Status.PAID and in_period(i.paid_at)],
        payments_by_id={p.qpay_payment_id: p for p in payments},
        payments_in_period=[p for p in payments if in_period(p.paid_at or p.first_seen_at)],
        orders_by_reference={o.esimgo_order_reference: o for o in orders if o.esimgo_order_reference},
        orders_in_period=[o for o in orders if in_period(o.created_at)],
        attempt_orders_by_reference=dict(attempts),
        refunded_payment_ids=refunded_ids,
        refunds=refunds,
    )
