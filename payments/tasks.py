"""Thin Celery wrappers around the payments services (payments.verification, .expiry, .schedules,
.ebarimt). Every task may run twice: the services re-check state under the invoice row lock, so a
re-run changes nothing.

Each task body imports the services it runs, at call time: the services import this module at
their top (to enqueue tasks after commit), so importing them here too would close an import cycle.
That is the one kind of function-level import the payments app keeps."""

import logging

from celery import shared_task

from esimshop.infrastructure import INFRASTRUCTURE_ERRORS
from integrations.qpay.client import QPayClient, QPayMalformedResponse, QPayRateLimited, QPayUnavailable
from payments import schedules

logger = logging.getLogger(__name__)

# Transport trouble only: a 4xx from QPay is not going to get better by retrying. Database and
# broker blips are transient too (the task re-reads everything under the row lock on its retry).
TRANSIENT = (QPayUnavailable, QPayRateLimited, QPayMalformedResponse, *INFRASTRUCTURE_ERRORS)
# QPay calls from tasks make ONE attempt each (task_qpay_client below): a worker slot is never
# held for a minute by in-client retries; the task's own retry (with backoff, the slot free
# meanwhile) asks again. A check task is at most connect + read timeout long.
RETRY = {
    "acks_late": True,
    "autoretry_for": TRANSIENT,
    "max_retries": 6,
    "retry_backoff": 15,
    "retry_backoff_max": 600,
    "retry_jitter": True,
    "soft_time_limit": 60,
    "time_limit": 90,
}
# Sweeps and scheduling: short, idempotent; a database blip is retried a little later.
SHORT = {
    "acks_late": True,
    "autoretry_for": INFRASTRUCTURE_ERRORS,
    "max_retries": 3,
    "retry_backoff": 5,
    "retry_backoff_max": 60,
    "retry_jitter": True,
    "soft_time_limit": 120,
    "time_limit": 150,
}


def task_qpay_client() -> QPayClient:
    """The QPay client tasks use: one attempt per call, no in-client retry loop holding the worker
    slot (each call is at most connect + read timeout); the task retries with backoff instead."""
    return QPayClient(max_retries=0)


@shared_task(name="payments.check_invoice_payment", **RETRY)
def check_invoice_payment_task(invoice_id: str, cause: str = "scheduled check", recheck_paid: bool = False) -> str:
    from payments.verification import verify_invoice_payment

    result = verify_invoice_payment(
        invoice_id,
        cause=cause,
        actor="task",
        raise_transient=True,
        recheck_paid=recheck_paid,
        client=task_qpay_client(),
    )
    schedules.check_done(invoice_id)
    return result.outcome


@shared_task(name="payments.schedule_payment_checks", **SHORT)
def schedule_payment_checks_task(invoice_id: str) -> int:
    from payments.expiry import schedule_payment_checks

    return schedule_payment_checks(invoice_id)


@shared_task(name="payments.expire_invoice", **RETRY)
def expire_invoice_task(invoice_id: str) -> str:
    from payments.expiry import expire_invoice

    return expire_invoice(invoice_id, actor="task", client=task_qpay_client())


@shared_task(name="payments.cancel_qpay_invoice", **RETRY)
def cancel_qpay_invoice_task(qpay_invoice_id: str) -> None:
    from payments.expiry import cancel_qpay_invoice

    cancel_qpay_invoice(qpay_invoice_id, client=task_qpay_client())


@shared_task(name="payments.sweep_pending_invoices", **SHORT)
def sweep_pending_invoices_task() -> dict:
    from payments.expiry import sweep_pending_invoices

    return sweep_pending_invoices()


# E-barimt receipts: a separate task so a slow or failing receipt never holds up the eSIM.
@shared_task(name="payments.issue_ebarimt", **RETRY)
def issue_ebarimt_task(invoice_id: str) -> str:
    from payments import ebarimt

    return ebarimt.issue(invoice_id, raise_transient=True).status


@shared_task(name="payments.sweep_ebarimt", **SHORT)
def sweep_ebarimt_task() -> dict:
    from payments import ebarimt

    return ebarimt.sweep() if ebarimt.enabled() else {}


# Periodic tasks are registered in one place: esimshop/beat.py.
