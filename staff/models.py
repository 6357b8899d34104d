"""The staff console's own records: the audit log of staff actions and reconciliation results.

Reconciliation keeps one row per run (its period, per-day totals and whether each provider
answered completely) and one row per distinct mismatch, identified by a fingerprint so a
problem seen by several runs stays one row: staff resolve it once, and a later run that no
longer finds it closes it by itself.
"""

from django.conf import settings
from django.contrib.contenttypes.models import ContentType
from django.db import models
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext_lazy as _


class StaffAction(models.Model):
    """Who did what to which object, when, and how it ended. Append-only."""

    class Outcome(models.TextChoices):
        DONE = "DONE", _("done")
        NOTHING_TO_DO = "NOTHING_TO_DO", _("nothing to do (already done)")
        REFUSED = "REFUSED", _("refused")
        FAILED = "FAILED", _("failed")

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="staff_actions"
    )
    # Kept as text too: the log must still say who it was after the account is deleted.
    username = models.CharField(max_length=150, db_index=True)
    action = models.CharField(max_length=64, db_index=True, help_text='e.g. "order.retry_provisioning", "refund.card".')
    content_type = models.ForeignKey(ContentType, null=True, blank=True, on_delete=models.SET_NULL)
    object_id = models.CharField(max_length=64, blank=True, db_index=True)
    object_repr = models.CharField(max_length=200, blank=True)
    outcome = models.CharField(max_length=16, choices=Outcome.choices, default=Outcome.DONE)
    message = models.CharField(max_length=500, blank=True)
    details = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = _("staff action")
        verbose_name_plural = _("staff actions (audit log)")
        indexes = [models.Index(fields=["content_type", "object_id"])]

    def __str__(self):
        return f"{self.created_at:%Y-%m-%d %H:%M} {self.username} {self.action} {self.object_repr}"


class ReconciliationRun(models.Model):
    class Status(models.TextChoices):
        RUNNING = "RUNNING", _("running")
        COMPLETE = "COMPLETE", _("complete")
        PARTIAL = "PARTIAL", _("partial (a provider did not answer fully)")
        FAILED = "FAILED", _("failed")

    period_start = models.DateField(help_text=_("First day (Ulaanbaatar time), inclusive."))
    period_end = models.DateField(help_text=_("Last day (Ulaanbaatar time), inclusive."))
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.RUNNING)
    actor = models.CharField(max_length=150, help_text='"beat", "command" or "staff:<username>".')
    started_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    started_at = models.DateTimeField(default=timezone.now, db_index=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    qpay_complete = models.BooleanField(default=False, help_text=_("QPay's payment list was read to the end."))
    esimgo_complete = models.BooleanField(default=False, help_text=_("eSIM Go's order list was read to the end."))
    qpay_payment_count = models.PositiveIntegerField(default=0)
    esimgo_order_count = models.PositiveIntegerField(default=0)
    mismatch_count = models.PositiveIntegerField(default=0)
    # [{day, gross_mnt, qpay_gross_mnt, refunds_mnt, net_mnt, esimgo_cost_usd, esimgo_cost_mnt, margin_mnt,
    #   orders, payments}] with decimals as strings; plus {"TOTAL": ...} as the last row.
    days = models.JSONField(default=list, blank=True)
    usd_to_mnt_rate = models.DecimalField(max_digits=12, decimal_places=4, null=True, blank=True)
    errors = models.TextField(blank=True)
    mismatches = models.ManyToManyField("ReconciliationMismatch", blank=True, related_name="runs")

    class Meta:
        ordering = ["-started_at", "-id"]
        verbose_name = _("reconciliation run")
        verbose_name_plural = _("reconciliation")
        permissions = [("export_reconciliation", _("Can download reconciliation CSV"))]

    def __str__(self):
        if self.period_start == self.period_end:
            return f"{self.period_start} ({self.get_status_display()})"
        return f"{self.period_start} – {self.period_end} ({self.get_status_display()})"


class ReconciliationMismatch(models.Model):
    class Kind(models.TextChoices):
        QPAY_PAID_NOT_IN_BOOKS = "QPAY_PAID_NOT_IN_BOOKS", _("paid at QPay but not in our books")
        BOOKED_NOT_AT_QPAY = "BOOKED_NOT_AT_QPAY", _("paid in our books but not at QPay")
        PAID_NO_ESIM = "PAID_NO_ESIM", _("paid but no eSIM")
        ESIMGO_ORDER_UNMATCHED = "ESIMGO_ORDER_UNMATCHED", _("eSIM Go order with no paid order")
        AMOUNT_DIFFERENCE = "AMOUNT_DIFFERENCE", _("amount difference")
        REFUND_NOT_REFLECTED = "REFUND_NOT_REFLECTED", _("refund not reflected")

    fingerprint = models.CharField(max_length=200, unique=True)
    kind = models.CharField(max_length=32, choices=Kind.choices, db_index=True)
    day = models.DateField(db_index=True)
    detail = models.CharField(max_length=500)
    invoice = models.ForeignKey("payments.Invoice", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    order = models.ForeignKey("orders.Order", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    qpay_payment_id = models.CharField(max_length=64, blank=True)
    qpay_invoice_id = models.CharField(max_length=64, blank=True)
    esimgo_order_reference = models.CharField(max_length=64, blank=True)
    expected_amount = models.DecimalField(max_digits=14, decimal_places=4, null=True, blank=True)
    actual_amount = models.DecimalField(max_digits=14, decimal_places=4, null=True, blank=True)
    currency = models.CharField(max_length=3, blank=True)
    first_seen_at = models.DateTimeField(default=timezone.now)
    last_seen_at = models.DateTimeField(default=timezone.now)
    resolved_at = models.DateTimeField(null=True, blank=True, db_index=True)
    resolved_by = models.CharField(max_length=150, blank=True, help_text='"staff:<username>" or "reconciliation".')
    resolution_note = models.CharField(max_length=500, blank=True)

    class Meta:
        ordering = ["resolved_at", "-day", "kind", "id"]
        verbose_name = _("reconciliation mismatch")
        verbose_name_plural = _("reconciliation mismatches")

    def __str__(self):
        return f"{self.day} {self.get_kind_display()}: {self.detail}"

    @property
    def is_open(self) -> bool:
        return self.resolved_at is None

    def fix_link(self) -> tuple[str, str]:
        """(label, admin URL) of the page where staff fix this mismatch."""
        if self.order_id:
            return _("Open the order"), reverse("admin:orders_order_change", args=[self.order_id])
        if self.invoice_id:
            return _("Open the invoice"), reverse("admin:payments_invoice_change", args=[self.invoice_id])
        if self.esimgo_order_reference:
            url = reverse("admin:orders_order_changelist")
            return _("Find the eSIM Go order"), f"{url}?q={self.esimgo_order_reference}"
        if self.qpay_invoice_id:
            url = reverse("admin:payments_invoice_changelist")
            return _("Find the QPay invoice"), f"{url}?q={self.qpay_invoice_id}"
        return _("Open payments"), reverse("admin:payments_payment_changelist")
