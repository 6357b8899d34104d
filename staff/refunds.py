"""Refunds, the way QPay really works (docs/providers/qpay.md, Refunds).

- CARD payments: DELETE /v2/payment/refund/<payment_id> returns the whole payment. The Refund
  row (REQUESTED) is committed BEFORE QPay is called; a partial unique constraint allows one
  live or successful API refund per payment, so a double click, two staff members or a crash
  mid-call never reach QPay twice. No answer (timeout, 5xx) → UNKNOWN: only a look at the
  payment at QPay (check_refund) may turn it into SUCCEEDED or FAILED.
- Bank-app (P2P) payments cannot be refunded by API. Staff return the money in QPay's merchant
  portal, then record it here (MANUAL): any amount up to what is left, with a note.
- Never more than was paid: under the invoice row lock, live + done refunds + this one must not
  exceed the money that came in.

A refund that returns everything moves the order to REFUNDED (My eSIMs shows it), cancels the
e-barimt receipt and, if the eSIM was never installed, revokes the unused bundle at eSIM Go.
Those follow-ups run after the refund is committed and record their own outcome.
"""

from __future__ import annotations

import logging
import uuid
from decimal import Decimal

from django.db import IntegrityError, transaction
from django.db.models import Sum
from django.utils import timezone

from esimshop.state_machine import apply_transition
from integrations.qpay.client import QPayClient, QPayError
from orders.services import mark_refunded
from payments.models import REFUND_TRANSITIONS, Invoice, InvoiceTransition, Payment, Refund

logger = logging.getLogger(__name__)

Status = Refund.Status
Method = Refund.Method

MONEY_IN = ("PAID", "REFUNDED")  # a refunded payment still brought its money in once
ALREADY_REFUNDED_CODES = ("PAYMENT_ALREADY_CANCELED", "PAYMENT_ALREADY_CANCELLED", "PAYMENT_ALREADY_REFUNDED")


class RefundRefused(Exception):
    """The guard said no; `message` says why in words staff can act on."""

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


def money_in(invoice: Invoice) -> int:
    total = invoice.payments.filter(status__in=MONEY_IN).aggregate(total=Sum("amount"))["total"] or Decimal(0)
    return int(total)


def refunded_or_pending(invoice: Invoice) -> int:
    return invoice.refunds.filter(status__in=Refund.COUNTED_STATUSES).aggregate(t=Sum("amount_mnt"))["t"] or 0


def refundable(invoice: Invoice) -> int:
    return max(money_in(invoice) - refunded_or_pending(invoice), 0)


def method_for(payment: Payment) -> str:
    return Method.QPAY_API if (payment.payment_type or "").upper() == "CARD" else Method.MANUAL


def request_refund(
    *, invoice_id, payment_id, amount_mnt: int, method: str, note: str, user, idempotency_key=None, client=None
) -> Refund:
    """Record the refund (guards under the invoice lock), then, for a card, ask QPay.

    Returns the Refund (SUCCEEDED, FAILED, UNKNOWN, or the earlier one for a repeated key).
    Raises RefundRefused when a guard says no.
    """
    key = idempotency_key or uuid.uuid4()
    refund, created = _record(
        invoice_id=invoice_id,
        payment_id=payment_id,
        amount_mnt=amount_mnt,
        method=method,
        note=note,
        user=user,
        key=key,
    )
    if created and refund.method == Method.QPAY_API:
        refund = _ask_qpay(refund, user=user, client=client)
    if created:
        follow_up_full_refund(refund)
    return refund


def _actor(user) -> str:
    return f"staff:{user.get_username()}" if user is not None else "system"


def _record(*, invoice_id, payment_id, amount_mnt, method, note, user, key):
    note = (note or "").strip()
    try:
        amount = int(amount_mnt)
    except (TypeError, ValueError):
        raise RefundRefused("The amount must be a whole number of MNT.") from None
    try:
        with transaction.atomic():
            existing = Refund.objects.filter(idempotency_key=key).select_related("payment").first()
            if existing is not None:
                return existing, False
            invoice = Invoice.objects.select_for_update().get(pk=invoice_id)
            payment = Payment.objects.select_for_update().filter(pk=payment_id, invoice=invoice).first()
            if payment is None:
                raise RefundRefused("That payment does not belong to this invoice.")
            _guard(invoice, payment, amount, method, note)
            manual = method == Method.MANUAL
            refund = Refund.objects.create(
                invoice=invoice,
                payment=payment,
                amount_mnt=amount,
                method=method,
                status=Status.SUCCEEDED if manual else Status.REQUESTED,
                note=note[:500],
                idempotency_key=key,
                requested_by=user if getattr(user, "pk", None) else None,
                requested_by_username=(user.get_username() if user is not None else "system")[:150],
                completed_at=timezone.now() if manual else None,
            )
            what = "recorded a manual refund" if manual else "requested a card refund at QPay"
            InvoiceTransition.objects.create(
                invoice=invoice,
                from_status=invoice.status,
                to_status=invoice.status,
                name="refund_recorded" if manual else "refund_requested",
                cause=f"{what}: {amount} MNT of payment {payment.qpay_payment_id}"[:255],
                actor=_actor(user)[:150],
            )
            if manual:
                _after_success(refund, user=user)
    except IntegrityError:
        # one_api_refund_per_payment: another request got there first.
        raise RefundRefused("A refund of this card payment is already in progress or done.") from None
    return refund, True


def _guard(invoice: Invoice, payment: Payment, amount: int, method: str, note: str) -> None:
    if amount <= 0:
        raise RefundRefused("The amount must be more than 0.")
    order = _order_of(invoice)
    if order is not None and order.status in ("PAID", "PROVISIONING"):
        raise RefundRefused(
            "The eSIM is being provisioned right now. Wait until it is delivered or flagged, then refund."
        )
    if payment.status not in MONEY_IN:
        raise RefundRefused(f"Payment {payment.qpay_payment_id} is {payment.status} at QPay: no money to return.")
    waiting = invoice.refunds.filter(status__in=Refund.NEEDS_STAFF_STATUSES).first()
    if waiting is not None:
        raise RefundRefused(
            f"Refund #{waiting.pk} is already in progress (QPay has not confirmed it): "
            "check it at QPay before refunding again."
        )
    left = refundable(invoice)
    if amount > left:
        raise RefundRefused(f"That is more than is left to refund: at most {left:,}₮.")
    if method == Method.QPAY_API:
        if (payment.payment_type or "").upper() != "CARD":
            raise RefundRefused(
                "QPay refunds only card payments through its API. This is a bank-app payment: "
                "return the money in QPay's merchant portal, then record a manual refund."
            )
        if payment.status != "PAID":
            raise RefundRefused("QPay already shows this payment as refunded.")
        if amount != int(payment.amount):
            raise RefundRefused(
                f"QPay refunds a card payment whole ({int(payment.amount):,}₮). For part of it, "
                "return the money in QPay's merchant portal and record a manual refund."
            )
    elif method == Method.MANUAL:
        if not note:
            raise RefundRefused("Say how and where the money was returned (for example the portal reference).")
    else:
        raise RefundRefused(f"Unknown refund method {method!r}.")


def _ask_qpay(refund: Refund, *, user, client=None) -> Refund:
    client = client or QPayClient()
    try:
        response = client.refund_payment(refund.payment.qpay_payment_id, note=f"esimshop refund {refund.pk}")
    except QPayError as exc:
        if exc.code in ALREADY_REFUNDED_CODES:
            return _settle(refund.pk, Status.SUCCEEDED, user=user, error=f"QPay: {exc.code} (already refunded)")
        if exc.transient or exc.status is None:
            logger.warning("refund %s: QPay did not answer (%s); outcome unknown", refund.pk, exc)
            return _settle(refund.pk, Status.UNKNOWN, user=user, error=f"no answer from QPay: {exc}")
        logger.warning("refund %s refused by QPay: %s", refund.pk, exc)
        return _settle(refund.pk, Status.FAILED, user=user, error=f"QPay refused: {exc}")
    return _settle(refund.pk, Status.SUCCEEDED, user=user, response=response.raw)


def _settle(refund_id, status: str, *, user, error: str = "", response=None) -> Refund:
    """REQUESTED/UNKNOWN → status, once (whoever settles first wins; later callers see the result)."""
    with transaction.atomic():
        # Same lock order as _record: the invoice first, then the refund.
        invoice_id = Refund.objects.values_list("invoice_id", flat=True).get(pk=refund_id)
        Invoice.objects.select_for_update().get(pk=invoice_id)
        refund = Refund.objects.select_for_update(of=("self",)).select_related("payment", "invoice").get(pk=refund_id)
        if refund.status not in (Status.REQUESTED, Status.UNKNOWN):
            return refund
        refund.error = error[:500]
        if response is not None:
            refund.qpay_response = response
        if status in (Status.SUCCEEDED, Status.FAILED):
            refund.completed_at = timezone.now()
        apply_transition(
            refund, REFUND_TRANSITIONS.name_for(status), by=_actor(user), reason=error, user=user, save_all=True
        )
        if status == Status.SUCCEEDED:
            Payment.objects.filter(pk=refund.payment_id).update(status="REFUNDED", updated_at=timezone.now())
            _after_success(refund, user=user)
    return refund


def check_refund(refund_id, *, user, client=None) -> Refund:
    """For a REQUESTED/UNKNOWN card refund: ask QPay what became of the payment (GET /v2/payment/{id})."""
    refund = Refund.objects.select_related("payment").get(pk=refund_id)
    if refund.status not in (Status.REQUESTED, Status.UNKNOWN):
        return refund
    client = client or QPayClient()
    try:
        row = client.get_payment(refund.payment.qpay_payment_id)
    except QPayError as exc:
        raise RefundRefused(f"QPay could not be asked: {exc}") from exc
    if row.status == "REFUNDED":
        refund = _settle(refund.pk, Status.SUCCEEDED, user=user, error="confirmed REFUNDED at QPay")
        follow_up_full_refund(refund)
        return refund
    if row.status == "PAID":
        return _settle(
            refund.pk,
            Status.FAILED,
            user=user,
            error="QPay still shows the payment PAID: nothing was refunded; safe to try again",
        )
    raise RefundRefused(f"QPay shows the payment as {row.status}; check it in the merchant portal.")


def _after_success(refund: Refund, *, user) -> None:
    """Inside the transaction that made the refund SUCCEEDED (invoice locked): a full refund moves
    the order to REFUNDED and, after commit, cancels the receipt and revokes an unused eSIM."""
    invoice = refund.invoice
    refunded = invoice.refunds.filter(status=Status.SUCCEEDED).aggregate(t=Sum("amount_mnt"))["t"] or 0
    if refunded < money_in(invoice):
        return
    order = _order_of(invoice)
    if order is not None:
        mark_refunded(order.pk, user=user, cause=f"refunded {refunded:,} MNT (refund #{refund.pk})")


def _is_full(invoice) -> bool:
    refunded = invoice.refunds.filter(status=Status.SUCCEEDED).aggregate(t=Sum("amount_mnt"))["t"] or 0
    return refunded >= money_in(invoice) > 0


def follow_up_full_refund(refund: Refund) -> None:
    """After the refund committed (never inside its transaction: these call providers): when
    everything has been returned, cancel the e-barimt receipt and give back an unused eSIM.
    Each records its own outcome; failures never undo the refund."""
    refund.refresh_from_db()
    if refund.status != Status.SUCCEEDED or not _is_full(refund.invoice):
        return
    from payments import ebarimt

    ebarimt.cancel_for_refund(refund.invoice_id)
    if _order_of(refund.invoice) is not None:
        try:
            revoke_unused_bundle(refund.pk)
        except Exception:  # noqa: BLE001 - recorded as FAILED/UNKNOWN where it can be; never undo the refund
            logger.exception("eSIM Go revoke after refund %s failed", refund.pk)


def _order_of(invoice):
    from django.core.exceptions import ObjectDoesNotExist

    try:
        return invoice.order
    except ObjectDoesNotExist:
        return None


# --- eSIM Go: give back a bundle that was never used ------------------------------------------


def revoke_unused_bundle(refund_id, *, client=None) -> Refund:
    """If the refunded order's eSIM was never installed, revoke its bundle at eSIM Go (validate
    first, refund to balance if allowed, else to inventory) and record what happened.

    Claimed (REQUESTED) before the call and never retried blindly: eSIM Go revokes "the oldest
    unused assignment" of a bundle name, so a blind repeat could take a different one.
    """
    from integrations.esimgo.client import ESIMGoClient, ESIMGoError

    Outcome = Refund.ESIMGoOutcome
    with transaction.atomic():
        refund = Refund.objects.select_for_update().get(pk=refund_id)
        if refund.esimgo_outcome not in (Outcome.NOT_APPLICABLE, Outcome.FAILED) or refund.status != Status.SUCCEEDED:
            return refund
        order = _order_of(refund.invoice)
        esim = getattr(order, "esim", None) if order is not None else None
        if order is None or esim is None:
            return refund
        refund.esimgo_outcome = Outcome.REQUESTED
        refund.save(update_fields=["esimgo_outcome"])
    client = client or ESIMGoClient()
    iccid, bundle = esim.iccid, order.bundle.name

    def finish(outcome, detail):
        Refund.objects.filter(pk=refund_id).update(esimgo_outcome=outcome, esimgo_detail=str(detail)[:500])
        logger.info("refund %s: eSIM Go %s (%s)", refund_id, outcome, detail)
        return Refund.objects.get(pk=refund_id)

    try:
        if order.kind == order.Kind.NEW and client.get_esim(iccid).ever_installed:
            return finish(Outcome.KEPT_INSTALLED, f"eSIM {iccid} was installed; bundle not revoked")
    except ESIMGoError as exc:
        return finish(Outcome.FAILED, f"could not read eSIM {iccid}: {exc}")
    # A refund to the balance needs the offerId its validate answer carries; without one eSIM Go
    # can only return the bundle to our inventory (docs/providers/esimgo.md, Refunds).
    offer_id = ""
    try:
        offer_id = client.revoke_bundle(iccid, bundle, validate=True, refund_to_balance=True).offer_id
    except ESIMGoError as exc:
        if exc.transient:
            return finish(Outcome.FAILED, f"validate failed: {exc}")
    if not offer_id:
        try:
            client.revoke_bundle(iccid, bundle, validate=True, refund_to_balance=False)
        except ESIMGoError as exc2:
            return finish(Outcome.FAILED if exc2.transient else Outcome.NOT_ALLOWED, f"eSIM Go: {exc2}")
    try:
        result = client.revoke_bundle(
            iccid, bundle, validate=False, refund_to_balance=bool(offer_id), offer_id=offer_id
        )
    except ESIMGoError as exc:
        if exc.transient or getattr(exc, "outcome_unknown", False):
            return finish(Outcome.UNKNOWN, f"no answer from eSIM Go: {exc}")
        return finish(Outcome.NOT_ALLOWED, f"eSIM Go: {exc}")
    return finish(Outcome.REVOKED, result.status or "revoked")
