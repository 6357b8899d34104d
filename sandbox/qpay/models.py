"""State of the sandbox QPay merchant: invoices and the payments made on them."""

import uuid

from django.db import models


class SandboxInvoice(models.Model):
    class Status(models.TextChoices):
        OPEN = "OPEN"
        CLOSED = "CLOSED"  # paid in full
        CANCELED = "CANCELED"  # QPay's spelling, as observed in production

    invoice_id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    invoice_code = models.CharField(max_length=45)
    # Not unique: the real QPay accepts duplicate sender_invoice_no (docs/providers/qpay.md, Invoices).
    sender_invoice_no = models.CharField(max_length=45, db_index=True)
    invoice_receiver_code = models.CharField(max_length=45)
    invoice_description = models.CharField(max_length=255)
    amount = models.DecimalField(max_digits=14, decimal_places=2)
    callback_url = models.CharField(max_length=255)
    status = models.CharField(max_length=8, choices=Status.choices, default=Status.OPEN)
    lines = models.JSONField(default=list)
    note = models.CharField(max_length=1000, blank=True)
    qr_text = models.TextField()
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self):
        return f"{self.invoice_id} {self.amount} {self.status}"


class SandboxPayment(models.Model):
    class Status(models.TextChoices):
        PAID = "PAID"
        REFUNDED = "REFUNDED"

    class Type(models.TextChoices):
        P2P = "P2P"  # bank app / wallet transfer: refundable only by hand in the portal
        CARD = "CARD"

    payment_id = models.CharField(max_length=64, primary_key=True)
    invoice = models.ForeignKey(SandboxInvoice, on_delete=models.CASCADE, related_name="payments")
    amount = models.DecimalField(max_digits=14, decimal_places=2)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PAID)
    payment_type = models.CharField(max_length=4, choices=Type.choices, default=Type.P2P)
    wallet = models.CharField(max_length=64, default="qPay wallet")
    created_at = models.DateTimeField(auto_now_add=True)
    # What the shop answered when the sandbox called its callback_url.
    callback_status = models.IntegerField(null=True, blank=True)
    callback_body = models.CharField(max_length=255, blank=True)
    callback_error = models.CharField(max_length=255, blank=True)

    class Meta:
        ordering = ["created_at"]

    def __str__(self):
        return f"{self.payment_id} {self.amount} {self.status}"


class SandboxEbarimt(models.Model):
    """An e-barimt (VAT receipt) the sandbox QPay registered for a payment (POST /v2/ebarimt_v3/create)."""

    class Status(models.TextChoices):
        REGISTERED = "REGISTERED"
        CANCELED = "CANCELED"

    payment = models.OneToOneField(SandboxPayment, on_delete=models.CASCADE, related_name="ebarimt")
    receiver_type = models.CharField(max_length=8)
    receiver = models.CharField(max_length=32, blank=True)
    district_code = models.CharField(max_length=8, blank=True)
    classification_code = models.CharField(max_length=16, blank=True)
    lottery = models.CharField(max_length=16)
    receipt_id = models.CharField(max_length=40)
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.REGISTERED)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self):
        return f"{self.lottery} {self.status}"
