"""Customers, QPay invoices, payments, refunds, e-barimt receipts and their state tables.

A status only changes through a named transition of the model's table below, applied by
esimshop.state_machine (invoices through payments.services._transition, which also moves the
check schedule); every change writes a history row (InvoiceTransition, RefundTransition,
EbarimtReceiptTransition) with its cause and actor.
"""

import secrets
import uuid

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from esimshop.state_machine import StateTable, TransitionRecord


class Customer(models.Model):
    """A guest shopper. Found or created by the (phone number, e-mail) pair.

    Seed 000 calls the phone number "the identifier", but a phone number alone is typed by
    anyone; keying on the pair means a stranger who types someone's number with another
    e-mail gets a separate customer, never someone else's e-mail address on their eSIM.
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    phone_number = models.CharField(max_length=8, db_index=True)
    email = models.EmailField(max_length=254)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["phone_number", "email"], name="uniq_customer_phone_email")]

    def __str__(self):
        return f"{self.phone_number} <{self.email}>"


def new_access_token() -> str:
    """The capability in a payment page URL: 32 random bytes, unrelated to any id we log or send."""
    return secrets.token_urlsafe(32)


class Invoice(models.Model):
    """One QPay invoice for one bundle. `id` (internalInvoiceId) is an identifier we log and put in
    QPay's callback URL, never a capability: the payment page and the status API need
    `access_token`, which only the creator is given."""

    class Status(models.TextChoices):
        PENDING = "PENDING", _("Waiting for payment")
        PAID = "PAID", _("Paid")
        EXPIRED = "EXPIRED", _("Expired")
        CANCELLED = "CANCELLED", _("Cancelled")

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    customer = models.ForeignKey(Customer, on_delete=models.PROTECT, related_name="invoices")
    access_token = models.CharField(max_length=64, unique=True, default=new_access_token, editable=False)
    # Who may be handed this open invoice again: "s:<sha256 of the browser session>" (checkout
    # page), "i:<sha256 of the Idempotency-Key>" (API), or "" (nobody: an API call without a key).
    owner_key = models.CharField(max_length=80, blank=True, default="", editable=False)
    # sha256 of the API request an Idempotency-Key was first used with (a different body -> 422).
    request_fingerprint = models.CharField(max_length=64, blank=True, default="", editable=False)
    client_address = models.GenericIPAddressField(
        null=True, blank=True, editable=False, help_text="Where the purchase came from (open-invoice caps)."
    )
    bundle = models.ForeignKey("catalog.Bundle", on_delete=models.PROTECT, related_name="invoices")
    topup_iccid = models.CharField(
        max_length=32, blank=True, help_text="Set when this buys a top-up for an existing eSIM."
    )
    amount_mnt = models.PositiveIntegerField()
    description = models.CharField(max_length=255, blank=True)
    company_register = models.CharField(max_length=16, blank=True, help_text="Optional, for an e-barimt later.")
    language = models.CharField(max_length=8, default="mn", help_text="Shopper's language at checkout (for e-mails).")
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING, db_index=True)

    # Our merchant reference. QPay does not enforce its uniqueness; we do.
    sender_invoice_no = models.CharField(max_length=45, unique=True)
    # Null while the QPay invoice is being created (the row exists first so double-submits collide on it).
    qpay_invoice_id = models.CharField(max_length=64, unique=True, null=True, blank=True)
    # QPay returns these only at creation; GET /invoice cannot give them again.
    qr_text = models.TextField(blank=True)
    qr_image = models.TextField(blank=True, help_text="Bare base64 PNG as QPay returns it (no data: prefix).")
    short_url = models.URLField(max_length=255, blank=True)
    bank_urls = models.JSONField(default=list, blank=True, help_text="QPay `urls`: [{name, description, logo, link}].")

    paid_amount = models.DecimalField(max_digits=14, decimal_places=2, null=True, blank=True)
    paid_at = models.DateTimeField(null=True, blank=True)
    expires_at = models.DateTimeField(db_index=True)
    qpay_cancelled_at = models.DateTimeField(null=True, blank=True, help_text="When we cancelled it at QPay.")
    last_checked_at = models.DateTimeField(null=True, blank=True, help_text="Last payment/check call to QPay.")
    check_count = models.PositiveIntegerField(default=0)
    # The payment-check schedule lives here, not only in the broker (payments/schedules.py): the
    # sweep asks QPay about every invoice whose next check is due, so a lost Celery message or a
    # Redis restart delays a check by at most one sweep period.
    next_check_at = models.DateTimeField(
        null=True,
        blank=True,
        help_text="When the sweep next asks QPay about this invoice (pending, or a late "
        "check after expiry/cancel); empty = no check planned.",
    )
    closed_at = models.DateTimeField(null=True, blank=True, help_text="When it was expired or cancelled.")

    # Money that arrived where it should not have (after cancel/expiry, short payment, overpayment...).
    needs_staff_attention = models.BooleanField(default=False, db_index=True)
    staff_attention_reason = models.CharField(max_length=255, blank=True)

    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at"]
        permissions = [
            ("recheck_payment", _("Can re-check a payment at QPay")),
            ("cancel_invoice_at_qpay", _("Can cancel an unpaid invoice at QPay")),
        ]
        constraints = [
            # One open invoice per owner (browser session), shopper, bundle and target eSIM: a
            # double click collides here and gets the existing invoice instead of a second one.
            # Another browser or API caller with the same phone/e-mail/plan gets its own.
            models.UniqueConstraint(
                fields=["owner_key", "customer", "bundle", "topup_iccid"],
                condition=Q(status="PENDING") & Q(owner_key__startswith="s:"),
                name="uniq_open_invoice_per_session_customer_bundle",
            ),
            # One invoice per Idempotency-Key, ever: concurrent retries with one key collide here.
            models.UniqueConstraint(
                fields=["owner_key"], condition=Q(owner_key__startswith="i:"), name="uniq_invoice_per_idempotency_key"
            ),
            models.CheckConstraint(condition=Q(amount_mnt__gt=0), name="invoice_amount_positive"),
        ]
        indexes = [
            # The sweep's "which checks are due": only invoices with a planned check are indexed.
            models.Index(
                fields=["next_check_at"], condition=Q(next_check_at__isnull=False), name="invoice_next_check_due"
            ),
        ]

    def __str__(self):
        return f"{self.sender_invoice_no} {self.amount_mnt}₮ {self.status}"

    @property
    def is_payable(self) -> bool:
        return self.status == self.Status.PENDING and bool(self.qpay_invoice_id)


IS = Invoice.Status
# name -> (states it may start from, state it ends in). "open" ("" -> PENDING) is the row's creation.
INVOICE_TRANSITIONS = StateTable(
    Invoice,
    record="payments.InvoiceTransition",
    transitions={
        # QPay's payment/check shows PAID rows covering the amount.
        "mark_paid": ([IS.PENDING], IS.PAID),
        # Staff accept money that arrived after cancel/expiry.
        "accept_late_payment": ([IS.EXPIRED, IS.CANCELLED], IS.PAID),
        # Expiry reached; cancelled at QPay first.
        "expire": ([IS.PENDING], IS.EXPIRED),
        # QPay unreachable at creation, superseded, or staff.
        "cancel": ([IS.PENDING], IS.CANCELLED),
    },
)
del IS


class Payment(models.Model):
    """A payment row as QPay reported it (payment/check or payment/get)."""

    invoice = models.ForeignKey(Invoice, on_delete=models.PROTECT, related_name="payments")
    qpay_payment_id = models.CharField(max_length=64, unique=True)
    status = models.CharField(max_length=16, help_text="QPay payment_status: NEW, FAILED, PAID, PARTIAL, REFUNDED...")
    amount = models.DecimalField(max_digits=14, decimal_places=2)
    currency = models.CharField(max_length=3, default="MNT")
    payment_type = models.CharField(max_length=16, blank=True, help_text="P2P or CARD.")
    paid_at = models.DateTimeField(null=True, blank=True)
    raw = models.JSONField(default=dict)
    first_seen_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["first_seen_at"]

    def __str__(self):
        return f"{self.qpay_payment_id} {self.amount} {self.status}"


class QPayCallback(models.Model):
    """Raw inbox: every authentic callback, stored before any processing and kept whatever happens."""

    class Outcome(models.TextChoices):
        RECEIVED = "RECEIVED", "received"
        PAID = "PAID", "paid (this callback won)"
        DUPLICATE = "DUPLICATE", "duplicate"
        NOT_PAID = "NOT_PAID", "not paid"
        AMOUNT_MISMATCH = "AMOUNT_MISMATCH", "amount mismatch"
        VERIFY_FAILED = "VERIFY_FAILED", "verify failed"
        LATE_PAYMENT = "LATE_PAYMENT", "paid after cancel/expiry (flagged)"
        RATE_LIMITED = "RATE_LIMITED", "stored, not verified: over the per-invoice limit"

    invoice = models.ForeignKey(Invoice, on_delete=models.PROTECT, related_name="callbacks")
    method = models.CharField(max_length=8)
    query_string = models.TextField(blank=True)
    body = models.TextField(blank=True, help_text="Ignored for processing; kept for forensics (truncated).")
    qpay_payment_id = models.CharField(max_length=64, blank=True, db_index=True)
    remote_addr = models.GenericIPAddressField(null=True, blank=True)
    user_agent = models.CharField(max_length=255, blank=True)
    outcome = models.CharField(max_length=16, choices=Outcome.choices, default=Outcome.RECEIVED)
    detail = models.TextField(blank=True)
    received_at = models.DateTimeField(auto_now_add=True, db_index=True)
    processed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-received_at"]
        verbose_name = "QPay callback"

    def __str__(self):
        return f"{self.invoice_id} {self.qpay_payment_id} {self.outcome}"


class InvoiceTransition(models.Model):
    """Append-only history of invoice status changes (and staff flags)."""

    invoice = models.ForeignKey(Invoice, on_delete=models.CASCADE, related_name="transitions")
    from_status = models.CharField(max_length=16)
    to_status = models.CharField(max_length=16)
    name = models.CharField(max_length=32, help_text="Transition name: mark_paid, expire, cancel, flag_for_staff...")
    cause = models.CharField(max_length=255, blank=True)
    actor = models.CharField(max_length=150, help_text='"callback", "task", "shopper", "system" or "staff:<username>".')
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["created_at", "id"]

    def __str__(self):
        return f"{self.invoice_id}: {self.from_status} → {self.to_status} ({self.name}, {self.actor})"


class Refund(models.Model):
    """Money returned for one QPay payment, recorded BEFORE QPay is asked (never refunded twice).

    Card payments go back through QPay's API (DELETE /v2/payment/refund/<payment_id>), which
    returns the whole payment: an API refund is always the payment's full amount. Bank-app (P2P)
    payments cannot be refunded by API at all: staff return the money in QPay's merchant portal
    and record it here as MANUAL (any amount up to what is left). A REQUESTED/UNKNOWN API refund
    blocks a second one for the same payment (partial unique constraint) until staff have checked
    the payment at QPay.
    """

    class Method(models.TextChoices):
        QPAY_API = "QPAY_API", _("card refund through QPay")
        MANUAL = "MANUAL", _("returned by hand in QPay's merchant portal")

    class Status(models.TextChoices):
        REQUESTED = "REQUESTED", _("requested (QPay is being asked)")
        UNKNOWN = "UNKNOWN", _("outcome unknown (check the payment at QPay)")
        SUCCEEDED = "SUCCEEDED", _("refunded")
        FAILED = "FAILED", _("refused by QPay")

    class ESIMGoOutcome(models.TextChoices):
        NOT_APPLICABLE = "", _("not applicable")
        REQUESTED = "REQUESTED", _("revoke requested")
        REVOKED = "REVOKED", _("unused bundle revoked at eSIM Go")
        KEPT_INSTALLED = "KEPT_INSTALLED", _("eSIM installed: bundle kept")
        NOT_ALLOWED = "NOT_ALLOWED", _("eSIM Go refused the revoke")
        FAILED = "FAILED", _("revoke failed (eSIM Go unreachable)")
        UNKNOWN = "UNKNOWN", _("revoke outcome unknown (check in the eSIM Go portal)")

    # In flight or unresolved: a person must look (the needs-attention queue lists them).
    NEEDS_STAFF_STATUSES = (Status.REQUESTED, Status.UNKNOWN)
    # Count against the refundable amount (a FAILED refund returned nothing).
    COUNTED_STATUSES = (Status.REQUESTED, Status.UNKNOWN, Status.SUCCEEDED)

    invoice = models.ForeignKey(Invoice, on_delete=models.PROTECT, related_name="refunds")
    payment = models.ForeignKey(Payment, on_delete=models.PROTECT, related_name="refunds")
    amount_mnt = models.PositiveIntegerField()
    method = models.CharField(max_length=16, choices=Method.choices)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.REQUESTED, db_index=True)
    note = models.CharField(max_length=500, blank=True)
    # From the refund form: a double-submitted form finds the first refund instead of making a second.
    idempotency_key = models.UUIDField(unique=True)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    requested_by_username = models.CharField(max_length=150)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    completed_at = models.DateTimeField(null=True, blank=True)
    qpay_response = models.JSONField(default=dict, blank=True)
    error = models.CharField(max_length=500, blank=True)
    esimgo_outcome = models.CharField(max_length=16, choices=ESIMGoOutcome.choices, blank=True, default="")
    esimgo_detail = models.CharField(max_length=500, blank=True)

    class Meta:
        ordering = ["created_at", "id"]
        permissions = [("refund_payment", _("Can refund payments"))]
        constraints = [
            models.CheckConstraint(condition=Q(amount_mnt__gt=0), name="refund_amount_positive"),
            # QPay refunds a card payment whole and once: one live or done API refund per payment.
            models.UniqueConstraint(
                fields=["payment"],
                condition=Q(method="QPAY_API", status__in=["REQUESTED", "UNKNOWN", "SUCCEEDED"]),
                name="one_api_refund_per_payment",
            ),
        ]

    def __str__(self):
        return (
            f"refund {self.amount_mnt}₮ of {self.payment.qpay_payment_id if self.payment_id else '?'} ({self.status})"
        )


RS = Refund.Status
# A refund is created REQUESTED (card, QPay is asked next) or SUCCEEDED (manual); only QPay's
# answer, or a look at the payment at QPay, settles a REQUESTED/UNKNOWN one (staff.refunds).
REFUND_TRANSITIONS = StateTable(
    Refund,
    record="payments.RefundTransition",
    transitions={
        "succeed": ([RS.REQUESTED, RS.UNKNOWN], RS.SUCCEEDED),
        "fail": ([RS.REQUESTED, RS.UNKNOWN], RS.FAILED),
        # No answer from QPay (timeout, 5xx): staff must check the payment at QPay.
        "lose_answer": ([RS.REQUESTED, RS.UNKNOWN], RS.UNKNOWN),
    },
)
del RS


class RefundTransition(TransitionRecord):
    """Append-only history of refund status changes."""

    refund = models.ForeignKey(Refund, on_delete=models.CASCADE, related_name="transitions")

    class Meta(TransitionRecord.Meta):
        pass


class EbarimtReceipt(models.Model):
    """The e-barimt (VAT receipt) QPay issued for an invoice's payment (POST /v2/ebarimt_v3/create).

    One per invoice. Issued after the payment is verified, in its own task: a failure is retried
    and flagged for staff, never holding up the eSIM. A full refund cancels it.
    """

    class Status(models.TextChoices):
        PENDING = "PENDING", _("to be issued")
        ISSUING = "ISSUING", _("being issued")
        ISSUED = "ISSUED", _("issued")
        FAILED = "FAILED", _("failed (will be retried)")
        CANCELLED = "CANCELLED", _("cancelled")
        CANCEL_FAILED = "CANCEL_FAILED", _("cancel failed")

    class ReceiverType(models.TextChoices):
        CITIZEN = "CITIZEN", _("citizen (phone number)")
        COMPANY = "COMPANY", _("company (register number)")

    NEEDS_STAFF_STATUSES = (Status.FAILED, Status.CANCEL_FAILED)

    invoice = models.OneToOneField(Invoice, on_delete=models.PROTECT, related_name="ebarimt")
    payment = models.ForeignKey(Payment, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING, db_index=True)
    receiver_type = models.CharField(max_length=8, choices=ReceiverType.choices)
    receiver = models.CharField(max_length=32)
    attempts = models.PositiveIntegerField(default=0)
    last_error = models.CharField(max_length=500, blank=True)
    claimed_at = models.DateTimeField(null=True, blank=True, help_text="When a worker started the QPay call.")
    # Set by a full refund: never issue it, or cancel it as soon as it is issued.
    cancel_requested = models.BooleanField(default=False)
    qpay_receipt_id = models.CharField(max_length=64, blank=True)
    receipt_id = models.CharField(max_length=64, blank=True, help_text="ebarimt_receipt_id (33 digits).")
    lottery = models.CharField(max_length=32, blank=True)
    qr_data = models.TextField(blank=True)
    amount = models.DecimalField(max_digits=14, decimal_places=2, null=True, blank=True)
    vat_amount = models.DecimalField(max_digits=14, decimal_places=4, null=True, blank=True)
    raw = models.JSONField(default=dict, blank=True)
    issued_at = models.DateTimeField(null=True, blank=True)
    cancelled_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = "e-barimt receipt"

    def __str__(self):
        return f"e-barimt {self.lottery or self.status} for {self.invoice_id}"


ES = EbarimtReceipt.Status
# A receipt is created PENDING in the transaction that marks its invoice PAID (payments.ebarimt).
EBARIMT_TRANSITIONS = StateTable(
    EbarimtReceipt,
    record="payments.EbarimtReceiptTransition",
    transitions={
        # A worker takes the QPay call; ISSUING only when the last worker is presumed dead.
        "claim": ([ES.PENDING, ES.FAILED, ES.ISSUING], ES.ISSUING),
        "fail_without_payment": ([ES.PENDING, ES.FAILED, ES.ISSUING], ES.FAILED),
        "fail": ([ES.ISSUING], ES.FAILED),
        # QPay's answer wins over whatever happened to the row while it was asked (a stale
        # re-claim, a refund's cancel): the receipt exists at QPay, and a pending cancel follows.
        "record_issued": (list(ES), ES.ISSUED),
        # A full refund before the receipt was issued: it never will be.
        "cancel_unissued": ([ES.PENDING, ES.ISSUING, ES.FAILED], ES.CANCELLED),
        "cancel_issued": ([ES.ISSUED, ES.CANCEL_FAILED], ES.CANCELLED),
        "cancel_failed": ([ES.ISSUED, ES.CANCEL_FAILED], ES.CANCEL_FAILED),
        "staff_retry": ([ES.FAILED], ES.PENDING),
    },
)
del ES


class EbarimtReceiptTransition(TransitionRecord):
    """Append-only history of e-barimt receipt status changes."""

    receipt = models.ForeignKey(EbarimtReceipt, on_delete=models.CASCADE, related_name="transitions")

    class Meta(TransitionRecord.Meta):
        pass


class RemainderInvoice(models.Model):
    """A second QPay invoice for what a short payment left unpaid, asked for by the shopper.

    The first QPay invoice's QR still asks for the full amount (paying it again would take too
    much), so the payment page offers only this one. Payments on it count towards the parent
    invoice: verification checks every QPay invoice of the parent and sums their PAID rows.
    """

    invoice = models.ForeignKey(Invoice, on_delete=models.PROTECT, related_name="remainders")
    amount_mnt = models.PositiveIntegerField()
    sender_invoice_no = models.CharField(max_length=45, unique=True)
    # Null while it is being created at QPay (the row exists first: a double-click collides on it).
    qpay_invoice_id = models.CharField(max_length=64, unique=True, null=True, blank=True)
    qr_text = models.TextField(blank=True)
    qr_image = models.TextField(blank=True, help_text="Bare base64 PNG as QPay returns it.")
    short_url = models.URLField(max_length=255, blank=True)
    bank_urls = models.JSONField(default=list, blank=True)
    qpay_cancelled_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["created_at", "id"]
        constraints = [
            # One remainder invoice per amount still due: a double-click gets the same one.
            models.UniqueConstraint(fields=["invoice", "amount_mnt"], name="uniq_remainder_per_amount_due"),
            models.CheckConstraint(condition=Q(amount_mnt__gt=0), name="remainder_amount_positive"),
        ]

    def __str__(self):
        return f"remainder {self.amount_mnt}₮ of {self.invoice_id}"
