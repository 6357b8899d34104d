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

from esimshop.state_machine import IllegalTransition, apply_transition  # noqa: F401 (re-exported: payments.services.IllegalTransition)
from payments import schedules, status_cache
from payments.models import INVOICE_TRANSITIONS, Invoice

logger = logging.getLogger(__name__)

Status = Invoice.Status

# The invoice's table lives beside the model (payments.models); these names stay importable here.
TRANSITIONS = INVOICE_TRANSITIONS


# --- Helpers ----------------------------------------------------------------------------------


def _now():
    return timezone.now()


def _locked(invoice_id) -> Invoice:
    return Invoice.objects.select_for_update().get(pk=invoice_id)


def _transition(invoice: Invoice, name: str, *, cause: str, actor: str, **changes) -> Invoice:
    """Apply a named transition (INVOICE_TRANSITIONS) to a LOCKED invoice and record it."""
    to_status = TRANSITIONS.step(name).target
    # The database schedule moves with the status: closed invoices get their late checks, a paid
    # one needs no more scheduled checks.
    if to_status in (Status.EXPIRED, Status.CANCELLED):
        changes = {**schedules.on_close(_now()), **changes}
    elif to_status == Status.PAID:
        changes = {"next_check_at": None, **changes}
    record = apply_transition(invoice, name, by=actor, reason=cause, **changes)
    status_cache.invalidate(invoice.pk)  # the shopper's next poll sees the new state
    logger.info("invoice %s %s: %s -> %s (%s; %s)", invoice.pk, name, record.from_status, to_status, actor, cause)
    return invoice
