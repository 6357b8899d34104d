"""Customers, QPay invoices, payments, the raw callback inbox and invoice transitions.

The invoice status only changes through payments.services (named transitions); every change
writes an InvoiceTransition row with its cause and actor.
"""
import uuid

from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _


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


class Invoice(models.Model):
    """One QPay invoice for one bundle. `id` is the public internalInvoiceId (a capability)."""

    class Status(models.TextChoices):
        PENDING = "PENDING", _("Waiting for payment")
        PAID = "PAID", _("Paid")
        EXPIRED = "EXPIRED", _("Expired")
        CANCELLED = "CANCELLED", _("Cancelled")

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    customer = models.ForeignKey(Customer, on_delete=models.PROTECT, related_name="invoices")
    bundle = models.ForeignKey("catalog.Bundle", on_delete=models.PROTECT, related_name="invoices")
    topup_iccid = models.CharField(max_length=32, blank=True, help_text="Set when this buys a top-up for an existing eSIM.")
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

    # Money that arrived where it should not have (after cancel/expiry, short payment, overpayment...).
    needs_staff_attention = models.BooleanField(default=False, db_index=True)
    staff_attention_reason = models.CharField(max_length=255, blank=True)

    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            # One open invoice per shopper, bundle and target eSIM: a double-submit collides here
            # and gets the existing invoice instead of a second one.
            models.UniqueConstraint(
                fields=["customer", "bundle", "topup_iccid"],
                condition=Q(status="PENDING"),
                name="uniq_open_invoice_per_customer_bundle",
            ),
            models.CheckConstraint(condition=Q(amount_mnt__gt=0), name="invoice_amount_positive"),
        ]

    def __str__(self):
        return f"{self.sender_invoice_no} {self.amount_mnt}₮ {self.status}"

    @property
    def is_payable(self) -> bool:
        return self.status == self.Status.PENDING and bool(self.qpay_invoice_id)


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
