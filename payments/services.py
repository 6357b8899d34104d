"""The invoice state machine: its transition table and the one helper that applies a transition.

Invoice states and the ONLY ways between them (each recorded as an InvoiceTransition):

    open                 ""                  → PENDING    purchase started (payments.purchase)
    mark_paid            PENDING             → PAID       QPay's payment/check shows PAID rows covering the amount
    accept_late_payment  EXPIRED, CANCELLED  → PAID       staff accepts money that arrived after cancel/expiry
    expire               PENDING             → EXPIRED    expiry reached; cancelled at QPay first (payments.expiry)
    cancel               PENDING             → CANCELLED  QPay unreachable at creation, superseded, or staff
    flag_for_staff       (status unchanged)               money arrived where it should not have

Concurrency: every transition happens inside transaction.atomic() on a row fetched with
select_for_update(), so of N concurrent verifications exactly one sees PENDING and wins.
QPay is never called while a row lock is held (the lock would be held for a network
round trip, and on SQLite the sandbox QPay would wait on our write lock).

The payment writes around it: payments.purchase (purchase, idempotency, caps),
payments.verification (payment/check, recording payments, the paid hand-off),
payments.expiry (expiry, cancellation, scheduled checks and their sweep) and
payments.inbox (QPay's callback).
"""

from __future__ import annotations

import logging

from django.utils import timezone

from payments import schedules, status_cache
from payments.models import Invoice, InvoiceTransition

logger = logging.getLogger(__name__)

Status = Invoice.Status

TRANSITIONS = {
    "mark_paid": ((Status.PENDING,), Status.PAID),
    "accept_late_payment": ((Status.EXPIRED, Status.CANCELLED), Status.PAID),
    "expire": ((Status.PENDING,), Status.EXPIRED),
    "cancel": ((Status.PENDING,), Status.CANCELLED),
}


class IllegalTransition(Exception):
    pass


# --- Helpers ----------------------------------------------------------------------------------


def _now():
    return timezone.now()


def _locked(invoice_id) -> Invoice:
    return Invoice.objects.select_for_update().get(pk=invoice_id)


def _transition(invoice: Invoice, name: str, *, cause: str, actor: str, **changes) -> Invoice:
    """Apply a named transition to a LOCKED invoice and record it."""
    allowed_from, to_status = TRANSITIONS[name]
    if invoice.status not in allowed_from:
        raise IllegalTransition(f"{name}: invoice {invoice.pk} is {invoice.status}")
    from_status = invoice.status
    invoice.status = to_status
    # The database schedule moves with the status: closed invoices get their late checks, a paid
    # one needs no more scheduled checks.
    if to_status in (Status.EXPIRED, Status.CANCELLED):
        changes = {**schedules.on_close(_now()), **changes}
    elif to_status == Status.PAID:
        changes = {"next_check_at": None, **changes}
    for attr, value in changes.items():
        setattr(invoice, attr, value)
    invoice.save(update_fields=["status", "updated_at", *changes])
    InvoiceTransition.objects.create(
        invoice=invoice, from_status=from_status, to_status=to_status, name=name, cause=cause[:255], actor=actor[:150]
    )
    status_cache.invalidate(invoice.pk)  # the shopper's next poll sees the new state
    logger.info("invoice %s %s: %s -> %s (%s; %s)", invoice.pk, name, from_status, to_status, actor, cause)
    return invoice
