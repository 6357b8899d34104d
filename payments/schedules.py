"""Payment-check schedules kept in the database: the plan, and the bookkeeping of each check.

Every PENDING invoice carries its next payment check (`Invoice.next_check_at`) and its expiry
(`Invoice.expires_at`); recently EXPIRED or CANCELLED invoices get a few late checks (default
+1 h and +6 h after closing) so money that arrives after the shop gave up is seen the same day,
not by the nightly reconciliation. The periodic sweep (payments.expiry.sweep_pending_invoices,
every PAYMENTS_SWEEP_INTERVAL_SECONDS, registered in esimshop/beat.py) enqueues whatever is due.
Celery ETA tasks (scheduled at purchase time) may run a check sooner; they are never the only
copy, so a broker restart or a lost message delays detection by at most one sweep period.

This module imports no other payments module but the models: the invoice state machine
(payments.services) uses it when an invoice closes, so it must not reach back up.

A check the sweep enqueued takes a lease (next_check_at moves a little into the future): if its
message is lost, the check is due again when the lease runs out. When a check task finishes it
moves next_check_at to the next point of the plan.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

from django.conf import settings
from django.db.models import Q
from django.utils import timezone

from payments.models import Invoice

Status = Invoice.Status

# Checks after creation (seconds), then one just before expiry: never a tight loop (QPay asks
# merchants not to poll; these are the few checks that stand in for a lost callback).
CHECK_OFFSETS_SECONDS = (60, 180, 600, 1800)  # PAYMENTS_CHECK_OFFSETS_SECONDS overrides (the outage suite)
PRE_EXPIRY_CHECK_SECONDS = 60
CREATING_STALE_AFTER = timedelta(seconds=90)


def sweep_interval_seconds() -> float:
    return float(settings.PAYMENTS_SWEEP_INTERVAL_SECONDS)


def late_check_offsets_seconds() -> tuple[float, ...]:
    """After expiry/cancel: checks this long after closing (default +1 h, +6 h)."""
    return tuple(float(s) for s in settings.PAYMENTS_LATE_CHECK_OFFSETS_SECONDS)


def check_offsets_seconds() -> tuple[float, ...]:
    return tuple(float(s) for s in settings.PAYMENTS_CHECK_OFFSETS_SECONDS)


def lease_seconds() -> float:
    """How long a check the sweep enqueued may take before the sweep enqueues it again (its
    message lost, or QPay failing): two sweep periods, and at least as long as a check task may
    run (its hard time limit, 90 s). PAYMENTS_CHECK_LEASE_SECONDS overrides."""
    configured = settings.PAYMENTS_CHECK_LEASE_SECONDS
    if configured is not None:
        return float(configured)
    return max(2 * sweep_interval_seconds(), 90.0)


def payment_check_plan(created_at: datetime, expires_at: datetime) -> list[tuple[datetime, str]]:
    """[(eta, "check"|"expire")]: 1, 3, 10, 30 min after creation (while before expiry),
    one check just before expiry, and the expiry itself."""
    pre_expiry = expires_at - timedelta(seconds=PRE_EXPIRY_CHECK_SECONDS)
    plan = [(created_at + timedelta(seconds=s), "check") for s in check_offsets_seconds()]
    plan = [(eta, kind) for eta, kind in plan if eta < pre_expiry - timedelta(seconds=30)]
    plan.append((pre_expiry, "check"))
    plan.append((expires_at, "expire"))
    return plan


def first_check_at(created_at: datetime, expires_at: datetime) -> datetime:
    return payment_check_plan(created_at, expires_at)[0][0]


def next_check_after(invoice: Invoice, now: datetime) -> datetime | None:
    """The invoice's next planned check strictly after `now`, or None when none is left."""
    if invoice.status == Status.PENDING:
        checks = [eta for eta, kind in payment_check_plan(invoice.created_at, invoice.expires_at) if kind == "check"]
    elif invoice.status in (Status.EXPIRED, Status.CANCELLED) and invoice.closed_at and invoice.qpay_invoice_id:
        checks = [invoice.closed_at + timedelta(seconds=s) for s in late_check_offsets_seconds()]
    else:
        return None
    upcoming = [eta for eta in checks if eta > now]
    return min(upcoming) if upcoming else None


def on_close(now: datetime) -> dict:
    """Fields an expire/cancel transition writes: when it closed, and its first late check."""
    offsets = late_check_offsets_seconds()
    return {"closed_at": now, "next_check_at": now + timedelta(seconds=min(offsets)) if offsets else None}


def check_soon(invoice_id: uuid.UUID | str, seconds: float) -> None:
    """Bring the invoice's next check forward (a callback could not be verified): in the
    database, so the sweep does it even if the retry task's message is lost."""
    soon = timezone.now() + timedelta(seconds=seconds)
    Invoice.objects.filter(pk=invoice_id, status=Status.PENDING).filter(
        Q(next_check_at__isnull=True) | Q(next_check_at__gt=soon)
    ).update(next_check_at=soon)


def check_done(invoice_id: uuid.UUID | str) -> None:
    """A check task finished: plan the next check (or none)."""
    invoice = (
        Invoice.objects.filter(pk=invoice_id)
        .only("status", "created_at", "expires_at", "closed_at", "qpay_invoice_id")
        .first()
    )
    if invoice is None:
        return
    Invoice.objects.filter(pk=invoice_id).update(next_check_at=next_check_after(invoice, timezone.now()))
