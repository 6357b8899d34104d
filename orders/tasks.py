"""Thin Celery wrappers around orders services. Every task may run twice: services make that harmless.

Each task body imports the services it runs (orders.services, .provisioning, .emails, ...), at
call time: the services import this module at their top (to enqueue tasks after commit), so
importing them here too would close an import cycle. That is the one kind of function-level
import the orders app keeps.
Periodic tasks are registered in one place: esimshop/beat.py. Provisioning is routed to its own
queue (esimshop/celery.py).
"""

import logging
import random

from celery import shared_task
from celery.exceptions import SoftTimeLimitExceeded

from esimshop import metrics
from esimshop.infrastructure import INFRASTRUCTURE_ERRORS
from esimshop.logs import bind as bind_log_context
from integrations.esimgo.client import ESIMGoError
from orders import conf
from orders.models import Order

logger = logging.getLogger(__name__)

# A database or broker blip is transient: the task runs again after a backoff (the services
# re-read everything under row locks, so a second run changes nothing that the first did).
INFRA_RETRY = {
    "autoretry_for": INFRASTRUCTURE_ERRORS,
    "retry_backoff": 5,
    "retry_backoff_max": 300,
    "retry_jitter": True,
}


def _backoff(retries: int) -> float:
    delay = min(conf.retry_backoff_max_seconds(), conf.retry_backoff_base_seconds() * (2**retries))
    return delay + random.uniform(0, delay * 0.2)


# Time limits: one purchase is connect + read timeout plus the shared limiter's wait, then the
# assignments; a soft limit while a purchase is in flight leaves the attempt REQUESTED, which the
# next run reconciles (never a blind second purchase).
@shared_task(
    name="orders.tasks.provision_order_task",
    bind=True,
    acks_late=True,
    reject_on_worker_lost=True,
    max_retries=None,
    ignore_result=True,
    soft_time_limit=150,
    time_limit=180,
)
def provision_order_task(self, order_id, actor="task"):
    from orders import provisioning, services

    ids = Order.objects.filter(pk=order_id).values_list("public_id", "invoice_id").first()
    if ids:
        bind_log_context(order_id=ids[0], invoice_id=ids[1])
    try:
        result = provisioning.provision_order(order_id, actor=actor)
    except (provisioning.TransientProvisioningError, SoftTimeLimitExceeded, *INFRASTRUCTURE_ERRORS) as exc:
        metrics.provisioning_attempt("transient_error")
        retries = self.request.retries
        if retries >= conf.provision_max_retries():
            services.give_up_provisioning(order_id, reason=f"retries exhausted: {exc}", actor=actor)
            return provisioning.NEEDS_ATTENTION
        if self.request.is_eager:
            # In-process mode runs retries immediately, which would burn them in a second;
            # the sweep comes back later instead.
            logger.warning("order %s: %s (will be retried by the sweep)", order_id, exc)
            return "retry_later"
        countdown = getattr(exc, "countdown", None)
        countdown = countdown if countdown is not None else _backoff(retries)
        logger.warning(
            "order %s: %s: %s; retry %d in %.0fs", order_id, exc.__class__.__name__, exc, retries + 1, countdown
        )
        raise self.retry(exc=exc, countdown=max(countdown, 1))
    metrics.provisioning_attempt(result.outcome)
    if result.outcome == provisioning.WAITING and not self.request.is_eager:
        # Another run may be mid-purchase, or an unknown purchase is being looked for: look again
        # then (not counted as a retry: the look-up window bounds it).
        provision_order_task.apply_async((order_id, actor), countdown=max(result.countdown or 0, 1) + 1)
    return result.outcome


@shared_task(
    name="orders.tasks.send_email_task",
    bind=True,
    acks_late=True,
    max_retries=None,
    ignore_result=True,
    soft_time_limit=60,
    time_limit=90,
)
def send_email_task(self, email_log_id):
    from orders import emails

    try:
        return emails.send_logged_email(email_log_id)
    except (emails.EmailSendError, *INFRASTRUCTURE_ERRORS) as exc:
        if self.request.retries >= conf.email_max_retries():
            emails.mark_email_failed(email_log_id)
            return False
        if self.request.is_eager:
            return False  # the sweep re-sends PENDING e-mails
        raise self.retry(exc=exc, countdown=_backoff(self.request.retries))


# A tag that found eSIM Go's budget busy comes back after this many seconds (and again, until idle).
TAG_DEFER_SECONDS = (15, 60)


@shared_task(
    name="orders.tasks.tag_esim_customer_ref_task",
    bind=True,
    acks_late=True,
    max_retries=5,
    ignore_result=True,
    soft_time_limit=60,
    time_limit=90,
    **INFRA_RETRY,
)
def tag_esim_customer_ref_task(self, order_id):
    """PUT /esims customerRef = our order id, so eSIM Go's records point back at us (best effort).

    Only in idle budget (orders/esimgo_budget.py): during a rush it steps aside for paid orders."""
    from orders import esimgo_budget, services

    if not self.request.is_eager and esimgo_budget.budget_is_busy():
        tag_esim_customer_ref_task.apply_async((order_id,), countdown=random.uniform(*TAG_DEFER_SECONDS))
        return
    try:
        services.tag_esim_customer_ref(order_id)
    except ESIMGoError as exc:
        if exc.transient and not self.request.is_eager:
            raise self.retry(exc=exc, countdown=_backoff(self.request.retries))
        logger.warning("order %s: could not set eSIM Go customerRef: %s", order_id, exc)


@shared_task(
    name="orders.tasks.send_magic_link_task",
    bind=True,
    acks_late=True,
    max_retries=3,
    ignore_result=True,
    soft_time_limit=60,
    time_limit=90,
    **INFRA_RETRY,
)
def send_magic_link_task(self, token_id, language=None):
    from orders import emails, magic_links

    try:
        magic_links.send_magic_link(token_id, language)
    except emails.EmailSendError as exc:
        if not self.request.is_eager:
            raise self.retry(exc=exc, countdown=_backoff(self.request.retries))


@shared_task(
    name="orders.tasks.process_esimgo_callback_task",
    bind=True,
    acks_late=True,
    max_retries=5,
    ignore_result=True,
    soft_time_limit=60,
    time_limit=90,
    **INFRA_RETRY,
)
def process_esimgo_callback_task(self, callback_id):
    from orders import callbacks

    callbacks.process_callback(callback_id)


@shared_task(
    name="orders.tasks.sweep_undelivered_orders_task",
    acks_late=True,
    ignore_result=True,
    max_retries=3,
    soft_time_limit=120,
    time_limit=150,
    **INFRA_RETRY,
)
def sweep_undelivered_orders_task():
    from orders import services

    requeued, escalated = services.sweep_undelivered_orders()
    if requeued or escalated:
        logger.info("orders sweep: re-enqueued %s, escalated %s", requeued, escalated)


@shared_task(
    name="orders.match_unattributed_esimgo_orders",
    acks_late=True,
    ignore_result=True,
    max_retries=3,
    soft_time_limit=240,
    time_limit=300,
    **INFRA_RETRY,
)
def match_unattributed_esimgo_orders_task():
    """Hourly: eSIM Go orders nobody claimed, adopted for an open purchase or reported to staff."""
    from orders import reconcile_unknown

    try:
        return reconcile_unknown.match_unattributed_orders()
    except ESIMGoError as exc:
        logger.warning("unattributed eSIM Go orders not checked: %s (next run in an hour)", exc)
        return None
