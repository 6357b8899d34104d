"""Staff refunds: refund a payment (card through QPay, or recorded as returned by hand), check an
unconfirmed one at QPay, retry returning the unused bundle to eSIM Go. The work is in staff/refunds.py."""

from __future__ import annotations

from django.core.exceptions import ObjectDoesNotExist
from django.utils.translation import gettext as _

from payments.models import Invoice, Refund
from staff import refunds
from staff.actions.result import ActionResult, Outcome, recorded, require_permission


def refund(user, *, invoice_id, payment_id, amount_mnt, method, note, idempotency_key) -> ActionResult:
    require_permission(user, "payments.refund_payment")
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
        return recorded(
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
        return recorded(
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
        return recorded(
            user, "refund.manual", target, Outcome.DONE, f"{message} {follow}".strip(), note=note, **details
        )
    if result.status == Refund.Status.SUCCEEDED:
        message = _("QPay refunded %(amount)s to the card.") % {"amount": f"{result.amount_mnt:,}₮"}
        return recorded(user, "refund.card", target, Outcome.DONE, f"{message} {follow}".strip(), **details)
    if result.status == Refund.Status.UNKNOWN:
        return recorded(
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
    return recorded(
        user,
        "refund.card",
        target,
        Outcome.FAILED,
        _("QPay refused the card refund: %(error)s") % {"error": result.error},
        **details,
    )


def _follow_up_text(refund_row) -> str:
    """What happened after a full refund (order, eSIM Go, receipt), in one sentence per part."""
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
    require_permission(user, "payments.refund_payment")
    row = Refund.objects.select_related("invoice").get(pk=refund_id)
    target = _order_or(row.invoice)
    if row.status not in Refund.NEEDS_STAFF_STATUSES:
        return recorded(
            user,
            "refund.check",
            target,
            Outcome.NOTHING_TO_DO,
            _("Refund #%(id)s is already %(status)s.") % {"id": row.pk, "status": row.get_status_display()},
        )
    try:
        row = refunds.check_refund(row.pk, user=user)
    except refunds.RefundRefused as exc:
        return recorded(user, "refund.check", target, Outcome.FAILED, exc.message, refund_id=row.pk)
    return recorded(
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
    require_permission(user, "payments.refund_payment")
    row = Refund.objects.select_related("invoice").get(pk=refund_id)
    before = row.esimgo_outcome
    row = refunds.revoke_unused_bundle(row.pk)
    outcome = Outcome.DONE if row.esimgo_outcome != before else Outcome.NOTHING_TO_DO
    return recorded(
        user,
        "refund.esimgo_revoke",
        _order_or(row.invoice),
        outcome,
        _("eSIM Go: %(outcome)s %(detail)s")
        % {"outcome": Refund.ESIMGoOutcome(row.esimgo_outcome).label, "detail": row.esimgo_detail},
        refund_id=row.pk,
    )


def _order_or(invoice, default="invoice"):
    try:
        return invoice.order
    except ObjectDoesNotExist:
        return invoice if default == "invoice" else default
