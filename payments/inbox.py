"""QPay's callback: its per-invoice URL and token, the raw inbox row first (kept whatever
happens), then verification.

The callback view (payments/views.py) stores, asks its rate limit, then processes; see its
docstring for why in that order (issue 10: no callback lost when Redis or QPay is down).
"""

from __future__ import annotations

import logging

from django.conf import settings
from django.urls import reverse
from django.utils.crypto import constant_time_compare, salted_hmac

from esimshop import metrics
from esimshop.logs import bind as bind_log_context
from integrations.qpay.client import QPayClient
from payments import schedules
from payments.expiry import enqueue_check
from payments.models import Invoice, Payment, QPayCallback
from payments.services import _now
from payments.verification import DUPLICATE, VERIFY_FAILED, InvoiceId, verify_invoice_payment

logger = logging.getLogger(__name__)

CALLBACK_TOKEN_SALT = "payments.qpay.callback"  # a stored secret's salt: never renamed with the module


def callback_token(invoice_id: InvoiceId) -> str:
    """Unguessable per-invoice token: HMAC of the invoice id under a SECRET_KEY-derived key."""
    return salted_hmac(CALLBACK_TOKEN_SALT, str(invoice_id), algorithm="sha256").hexdigest()


def is_valid_callback_token(invoice_id: InvoiceId, token: str | None) -> bool:
    if not token:
        return False
    return constant_time_compare(callback_token(invoice_id), token)


def callback_url(invoice: Invoice) -> str:
    path = reverse("payments:qpay-callback", args=[invoice.pk])
    return f"{settings.QPAY_CALLBACK_PUBLIC_BASE_URL}{path}?token={callback_token(invoice.pk)}"


def receive_qpay_callback(
    invoice_id: InvoiceId,
    *,
    method: str,
    query_string: str,
    body: str,
    qpay_payment_id: str,
    remote_addr: str | None,
    user_agent: str,
) -> QPayCallback:
    """Store the raw callback, then verify it with QPay (the callback view does the two steps
    itself, with its rate limit in between)."""
    callback = store_qpay_callback(
        invoice_id,
        method=method,
        query_string=query_string,
        body=body,
        qpay_payment_id=qpay_payment_id,
        remote_addr=remote_addr,
        user_agent=user_agent,
    )
    return process_qpay_callback(callback)


def store_qpay_callback(
    invoice_id: InvoiceId,
    *,
    method: str,
    query_string: str,
    body: str,
    qpay_payment_id: str,
    remote_addr: str | None,
    user_agent: str,
) -> QPayCallback:
    """The raw inbox row: written before anything else (rate limit, cache, broker, QPay), kept
    whatever happens next. A database error propagates: the view answers 503 and QPay may send
    the callback again; the scheduled checks find the payment either way."""
    bind_log_context(invoice_id=invoice_id)
    # PostgreSQL text cannot hold NUL (a query parameter or body can): the callback must still be kept.
    qpay_payment_id, body, user_agent = (v.replace("\x00", "\ufffd") for v in (qpay_payment_id, body, user_agent))
    return QPayCallback.objects.create(
        invoice_id=invoice_id,
        method=method[:8],
        query_string=query_string,
        body=body[:10000],
        qpay_payment_id=qpay_payment_id[:64],
        remote_addr=remote_addr or None,
        user_agent=user_agent[:255],
    )


def mark_callback_rate_limited(callback: QPayCallback) -> None:
    callback.outcome = QPayCallback.Outcome.RATE_LIMITED
    callback.detail = "over the per-invoice callback limit; not verified (the scheduled checks still run)"
    callback.processed_at = _now()
    callback.save(update_fields=["outcome", "detail", "processed_at"])


def process_qpay_callback(callback: QPayCallback) -> QPayCallback:
    """Verify a stored callback with QPay. The callback is only a hint: QPay does not sign it.
    The outcome is recorded on the row."""
    invoice_id, qpay_payment_id = callback.invoice_id, callback.qpay_payment_id
    try:
        # No in-request retries: a slow QPay must not hold QPay's own callback open; a failure is
        # VERIFY_FAILED and the retry task asks again a minute later.
        client = QPayClient(max_retries=0, read_timeout=min(10.0, settings.QPAY_READ_TIMEOUT))
        result = verify_invoice_payment(
            invoice_id, cause=f"QPay callback #{callback.pk}", actor="callback", client=client
        )
        outcome, detail = result.outcome, result.detail
    except Exception as exc:  # noqa: BLE001 - a provider request must never get a 500
        logger.exception("processing QPay callback %s failed", callback.pk)
        outcome, detail = VERIFY_FAILED, f"internal error: {exc.__class__.__name__}"
    metrics.callback_received(outcome)
    callback.outcome = outcome
    callback.detail = detail[:1000]
    callback.processed_at = _now()
    callback.save(update_fields=["outcome", "detail", "processed_at"])
    if outcome == VERIFY_FAILED:
        schedules.check_soon(invoice_id, 60)
        enqueue_check(invoice_id, cause=f"retry after callback #{callback.pk} could not verify", countdown=60)
    elif (
        outcome == DUPLICATE
        and qpay_payment_id
        and not Payment.objects.filter(qpay_payment_id=qpay_payment_id).exists()
    ):
        # A payment we have not seen on an invoice already paid: maybe paid twice. Look, later.
        enqueue_check(invoice_id, cause=f"unknown payment {qpay_payment_id[:64]} on a paid invoice", recheck_paid=True)
    return callback
