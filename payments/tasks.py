"""Thin Celery wrappers around payments.services. Every task may run twice: the services
re-check state under the invoice row lock, so a re-run changes nothing."""
import logging

from celery import shared_task

from esimshop.celery import app
from integrations.qpay.client import QPayMalformedResponse, QPayRateLimited, QPayUnavailable

logger = logging.getLogger(__name__)

# Transport trouble only: a 4xx from QPay is not going to get better by retrying.
TRANSIENT = (QPayUnavailable, QPayRateLimited, QPayMalformedResponse)
RETRY = {
    "acks_late": True,
    "autoretry_for": TRANSIENT,
    "max_retries": 4,
    "retry_backoff": 30,
    "retry_backoff_max": 600,
    "retry_jitter": True,
}


@shared_task(name="payments.check_invoice_payment", **RETRY)
def check_invoice_payment_task(invoice_id: str, cause: str = "scheduled check", recheck_paid: bool = False) -> str:
    from payments.services import verify_invoice_payment

    result = verify_invoice_payment(
        invoice_id, cause=cause, actor="task", raise_transient=True, recheck_paid=recheck_paid
    )
    return result.outcome


@shared_task(name="payments.schedule_payment_checks", acks_late=True)
def schedule_payment_checks_task(invoice_id: str) -> int:
    from payments.services import schedule_payment_checks

    return schedule_payment_checks(invoice_id)


@shared_task(name="payments.expire_invoice", **RETRY)
def expire_invoice_task(invoice_id: str) -> str:
    from payments.services import expire_invoice

    return expire_invoice(invoice_id, actor="task")


@shared_task(name="payments.cancel_qpay_invoice", **RETRY)
def cancel_qpay_invoice_task(qpay_invoice_id: str) -> None:
    from payments.services import cancel_qpay_invoice

    cancel_qpay_invoice(qpay_invoice_id)


@shared_task(name="payments.sweep_pending_invoices", acks_late=True)
def sweep_pending_invoices_task() -> dict:
    from payments.services import sweep_pending_invoices

    return sweep_pending_invoices()


# E-barimt receipts: a separate task so a slow or failing receipt never holds up the eSIM.
@shared_task(name="payments.issue_ebarimt", **RETRY)
def issue_ebarimt_task(invoice_id: str) -> str:
    from payments import ebarimt

    return ebarimt.issue(invoice_id, raise_transient=True).status


@shared_task(name="payments.sweep_ebarimt", acks_late=True)
def sweep_ebarimt_task() -> dict:
    from payments import ebarimt

    return ebarimt.sweep() if ebarimt.enabled() else {}


@app.on_after_finalize.connect
def _register_periodic_tasks(sender, **kwargs):
    # Safety net behind the per-invoice ETA schedule (which a broker restart can lose).
    sender.add_periodic_task(300.0, sweep_pending_invoices_task.s(), name="payments: sweep pending invoices")
    sender.add_periodic_task(1800.0, sweep_ebarimt_task.s(), name="payments: retry e-barimt receipts")


if app.finalized:  # imported after finalize (e.g. by a test module): the signal has already fired
    _register_periodic_tasks(app)
