"""Staff actions: permission check → the owning app's service (row lock + guard) → audit row.

Every action is safe to click twice: the services re-check state under a row lock, so the
second click finds the work done and says so (outcome NOTHING_TO_DO), and refunds carry the
form's idempotency key. Permissions (granted through the "support" and "finance" groups):

    re-check payment at QPay      payments.recheck_payment        support, finance
    retry provisioning            orders.retry_provisioning       support, finance
    cancel unpaid invoice         payments.cancel_invoice_at_qpay finance
    mark delivered by hand        orders.deliver_manually         finance
    buy again after unknown order orders.deliver_manually         finance
    refund / check a refund       payments.refund_payment         finance
    re-issue an e-barimt receipt  payments.recheck_payment        support, finance
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass

from django.contrib import messages
from django.core.exceptions import ObjectDoesNotExist, PermissionDenied
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from esimshop.state_machine import try_transition
from staff.audit import actor_name, record_staff_action
from staff.models import StaffAction

logger = logging.getLogger(__name__)

Outcome = StaffAction.Outcome
ICCID_RE = re.compile(r"^89\d{16,20}$")
STUCK_AFTER_SECONDS = 15 * 60


@dataclass(frozen=True)
class ActionResult:
    outcome: str
    message: str

    @property
    def level(self) -> int:
        return {
            Outcome.DONE: messages.SUCCESS,
            Outcome.NOTHING_TO_DO: messages.INFO,
            Outcome.REFUSED: messages.WARNING,
        }.get(self.outcome, messages.ERROR)


def _require(user, permission: str) -> None:
    if user is None or not user.is_active or not user.has_perm(permission):
        raise PermissionDenied(f"{permission} required")


def _done(user, action, obj, outcome, message, **details) -> ActionResult:
    record_staff_action(user, action, obj, outcome=outcome, message=message, **details)
    return ActionResult(outcome, message)


# --- Payments --------------------------------------------------------------------------------


def recheck_payment(user, invoice_id) -> ActionResult:
    """Ask QPay now (payment/check by our stored QPay invoice id) and apply what it says."""
    from payments import verification
    from payments.models import Invoice

    _require(user, "payments.recheck_payment")
    invoice = Invoice.objects.get(pk=invoice_id)
    if not invoice.qpay_invoice_id:
        return _done(
            user,
            "invoice.recheck_payment",
            invoice,
            Outcome.REFUSED,
            _("This invoice never reached QPay; there is nothing to check."),
        )
    result = verification.verify_invoice_payment(
        invoice.pk, cause="staff re-check", actor=actor_name(user), recheck_paid=True
    )
    outcomes = {
        verification.PAID: (Outcome.DONE, _("QPay shows it paid: the invoice is now PAID and the eSIM is on its way.")),
        verification.DUPLICATE: (Outcome.NOTHING_TO_DO, _("Already paid; QPay agrees.")),
        verification.NOT_PAID: (Outcome.NOTHING_TO_DO, _("QPay shows no payment yet.")),
        verification.AMOUNT_MISMATCH: (
            Outcome.REFUSED,
            _("QPay shows a payment that does not cover the invoice: flagged."),
        ),
        verification.LATE_PAYMENT: (
            Outcome.REFUSED,
            _("Money arrived after the invoice was closed: flagged. Accept it or refund it."),
        ),
        verification.VERIFY_FAILED: (Outcome.FAILED, _("QPay could not be asked right now. Try again in a minute.")),
    }
    outcome, message = outcomes.get(result.outcome, (Outcome.DONE, result.outcome))
    return _done(
        user,
        "invoice.recheck_payment",
        result.invoice,
        outcome,
        f"{message} ({result.detail})",
        qpay_outcome=result.outcome,
    )


def cancel_unpaid_invoice(user, invoice_id) -> ActionResult:
    """Check once more, then PENDING → CANCELLED here and at QPay. A paid invoice is never cancelled."""
    from payments import expiry, verification
    from payments.models import Invoice

    _require(user, "payments.cancel_invoice_at_qpay")
    invoice = Invoice.objects.get(pk=invoice_id)
    if invoice.status != Invoice.Status.PENDING:
        return _done(
            user,
            "invoice.cancel",
            invoice,
            Outcome.NOTHING_TO_DO,
            _("The invoice is %(status)s; only an unpaid open invoice can be cancelled.")
            % {"status": invoice.get_status_display()},
        )
    if invoice.qpay_invoice_id:
        check = verification.verify_invoice_payment(
            invoice.pk, cause="check before staff cancel", actor=actor_name(user)
        )
        if check.outcome == verification.VERIFY_FAILED:
            return _done(
                user,
                "invoice.cancel",
                invoice,
                Outcome.FAILED,
                _("QPay could not be asked whether it was paid, so it was not cancelled. Try again."),
            )
        if check.outcome != verification.NOT_PAID:
            return _done(
                user,
                "invoice.cancel",
                invoice,
                Outcome.REFUSED,
                _("Not cancelled: QPay shows money on it (%(outcome)s).") % {"outcome": check.outcome},
            )
    invoice = expiry.cancel_invoice(invoice.pk, cause="cancelled by staff", actor=actor_name(user))
    if invoice.status != Invoice.Status.CANCELLED:
        return _done(
            user,
            "invoice.cancel",
            invoice,
            Outcome.NOTHING_TO_DO,
            _("The invoice is %(status)s now; nothing cancelled.") % {"status": invoice.get_status_display()},
        )
    return _done(user, "invoice.cancel", invoice, Outcome.DONE, _("Cancelled here; QPay is told to cancel it too."))


def refund(user, *, invoice_id, payment_id, amount_mnt, method, note, idempotency_key) -> ActionResult:
    from payments.models import Invoice, Refund
    from staff import refunds

    _require(user, "payments.refund_payment")
    invoice = Invoice.objects.get(pk=invoice_id)
    already = Refund.objects.filter(idempotency_key=idempotency_key).exists()
    try:
        result = refunds.request_refund(
            invoice_id=invoice_id,
            payment_id=payment_id,
            amount_mnt=amount_mnt,
            method=method,
            note=note,
            user=user,
            idempotency_key=idempotency_key,
        )
    except refunds.RefundRefused as exc:
        return _done(
            user, "refund.refused", invoice, Outcome.REFUSED, exc.message, amount_mnt=amount_mnt, method=method
        )
    target = _order_or(invoice)
    details = {
        "refund_id": result.pk,
        "amount_mnt": result.amount_mnt,
        "method": result.method,
        "payment": result.payment.qpay_payment_id,
    }
    if already:
        return _done(
            user,
            "refund.repeat",
            target,
            Outcome.NOTHING_TO_DO,
            _("This refund was already submitted (refund #%(id)s, %(status)s).")
            % {"id": result.pk, "status": result.get_status_display()},
            **details,
        )
    result.refresh_from_db()
    follow = _follow_up_text(result)
    if result.method == Refund.Method.MANUAL:
        message = _("Recorded: %(amount)s returned by hand in QPay's merchant portal.") % {
            "amount": f"{result.amount_mnt:,}₮"
        }
        return _done(user, "refund.manual", target, Outcome.DONE, f"{message} {follow}".strip(), note=note, **details)
    if result.status == Refund.Status.SUCCEEDED:
        message = _("QPay refunded %(amount)s to the card.") % {"amount": f"{result.amount_mnt:,}₮"}
        return _done(user, "refund.card", target, Outcome.DONE, f"{message} {follow}".strip(), **details)
    if result.status == Refund.Status.UNKNOWN:
        return _done(
            user,
            "refund.card",
            target,
            Outcome.FAILED,
            _(
                "QPay did not answer, so we do not know whether the card was refunded. Do NOT refund again: "
                "use “Check refund at QPay” in a minute."
            ),
            error=result.error,
            **details,
        )
    return _done(
        user,
        "refund.card",
        target,
        Outcome.FAILED,
        _("QPay refused the card refund: %(error)s") % {"error": result.error},
        **details,
    )


def _follow_up_text(refund_row) -> str:
    """What happened after a full refund (order, eSIM Go, receipt), in one sentence per part."""
    from payments.models import Refund

    parts = []
    order = _order_or(refund_row.invoice, None)
    if order is not None:
        order.refresh_from_db(fields=["status"])
        if order.status == order.Status.REFUNDED:
            parts.append(_("The order is now refunded (My eSIMs shows it)."))
        else:
            parts.append(_("Partial refund: the order stays %(status)s.") % {"status": order.get_status_display()})
    if refund_row.esimgo_outcome:
        parts.append(
            _("eSIM Go: %(outcome)s — %(detail)s.")
            % {"outcome": Refund.ESIMGoOutcome(refund_row.esimgo_outcome).label, "detail": refund_row.esimgo_detail}
        )
    receipt = getattr(refund_row.invoice, "ebarimt", None) if _has_ebarimt(refund_row.invoice) else None
    if receipt is not None and receipt.cancel_requested:
        parts.append(_("E-barimt receipt: %(status)s.") % {"status": receipt.get_status_display()})
    return " ".join(str(p) for p in parts)


def _has_ebarimt(invoice) -> bool:
    try:
        return invoice.ebarimt is not None
    except ObjectDoesNotExist:
        return False


def check_refund(user, refund_id) -> ActionResult:
    from payments.models import Refund
    from staff import refunds

    _require(user, "payments.refund_payment")
    row = Refund.objects.select_related("invoice").get(pk=refund_id)
    target = _order_or(row.invoice)
    if row.status not in Refund.NEEDS_STAFF_STATUSES:
        return _done(
            user,
            "refund.check",
            target,
            Outcome.NOTHING_TO_DO,
            _("Refund #%(id)s is already %(status)s.") % {"id": row.pk, "status": row.get_status_display()},
        )
    try:
        row = refunds.check_refund(row.pk, user=user)
    except refunds.RefundRefused as exc:
        return _done(user, "refund.check", target, Outcome.FAILED, exc.message, refund_id=row.pk)
    return _done(
        user,
        "refund.check",
        target,
        Outcome.DONE,
        _("Refund #%(id)s: %(status)s. %(follow)s")
        % {"id": row.pk, "status": row.get_status_display(), "follow": _follow_up_text(row)},
        refund_id=row.pk,
        status=row.status,
    )


def retry_esimgo_revoke(user, refund_id) -> ActionResult:
    from payments.models import Refund
    from staff import refunds

    _require(user, "payments.refund_payment")
    row = Refund.objects.select_related("invoice").get(pk=refund_id)
    before = row.esimgo_outcome
    row = refunds.revoke_unused_bundle(row.pk)
    outcome = Outcome.DONE if row.esimgo_outcome != before else Outcome.NOTHING_TO_DO
    return _done(
        user,
        "refund.esimgo_revoke",
        _order_or(row.invoice),
        outcome,
        _("eSIM Go: %(outcome)s %(detail)s")
        % {"outcome": Refund.ESIMGoOutcome(row.esimgo_outcome).label, "detail": row.esimgo_detail},
        refund_id=row.pk,
    )


def reissue_ebarimt(user, invoice_id) -> ActionResult:
    from payments import ebarimt
    from payments.models import EbarimtReceipt, Invoice

    _require(user, "payments.recheck_payment")
    invoice = Invoice.objects.get(pk=invoice_id)
    receipt = EbarimtReceipt.objects.filter(invoice=invoice).first()
    if receipt is None:
        if invoice.status != Invoice.Status.PAID:
            return _done(user, "ebarimt.issue", invoice, Outcome.REFUSED, _("Only a paid invoice gets a receipt."))
        receiver_type, receiver = ebarimt.receiver_for(invoice)
        receipt, _created = EbarimtReceipt.objects.get_or_create(
            invoice=invoice, defaults={"receiver_type": receiver_type, "receiver": receiver[:32]}
        )
    if receipt.status == EbarimtReceipt.Status.CANCEL_FAILED:
        receipt = ebarimt.cancel(invoice.pk)
    elif receipt.status not in (EbarimtReceipt.Status.ISSUED, EbarimtReceipt.Status.CANCELLED):
        try_transition(EbarimtReceipt, receipt.pk, "staff_retry", by=actor_name(user), user=user)
        receipt = ebarimt.issue(invoice.pk)
    else:
        return _done(
            user,
            "ebarimt.issue",
            invoice,
            Outcome.NOTHING_TO_DO,
            _("The receipt is already %(status)s.") % {"status": receipt.get_status_display()},
        )
    ok = receipt.status in (EbarimtReceipt.Status.ISSUED, EbarimtReceipt.Status.CANCELLED)
    return _done(
        user,
        "ebarimt.issue",
        invoice,
        Outcome.DONE if ok else Outcome.FAILED,
        _("E-barimt receipt: %(status)s %(error)s")
        % {"status": receipt.get_status_display(), "error": receipt.last_error},
    )


# --- Orders ----------------------------------------------------------------------------------


def retry_provisioning(user, order_id) -> ActionResult:
    """NEEDS_ATTENTION → PROVISIONING and provision again; a stuck PAID/PROVISIONING order is just
    queued again (provisioning reconciles any purchase that may have happened before buying)."""
    from orders import services
    from orders.models import InvalidTransition, Order
    from orders.tasks import provision_order_task

    _require(user, "orders.retry_provisioning")
    order = Order.objects.get(pk=order_id)
    if order.status == Order.Status.NEEDS_ATTENTION:
        try:
            order = services.staff_retry_provisioning(order.pk, user=user)
        except InvalidTransition:
            order.refresh_from_db()
            return _done(
                user,
                "order.retry_provisioning",
                order,
                Outcome.NOTHING_TO_DO,
                _("Already being retried (the order is %(status)s).") % {"status": order.get_status_display()},
            )
        return _done(
            user,
            "order.retry_provisioning",
            order,
            Outcome.DONE,
            _("Provisioning started again. Reload in a few seconds."),
        )
    if order.is_in_progress and (timezone.now() - order.created_at).total_seconds() > STUCK_AFTER_SECONDS:
        transaction.on_commit(lambda: provision_order_task.delay(order.pk, actor_name(user)), robust=True)
        return _done(
            user, "order.retry_provisioning", order, Outcome.DONE, _("Provisioning queued again for this stuck order.")
        )
    return _done(
        user,
        "order.retry_provisioning",
        order,
        Outcome.NOTHING_TO_DO,
        _("Nothing to retry: the order is %(status)s.") % {"status": order.get_status_display()},
    )


def buy_again(user, order_id) -> ActionResult:
    """After an eSIM Go purchase whose outcome stayed unknown (NEEDS_ATTENTION with the look-ups as
    evidence): close the open attempt and buy a new eSIM. It risks a second paid eSIM Go order if
    eSIM Go commits the first purchase late, so it is finance's call, and refused while an eSIM Go
    order is known for this order ("Retry provisioning" delivers that one)."""
    from orders import services
    from orders.models import InvalidTransition, Order, ProvisioningAttempt

    _require(user, "orders.deliver_manually")
    order = Order.objects.get(pk=order_id)
    if order.status != Order.Status.NEEDS_ATTENTION:
        return _done(
            user,
            "order.buy_again",
            order,
            Outcome.NOTHING_TO_DO,
            _("Nothing to buy: the order is %(status)s.") % {"status": order.get_status_display()},
        )
    if order.attempts.filter(outcome=ProvisioningAttempt.Outcome.ORDERED).exists():
        return _done(
            user,
            "order.buy_again",
            order,
            Outcome.REFUSED,
            _("An eSIM Go order is already known for this order: use Retry provisioning, which delivers it."),
        )
    try:
        order, closed = services.staff_buy_again(order.pk, user=user)
    except InvalidTransition:
        order.refresh_from_db()
        return _done(
            user,
            "order.buy_again",
            order,
            Outcome.NOTHING_TO_DO,
            _("Already being retried (the order is %(status)s).") % {"status": order.get_status_display()},
        )
    return _done(
        user,
        "order.buy_again",
        order,
        Outcome.DONE,
        _(
            "Buying a new eSIM. If eSIM Go completes the first purchase late, there will be two paid eSIM Go "
            "orders for this payment; the hourly check reports it."
        ),
        closed_attempts=closed,
    )


def mark_delivered(
    user, order_id, *, iccid, matching_id, smdp_address, esimgo_order_reference="", note=""
) -> ActionResult:
    """An eSIM staff obtained by hand (eSIM Go portal): NEEDS_ATTENTION → DELIVERED, e-mail the shopper."""
    from orders import services
    from orders.models import ESim, InvalidTransition, Order

    _require(user, "orders.deliver_manually")
    iccid = re.sub(r"\s+", "", str(iccid or ""))
    order = Order.objects.get(pk=order_id)
    if not ICCID_RE.match(iccid):
        return _done(
            user, "order.deliver_manually", order, Outcome.REFUSED, _("An ICCID is 18–22 digits and starts with 89.")
        )
    if order.status == Order.Status.DELIVERED:
        same = order.esim_id and order.esim.iccid == iccid
        return _done(
            user,
            "order.deliver_manually",
            order,
            Outcome.NOTHING_TO_DO if same else Outcome.REFUSED,
            _("Already delivered with ICCID %(iccid)s.") % {"iccid": order.esim.iccid if order.esim_id else "?"},
        )
    other = ESim.objects.filter(iccid=iccid).exclude(customer_id=order.customer_id).first()
    if other is not None:
        return _done(
            user,
            "order.deliver_manually",
            order,
            Outcome.REFUSED,
            _("ICCID %(iccid)s belongs to another customer's eSIM.") % {"iccid": iccid},
        )
    if (
        esimgo_order_reference
        and Order.objects.filter(esimgo_order_reference=esimgo_order_reference).exclude(pk=order.pk).exists()
    ):
        return _done(
            user,
            "order.deliver_manually",
            order,
            Outcome.REFUSED,
            _("That eSIM Go order reference is already another order's."),
        )
    try:
        order = services.staff_deliver(
            order.pk,
            user=user,
            iccid=iccid,
            matching_id=matching_id,
            smdp_address=smdp_address,
            esimgo_order_reference=esimgo_order_reference or None,
            note=note,
        )
    except InvalidTransition:
        order.refresh_from_db()
        return _done(
            user,
            "order.deliver_manually",
            order,
            Outcome.REFUSED,
            _("Only an order that needs attention can be delivered by hand (this one is %(status)s).")
            % {"status": order.get_status_display()},
        )
    return _done(
        user,
        "order.deliver_manually",
        order,
        Outcome.DONE,
        _("Delivered with ICCID %(iccid)s; the shopper gets the “eSIM ready” e-mail.") % {"iccid": iccid},
        iccid=iccid,
        esimgo_order_reference=esimgo_order_reference,
    )


def _order_or(invoice, default="invoice"):
    try:
        return invoice.order
    except ObjectDoesNotExist:
        return invoice if default == "invoice" else default
