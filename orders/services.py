"""Order writes: creating the order when an invoice is paid, e-mail claims, staff actions, the sweep.

Provisioning itself lives in orders.provisioning; e-mail content in orders.emails.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.core.cache import cache
from django.db import transaction
from django.utils import timezone

from esimshop.logs import bind as bind_log_context
from esimshop.state_machine import try_transition_each
from integrations.esimgo.client import ESIMGoClient
from orders import conf, emails, signals, tasks
from orders.models import EmailLog, ESim, Order, OrderTransition, ProvisioningAttempt

if TYPE_CHECKING:
    from celery import Task
    from django.contrib.auth.base_user import AbstractBaseUser

    from payments.models import Invoice

logger = logging.getLogger(__name__)


def _on_commit_delay(task: Task, *args: Any) -> None:
    # robust: a broker hiccup must not break the request that committed the payment;
    # the sweep re-enqueues anything whose task was never published.
    transaction.on_commit(lambda: task.delay(*args), robust=True)


def handle_invoice_paid(invoice: Invoice, actor: str) -> Order:
    """Create the invoice's order (once) and schedule provisioning and the "payment received" e-mail.

    Payments calls this inside the transaction that locked the invoice and marked it PAID, so a
    concurrent second call waits on that lock; the OneToOne on Order.invoice makes any other path
    collide in the database. Returns the order (new or existing).
    """
    with transaction.atomic():
        order, created = Order.objects.get_or_create(
            invoice=invoice,
            defaults={
                "bundle_id": invoice.bundle_id,
                "customer_id": invoice.customer_id,
                "kind": Order.Kind.TOPUP if invoice.topup_iccid else Order.Kind.NEW,
                "topup_iccid": invoice.topup_iccid or "",
                "language": getattr(invoice, "language", "") or "mn",
            },
        )
        bind_log_context(invoice_id=invoice.pk, order_id=order.public_id)
        if not created:
            logger.info("invoice %s already has order %s; nothing to do", invoice.pk, order.public_id)
            return order
        OrderTransition.objects.create(
            order=order,
            name="create_paid",
            from_status="",
            to_status=order.status,
            cause=f"invoice {invoice.pk} paid",
            actor=str(actor)[:150],
        )
        queue_email(order, EmailLog.Kind.PAYMENT_RECEIVED)
    _on_commit_delay(tasks.provision_order_task, order.pk, "task")
    logger.info("order %s created for invoice %s (actor=%s)", order.public_id, invoice.pk, actor)
    return order


def queue_email(
    order: Order, kind: EmailLog.Kind, *, event_key: str = "", to: str | None = None
) -> tuple[EmailLog, bool]:
    """Claim the (order, kind, event_key) e-mail and send it after commit. Returns (log, created).

    The unique constraint makes a second claim return the existing row, so the same event never
    produces a second e-mail, however many workers get here.
    """
    if to is None:
        to = order.customer.email if kind != EmailLog.Kind.STAFF_ALERT else ", ".join(_staff_addresses())
    with transaction.atomic():
        log, created = EmailLog.objects.get_or_create(
            order=order,
            kind=kind,
            event_key=event_key[:128],
            defaults={"to": to or "", "status": EmailLog.Status.PENDING if to else EmailLog.Status.SKIPPED},
        )
    if created and log.status == EmailLog.Status.PENDING:
        _on_commit_delay(tasks.send_email_task, log.pk)
    if kind in SHOPPER_EVENTS:
        signals.announce(order, SHOPPER_EVENTS[kind], event_key)
    return log, created


# The e-mails whose event other channels (the Telegram bot) announce too.
SHOPPER_EVENTS = {
    EmailLog.Kind.ESIM_READY: signals.ESIM_READY,
    EmailLog.Kind.USAGE_80: signals.USAGE_80,
    EmailLog.Kind.USAGE_100: signals.USAGE_100,
}


def _staff_addresses() -> list[str]:
    return [address for address in settings.STAFF_ALERT_EMAILS if address]


def flag_for_attention(order: Order, *, reason: str, actor: str) -> None:
    """PAID/PROVISIONING → NEEDS_ATTENTION (caller holds the order lock), tell the shopper and staff."""
    order.attention_reason = reason[:2000]
    order.apply_transition("flag_for_attention", actor=actor, cause=reason)
    queue_email(order, EmailLog.Kind.PROVISIONING_DELAYED)
    # Staff hear of it from the watchdog (ops/watchdog.py, every minute, deduplicated): one alert
    # for however many orders enter NEEDS_ATTENTION together, not one e-mail per order.
    logger.warning("order %s needs attention: %s", order.public_id, reason)


def give_up_provisioning(order_id: int, *, reason: str, actor: str) -> bool:
    """Retries exhausted or too old: move a still-undelivered order to NEEDS_ATTENTION."""
    with transaction.atomic():
        order = Order.objects.select_for_update().get(pk=order_id)
        if order.status not in (Order.Status.PAID, Order.Status.PROVISIONING) or order.esim_id:
            return False
        flag_for_attention(order, reason=reason, actor=actor)
    return True


# --- staff actions (admin) -------------------------------------------------------------------


def staff_retry_provisioning(order_id: int, *, user: AbstractBaseUser) -> Order:
    """NEEDS_ATTENTION → PROVISIONING and run provisioning again (it reconciles unknown attempts first)."""
    actor = f"staff:{user.get_username()}"
    with transaction.atomic():
        order = Order.objects.select_for_update().get(pk=order_id)
        order.apply_transition(
            "staff_retry_provisioning", actor=actor, cause="staff retried provisioning", actor_user=user
        )
        order.attention_reason = ""
        order.save(update_fields=["attention_reason", "updated_at"])
    _on_commit_delay(tasks.provision_order_task, order.pk, actor)
    return order


def staff_buy_again(order_id: int, *, user: AbstractBaseUser) -> tuple[Order, int]:
    """Staff decision after an unknown purchase outcome: close the open attempt as "no order" and
    buy a new eSIM. Risk: if eSIM Go committed the first purchase late, there are two paid eSIM Go
    orders for this invoice (the hourly check then reports the surplus one)."""
    actor = f"staff:{user.get_username()}"
    with transaction.atomic():
        order = Order.objects.select_for_update().get(pk=order_id)
        open_attempts = order.attempts.filter(
            outcome__in=[ProvisioningAttempt.Outcome.REQUESTED, ProvisioningAttempt.Outcome.UNKNOWN]
        )
        closed = try_transition_each(
            open_attempts,
            "reconciled_absent",
            by=actor,
            user=user,
            finished_at=timezone.now(),
            error=f"closed by {actor}: buy again (accepted risk of a second eSIM Go order)",
        )
        order.apply_transition(
            "staff_retry_provisioning",
            actor=actor,
            actor_user=user,
            cause=f"staff chose to buy again ({closed} open attempt(s) closed)",
        )
        order.attention_reason = ""
        order.save(update_fields=["attention_reason", "updated_at"])
    _on_commit_delay(tasks.provision_order_task, order.pk, actor)
    return order, closed


def staff_mark_refunded(order_id: int, *, user: AbstractBaseUser, note: str = "") -> Order:
    """NEEDS_ATTENTION → REFUNDED. The money goes back through QPay/bank outside this service."""
    actor = f"staff:{user.get_username()}"
    with transaction.atomic():
        order = Order.objects.select_for_update().get(pk=order_id)
        order.apply_transition("staff_refund", actor=actor, cause=note or "refunded by staff", actor_user=user)
        signals.announce(order, signals.REFUNDED)
    return order


def mark_refunded(order_id: int, *, user: AbstractBaseUser | None = None, cause: str = "") -> Order:
    """A full refund went through (staff.refunds): DELIVERED or NEEDS_ATTENTION → REFUNDED.

    Called inside the refund's transaction. Already REFUNDED → nothing to do (returns the order).
    """
    actor = f"staff:{user.get_username()}" if user is not None else "system"
    with transaction.atomic():
        order = Order.objects.select_for_update().get(pk=order_id)
        if order.status == Order.Status.REFUNDED:
            return order
        name = "refund_delivered" if order.status == Order.Status.DELIVERED else "staff_refund"
        order.apply_transition(
            name, actor=actor, cause=cause or "refunded", actor_user=user if getattr(user, "pk", None) else None
        )
        signals.announce(order, signals.REFUNDED)
    return order


def staff_deliver(
    order_id: int,
    *,
    user: AbstractBaseUser,
    iccid: str,
    matching_id: str,
    smdp_address: str,
    esimgo_order_reference: str | None = None,
    note: str = "",
) -> Order:
    """NEEDS_ATTENTION → DELIVERED with an eSIM staff obtained by hand (e.g. from the eSIM Go portal)."""
    actor = f"staff:{user.get_username()}"
    with transaction.atomic():
        order = Order.objects.select_for_update().get(pk=order_id)
        esim, _ = ESim.objects.get_or_create(
            iccid=str(iccid).strip(),
            defaults={
                "matching_id": matching_id.strip(),
                "smdp_address": smdp_address.strip(),
                "customer": order.customer,
            },
        )
        order.esim = esim
        if esimgo_order_reference:
            order.esimgo_order_reference = esimgo_order_reference
        order.apply_transition("staff_deliver", actor=actor, cause=note or "delivered by staff", actor_user=user)
        queue_email(order, EmailLog.Kind.ESIM_READY)
    return order


# --- sweep -------------------------------------------------------------------------------------


def sweep_undelivered_orders(now: datetime | None = None) -> tuple[list[int], list[int]]:
    """Re-enqueue paid orders still undelivered after a few minutes; escalate the very old ones.

    Closes the gaps `on_commit` leaves (worker lost, broker down at commit time, retries dropped).
    Provisioning is idempotent, so enqueueing an order that is already being worked on is harmless.
    Returns (re-enqueued ids, escalated ids).
    """
    # At most one sweep enqueue per order (and e-mail) per window: when the workers are behind,
    # every order looks stuck, and re-enqueueing all of them on each run only lengthens the queue
    # they are stuck in (the chaos run grew it past 10,000 tasks). A lost task is sent again next window.
    window = max(int(conf.sweep_after_seconds()), 1)
    now = now or timezone.now()
    stale = Order.objects.filter(
        status__in=[Order.Status.PAID, Order.Status.PROVISIONING],
        created_at__lt=now - timedelta(seconds=conf.sweep_after_seconds()),
    ).values_list("id", "created_at")
    requeued, escalated = [], []
    attention_cutoff = now - timedelta(seconds=conf.attention_after_seconds())
    # An order whose purchase outcome is unknown is still being looked for at eSIM Go: its own
    # provisioning run flags it, with the evidence, when the look-up window ends.
    looking_since = now - timedelta(
        seconds=conf.reconcile_after_seconds() + conf.unknown_outcome_window_seconds() + conf.sweep_after_seconds()
    )
    still_looking = set(
        ProvisioningAttempt.objects.filter(
            outcome__in=[ProvisioningAttempt.Outcome.REQUESTED, ProvisioningAttempt.Outcome.UNKNOWN],
            started_at__gte=looking_since,
            order__status__in=[Order.Status.PAID, Order.Status.PROVISIONING],
        ).values_list("order_id", flat=True)
    )
    for order_id, created_at in stale:
        if created_at < attention_cutoff and order_id not in still_looking:
            if give_up_provisioning(order_id, reason="still not delivered after the time limit", actor="sweep"):
                escalated.append(order_id)
            continue
        if cache.add(f"orders:sweep:provision:{order_id}", 1, window):
            tasks.provision_order_task.delay(order_id, "sweep")
            requeued.append(order_id)
    # E-mails whose send task was never published (or lost) are re-sent; the claim keeps them once.
    emails.reopen_stuck_emails(now - timedelta(minutes=10))
    for log_id in EmailLog.objects.filter(
        status=EmailLog.Status.PENDING, created_at__lt=now - timedelta(minutes=2)
    ).values_list("id", flat=True)[:200]:
        if cache.add(f"orders:sweep:email:{log_id}", 1, window):
            tasks.send_email_task.delay(log_id)
    return requeued, escalated


def tag_esim_customer_ref(order_id: int, *, client: ESIMGoClient | None = None) -> bool:
    """Set eSIM Go's customerRef of a newly delivered eSIM to our order's public id (once)."""
    order = Order.objects.select_related("esim").get(pk=order_id)
    if order.esim is None or order.kind != Order.Kind.NEW or order.esim.customer_ref_set_at:
        return False
    (client or ESIMGoClient()).set_customer_ref(order.esim.iccid, str(order.public_id))
    ESim.objects.filter(pk=order.esim.pk, customer_ref_set_at__isnull=True).update(customer_ref_set_at=timezone.now())
    return True
