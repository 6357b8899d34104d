"""E-barimt (Mongolia's electronic VAT receipt) issued through QPay, switched on by EBARIMT_ENABLED.

After a payment is verified the invoice gets one EbarimtReceipt row (in the same transaction that
marks it PAID) and a task issues it: POST /v2/ebarimt_v3/create for the PAID payment, as a
CITIZEN (the shopper's phone number) or, when given at checkout, a COMPANY (register number).
The receipt never holds up the eSIM: it has its own task, failures are retried with backoff and
a periodic sweep, and a receipt that keeps failing shows in the admin's needs-attention queue.
A full refund cancels it (DELETE /v2/ebarimt_v3/{payment_id}).
"""

from __future__ import annotations

import logging
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from esimshop.state_machine import apply_transition, try_transition
from integrations.qpay.client import QPayClient, QPayError
from payments import tasks
from payments.models import EbarimtReceipt, Invoice, Payment

logger = logging.getLogger(__name__)

Status = EbarimtReceipt.Status
# A worker that claimed the QPay call this long ago is presumed dead.
CLAIM_STALE_AFTER = timedelta(minutes=5)
MAX_SWEEP_ATTEMPTS = 10
# QPay answers these when the merchant is not enrolled or the request is wrong: retrying won't help.
PERMANENT_CODES = (
    "EBARIMT_NOT_REGISTERED",
    "EBARIMT_QR_CODE_INVALID",
    "CUSTOMER_REGISTER_INVALID",
    "INVALID_OBJECT_TYPE",
)


def enabled() -> bool:
    return bool(settings.EBARIMT_ENABLED)


def receiver_for(invoice: Invoice) -> tuple[str, str]:
    if invoice.company_register:
        return EbarimtReceipt.ReceiverType.COMPANY, invoice.company_register
    return EbarimtReceipt.ReceiverType.CITIZEN, invoice.customer.phone_number


def schedule_receipt(invoice: Invoice) -> EbarimtReceipt | None:
    """Inside the transaction that marked the invoice PAID: one receipt row, issued after commit."""
    if not enabled():
        return None
    receiver_type, receiver = receiver_for(invoice)
    receipt, created = EbarimtReceipt.objects.get_or_create(
        invoice=invoice, defaults={"receiver_type": receiver_type, "receiver": receiver[:32]}
    )
    if created:
        transaction.on_commit(lambda: tasks.issue_ebarimt_task.delay(str(invoice.pk)), robust=True)
    return receipt


def _paid_payment(invoice: Invoice) -> Payment | None:
    return invoice.payments.filter(status="PAID").order_by("-amount", "first_seen_at").first()


def issue(invoice_id, *, client=None, raise_transient: bool = False) -> EbarimtReceipt:
    """Issue the invoice's receipt at QPay (once). Safe to run twice: a claimed or issued receipt
    is left alone. Transient failures raise when `raise_transient` (the task then retries)."""
    now = timezone.now()
    with transaction.atomic():
        receipt = (
            EbarimtReceipt.objects.select_for_update(of=("self",)).select_related("invoice").get(invoice_id=invoice_id)
        )
        if receipt.status in (Status.ISSUED, Status.CANCELLED, Status.CANCEL_FAILED):
            return receipt
        if receipt.cancel_requested:
            apply_transition(receipt, "cancel_unissued", by="system", reason="refunded before it was issued")
            return receipt
        if receipt.status == Status.ISSUING and receipt.claimed_at and now - receipt.claimed_at < CLAIM_STALE_AFTER:
            return receipt
        payment = _paid_payment(receipt.invoice)
        if payment is None:
            apply_transition(receipt, "fail_without_payment", by="system", last_error="no PAID payment on the invoice")
            return receipt
        apply_transition(receipt, "claim", by="system", claimed_at=now, attempts=receipt.attempts + 1, payment=payment)
    client = client or QPayClient()
    try:
        issued = client.create_ebarimt(
            payment_id=payment.qpay_payment_id,
            receiver_type=receipt.receiver_type,
            receiver=receipt.receiver,
            district_code=settings.EBARIMT_DISTRICT_CODE,
            classification_code=settings.EBARIMT_CLASSIFICATION_CODE,
        )
    except QPayError as exc:
        logger.warning("e-barimt for invoice %s failed: %s", invoice_id, exc)
        retryable = exc.transient and exc.code not in PERMANENT_CODES
        changes = {"last_error": str(exc)[:500], "updated_at": timezone.now()}
        if not retryable:
            changes["attempts"] = MAX_SWEEP_ATTEMPTS  # only a person can fix this; the sweep leaves it
        try_transition(EbarimtReceipt, receipt.pk, "fail", by="system", **changes)
        if raise_transient and retryable:
            raise
        return EbarimtReceipt.objects.get(pk=receipt.pk)
    with transaction.atomic():
        receipt = EbarimtReceipt.objects.select_for_update().get(pk=receipt.pk)
        receipt.qpay_receipt_id = issued.id[:64]
        receipt.receipt_id = issued.receipt_id[:64]
        receipt.lottery = issued.lottery[:32]
        receipt.qr_data = issued.qr_data
        receipt.amount = issued.amount
        receipt.vat_amount = issued.vat_amount
        receipt.raw = issued.raw
        receipt.issued_at = timezone.now()
        receipt.last_error = ""
        apply_transition(receipt, "record_issued", by="system", save_all=True)
        cancel_now = receipt.cancel_requested
    logger.info("e-barimt issued for invoice %s: lottery %s", invoice_id, receipt.lottery)
    if cancel_now:  # refunded while QPay was issuing it
        return cancel(invoice_id, client=client)
    return receipt


def cancel(invoice_id, *, client=None) -> EbarimtReceipt | None:
    """Cancel an issued receipt at QPay; an unissued one is simply never issued."""
    with transaction.atomic():
        receipt = (
            EbarimtReceipt.objects.select_for_update(of=("self",))
            .select_related("payment")
            .filter(invoice_id=invoice_id)
            .first()
        )
        if receipt is None:
            return None
        receipt.cancel_requested = True
        if receipt.status in (Status.PENDING, Status.FAILED):
            apply_transition(receipt, "cancel_unissued", by="system", cancelled_at=timezone.now())
        receipt.save(update_fields=["cancel_requested", "updated_at"])
        if receipt.status not in (Status.ISSUED, Status.CANCEL_FAILED):
            return receipt
    try:
        (client or QPayClient()).cancel_ebarimt(receipt.payment.qpay_payment_id)
    except QPayError as exc:
        logger.warning("e-barimt cancel for invoice %s failed: %s", invoice_id, exc)
        try_transition(
            EbarimtReceipt,
            receipt.pk,
            "cancel_failed",
            by="system",
            last_error=str(exc)[:500],
            updated_at=timezone.now(),
        )
        return EbarimtReceipt.objects.get(pk=receipt.pk)
    try_transition(
        EbarimtReceipt,
        receipt.pk,
        "cancel_issued",
        by="system",
        cancelled_at=timezone.now(),
        last_error="",
        updated_at=timezone.now(),
    )
    return EbarimtReceipt.objects.get(pk=receipt.pk)


def cancel_for_refund(invoice_id) -> None:
    """After a full refund commits. Never raises: the refund is done whatever QPay says here;
    a failed cancel is CANCEL_FAILED and the sweep tries again."""
    try:
        cancel(invoice_id)
    except Exception:  # noqa: BLE001
        logger.exception("e-barimt cancel after refund of invoice %s failed", invoice_id)


def sweep() -> dict:
    """Retry receipts that failed or whose worker died, and cancels that failed."""
    now = timezone.now()
    counts = {"issue": 0, "cancel": 0}
    retry = EbarimtReceipt.objects.filter(attempts__lt=MAX_SWEEP_ATTEMPTS, cancel_requested=False).filter(
        Q(status=Status.FAILED)
        | Q(status=Status.ISSUING, claimed_at__lt=now - CLAIM_STALE_AFTER)
        | Q(status=Status.PENDING, created_at__lt=now - CLAIM_STALE_AFTER)
    )
    for invoice_id in retry.values_list("invoice_id", flat=True)[:200]:
        tasks.issue_ebarimt_task.delay(str(invoice_id))
        counts["issue"] += 1
    for invoice_id in EbarimtReceipt.objects.filter(status=Status.CANCEL_FAILED).values_list("invoice_id", flat=True)[
        :200
    ]:
        cancel_for_refund(invoice_id)
        counts["cancel"] += 1
    return counts


def shopper_receipt(invoice) -> EbarimtReceipt | None:
    """The receipt to show the shopper (eSIM page, e-mails): only an issued, uncancelled one."""
    return EbarimtReceipt.objects.filter(invoice=invoice, status=Status.ISSUED).first()
