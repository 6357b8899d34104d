"""Staff actions on an invoice: re-check it at QPay, cancel it unpaid, re-issue its e-barimt receipt."""

from __future__ import annotations

from django.utils.translation import gettext as _

from esimshop.state_machine import try_transition
from payments import ebarimt, expiry, verification
from payments.models import EbarimtReceipt, Invoice
from staff.actions.result import ActionResult, Outcome, recorded, require_permission
from staff.audit import actor_name


def recheck_payment(user, invoice_id) -> ActionResult:
    """Ask QPay now (payment/check by our stored QPay invoice id) and apply what it says."""
    require_permission(user, "payments.recheck_payment")
    invoice = Invoice.objects.get(pk=invoice_id)
    if not invoice.qpay_invoice_id:
        return recorded(
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
    return recorded(
        user,
        "invoice.recheck_payment",
        result.invoice,
        outcome,
        f"{message} ({result.detail})",
        qpay_outcome=result.outcome,
    )


def cancel_unpaid_invoice(user, invoice_id) -> ActionResult:
    """Check once more, then PENDING → CANCELLED here and at QPay. A paid invoice is never cancelled."""
    require_permission(user, "payments.cancel_invoice_at_qpay")
    invoice = Invoice.objects.get(pk=invoice_id)
    if invoice.status != Invoice.Status.PENDING:
        return recorded(
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
            return recorded(
                user,
                "invoice.cancel",
                invoice,
                Outcome.FAILED,
                _("QPay could not be asked whether it was paid, so it was not cancelled. Try again."),
            )
        if check.outcome != verification.NOT_PAID:
            return recorded(
                user,
                "invoice.cancel",
                invoice,
                Outcome.REFUSED,
                _("Not cancelled: QPay shows money on it (%(outcome)s).") % {"outcome": check.outcome},
            )
    invoice = expiry.cancel_invoice(invoice.pk, cause="cancelled by staff", actor=actor_name(user))
    if invoice.status != Invoice.Status.CANCELLED:
        return recorded(
            user,
            "invoice.cancel",
            invoice,
            Outcome.NOTHING_TO_DO,
            _("The invoice is %(status)s now; nothing cancelled.") % {"status": invoice.get_status_display()},
        )
    return recorded(user, "invoice.cancel", invoice, Outcome.DONE, _("Cancelled here; QPay is told to cancel it too."))


def reissue_ebarimt(user, invoice_id) -> ActionResult:
    require_permission(user, "payments.recheck_payment")
    invoice = Invoice.objects.get(pk=invoice_id)
    receipt = EbarimtReceipt.objects.filter(invoice=invoice).first()
    if receipt is None:
        if invoice.status != Invoice.Status.PAID:
            return recorded(user, "ebarimt.issue", invoice, Outcome.REFUSED, _("Only a paid invoice gets a receipt."))
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
        return recorded(
            user,
            "ebarimt.issue",
            invoice,
            Outcome.NOTHING_TO_DO,
            _("The receipt is already %(status)s.") % {"status": receipt.get_status_display()},
        )
    ok = receipt.status in (EbarimtReceipt.Status.ISSUED, EbarimtReceipt.Status.CANCELLED)
    return recorded(
        user,
        "ebarimt.issue",
        invoice,
        Outcome.DONE if ok else Outcome.FAILED,
        _("E-barimt receipt: %(status)s %(error)s")
        % {"status": receipt.get_status_display(), "error": receipt.last_error},
    )
