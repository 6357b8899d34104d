"""Expiry, cancellation and the payment checks scheduled between purchase and expiry.

At expiry an invoice gets one last payment check, is cancelled at QPay, then goes PENDING →
EXPIRED; a cancel (superseded, abandoned, QPay unreachable) goes PENDING → CANCELLED here and at
QPay after commit. The checks in between run as Celery ETA tasks planned at purchase time and,
whatever happens to those messages, as the periodic sweep below, which drives the schedule kept
in the database (payments/schedules.py).
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from django.core.cache import cache
from django.db import transaction
from django.utils import timezone

from esimshop.celery import app as celery_app
from esimshop.infrastructure import CACHE_ERRORS
from integrations.qpay.client import QPayClient, QPayError, QPayNotFound
from payments import tasks
from payments.models import Invoice, RemainderInvoice
from payments.schedules import CREATING_STALE_AFTER, lease_seconds, payment_check_plan
from payments.services import Status, _locked, _now, _transition
from payments.verification import DUPLICATE, PAID, InvoiceId, verify_invoice_payment

logger = logging.getLogger(__name__)

EXPIRY_SLACK = timedelta(seconds=30)


def expire_invoice(invoice_id: InvoiceId, *, actor: str = "task", client: QPayClient | None = None) -> str:
    """At expiry: one last check, cancel at QPay, then PENDING → EXPIRED.

    Transient QPay errors propagate (the task retries): we never expire an invoice we could
    not cancel or check, and a payment that lands after the cancel is flagged by verification.
    """
    invoice = Invoice.objects.get(pk=invoice_id)
    if invoice.status != Status.PENDING:
        return invoice.status
    if invoice.expires_at > _now() + EXPIRY_SLACK:
        return "NOT_DUE"
    cancelled_at_qpay: datetime | None = None
    if invoice.qpay_invoice_id:
        result = verify_invoice_payment(
            invoice.pk, cause="final check at expiry", actor=actor, raise_transient=True, client=client
        )
        if result.outcome in (PAID, DUPLICATE):
            return result.invoice.status
        try:
            cancel_qpay_invoice(invoice.qpay_invoice_id, client=client)
        except QPayError as exc:
            if exc.transient:
                raise
            if exc.code == "INVOICE_PAID":
                # Paid between our check and the cancel: verify again; the payment wins.
                result = verify_invoice_payment(
                    invoice.pk,
                    cause="QPay refused cancel: INVOICE_PAID",
                    actor=actor,
                    raise_transient=True,
                    client=client,
                )
                if result.outcome in (PAID, DUPLICATE):
                    return result.invoice.status
            logger.error("QPay refused to cancel invoice %s: %s; expiring locally", invoice.pk, exc)
        else:
            cancelled_at_qpay = _now()
        _cancel_remainders_at_qpay(invoice)
    with transaction.atomic():
        locked = _locked(invoice.pk)
        if locked.status != Status.PENDING:
            return locked.status
        cause = "expired; cancelled at QPay" if cancelled_at_qpay else "expired"
        _transition(locked, "expire", cause=cause, actor=actor, qpay_cancelled_at=cancelled_at_qpay)
    return Status.EXPIRED


def _cancel_remainders_at_qpay(invoice: Invoice) -> None:
    """At expiry the remainder invoices go too (a payment after this is flagged, as for the first)."""
    remainders = invoice.remainders.exclude(qpay_invoice_id=None).filter(qpay_cancelled_at=None)
    for remainder_id, qpay_invoice_id in remainders.values_list("pk", "qpay_invoice_id"):
        if not qpay_invoice_id:
            continue  # excluded by the query already; an empty id names nothing at QPay either
        try:
            cancel_qpay_invoice(qpay_invoice_id)
        except QPayError as exc:
            if exc.transient:
                raise
            logger.error("QPay refused to cancel remainder invoice %s: %s", qpay_invoice_id, exc)
            continue
        RemainderInvoice.objects.filter(pk=remainder_id).update(qpay_cancelled_at=_now())


def cancel_qpay_invoice(qpay_invoice_id: str, *, client: QPayClient | None = None) -> None:
    """DELETE at QPay; already cancelled / not found count as done. Transient errors propagate."""
    try:
        (client or QPayClient()).cancel_invoice(qpay_invoice_id)
    except QPayNotFound:
        return
    except QPayError as exc:
        if exc.code in ("INVOICE_ALREADY_CANCELED", "INVOICE_ALREADY_CANCELLED"):
            return
        raise


def cancel_invoice(invoice_id: InvoiceId, *, cause: str, actor: str) -> Invoice:
    """PENDING → CANCELLED here, then at QPay after commit. A payment after this is flagged."""
    with transaction.atomic():
        invoice = _locked(invoice_id)
        if invoice.status != Status.PENDING:
            return invoice
        _transition(invoice, "cancel", cause=cause, actor=actor)
        if invoice.qpay_invoice_id:
            cancel_qpay_invoice_on_commit(invoice.qpay_invoice_id)
    return invoice


def cancel_qpay_invoice_on_commit(qpay_invoice_id: str) -> None:
    # robust: a broker outage must not turn a committed cancel into an error; the invoice is
    # CANCELLED here and a payment at QPay after it is found by its late checks.
    transaction.on_commit(lambda: tasks.cancel_qpay_invoice_task.delay(qpay_invoice_id), robust=True)


def schedule_expiry_at(invoice_id: InvoiceId, eta: datetime) -> None:
    """An extra expiry task for an invoice whose expiry moved later (a remainder invoice)."""
    if _eager():
        return  # no broker: the payment page's lazy expiry covers it
    transaction.on_commit(lambda: tasks.expire_invoice_task.apply_async(args=[str(invoice_id)], eta=eta))


# --- Scheduled checks ----------------------------------------------------------------------


def schedule_payment_checks_on_commit(invoice_id: InvoiceId) -> None:
    """After commit, ONE task that enqueues the schedule below from the worker: the purchase
    request pays for one broker message, not five (each is a Redis round trip plus Celery's
    message building). The ETAs are absolute (from created_at/expires_at), so the checks run
    when they always did; a re-run of the task only adds duplicate checks, which are no-ops."""
    if _eager():
        return  # schedule_payment_checks would schedule nothing without a broker
    # robust: with the broker down the purchase still answers; the invoice's next_check_at and
    # expires_at (written with the row) drive the sweep, the ETA tasks only speed it up.
    transaction.on_commit(lambda: tasks.schedule_payment_checks_task.delay(str(invoice_id)), robust=True)


def schedule_payment_checks(invoice_id: InvoiceId) -> int:
    """Enqueue the bounded retry schedule (ETA tasks). Returns how many were enqueued.

    Without a broker (eager dev mode) an ETA task would run immediately, so nothing is
    scheduled: the payment page's status poll and lazy expiry cover that mode.
    """
    if _eager():
        return 0
    invoice = Invoice.objects.get(pk=invoice_id)
    count = 0
    for eta, kind in payment_check_plan(invoice.created_at, invoice.expires_at):
        if kind == "check":
            tasks.check_invoice_payment_task.apply_async(
                args=[str(invoice.pk)], kwargs={"cause": "scheduled check"}, eta=eta
            )
        else:
            tasks.expire_invoice_task.apply_async(args=[str(invoice.pk)], eta=eta)
        count += 1
    return count


def _eager() -> bool:
    """No broker (dev, most tests): tasks run inline, so an ETA task would run now."""
    return bool(celery_app.conf.task_always_eager)


def enqueue_check(invoice_id: InvoiceId, *, cause: str, countdown: int = 0, recheck_paid: bool = False) -> None:
    """A payment check as a task; without a broker (dev) inline and once, or not at all when
    it was meant for later (an eager ETA task would run now)."""
    if not _eager():
        transaction.on_commit(
            lambda: tasks.check_invoice_payment_task.apply_async(
                args=[str(invoice_id)],
                kwargs={"cause": cause, "recheck_paid": recheck_paid},
                countdown=countdown,
            ),
            robust=True,
        )  # broker down: the database schedule's sweep checks it instead
        return
    if countdown:
        return
    try:
        verify_invoice_payment(invoice_id, cause=cause, actor="task", recheck_paid=recheck_paid)
    except QPayError as exc:  # verify only raises with raise_transient; belt and braces
        logger.warning("inline check of invoice %s failed: %s", invoice_id, exc)


def enqueue_expiry(invoice_id: InvoiceId) -> None:
    """Expire an overdue invoice now (as a task; inline without a broker)."""
    if not _eager():
        transaction.on_commit(
            lambda: tasks.expire_invoice_task.delay(str(invoice_id)), robust=True
        )  # the sweep expires it too
        return
    try:
        expire_invoice(invoice_id, actor="task")
    except QPayError as exc:
        logger.warning("inline expiry of invoice %s failed: %s", invoice_id, exc)


# --- The sweep ------------------------------------------------------------------------------


def _once_per(key: str, seconds: int) -> bool:
    """Cache-backed de-duplication that fails open: with the cache down, enqueue anyway (a
    duplicate expiry or check is a no-op; a missed one is a shopper waiting)."""
    try:
        return bool(cache.add(key, 1, seconds))
    except CACHE_ERRORS:
        return True


def sweep_pending_invoices(now: datetime | None = None) -> dict[str, int]:
    """Periodic: expire what is overdue, retire abandoned rows, enqueue every check that is due."""
    now = now or timezone.now()
    counts = {"expired": 0, "checked": 0, "abandoned": 0}
    pending = Invoice.objects.filter(status=Status.PENDING)
    for invoice_id in pending.filter(expires_at__lte=now).values_list("pk", flat=True)[:500]:
        if _once_per(f"payments:sweep:expire:{invoice_id}", int(lease_seconds())):
            tasks.expire_invoice_task.delay(str(invoice_id))
            counts["expired"] += 1
    stale = pending.filter(qpay_invoice_id__isnull=True, created_at__lt=now - CREATING_STALE_AFTER)
    for invoice_id in stale.values_list("pk", flat=True)[:500]:
        cancel_invoice(invoice_id, cause="abandoned while being created", actor="sweep")
        counts["abandoned"] += 1
    due = Invoice.objects.filter(
        next_check_at__lte=now,
        qpay_invoice_id__isnull=False,
        status__in=[Status.PENDING, Status.EXPIRED, Status.CANCELLED],
    ).exclude(status=Status.PENDING, expires_at__lte=now)  # overdue ones get the expiry's final check
    lease_until = now + timedelta(seconds=lease_seconds())
    for invoice_id, status in due.order_by("next_check_at").values_list("pk", "status")[:500]:
        # Take the lease first (a conditional UPDATE: a concurrent sweep takes it only once).
        if not Invoice.objects.filter(pk=invoice_id, next_check_at__lte=now).update(next_check_at=lease_until):
            continue
        cause = "scheduled check (sweep)" if status == Status.PENDING else f"late check after {status.lower()}"
        tasks.check_invoice_payment_task.delay(str(invoice_id), cause=cause)
        counts["checked"] += 1
    if any(counts.values()):
        logger.info("payments sweep: %s", counts)
    return counts
