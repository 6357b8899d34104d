"""Orders (one per paid invoice), eSIMs, provisioning attempts, e-mails and their state tables.

A state only changes through a named transition of the model's table below, applied by
esimshop.state_machine (orders through `Order.apply_transition`, called by orders.services);
every change writes a history row (OrderTransition, ProvisioningAttemptTransition,
EmailLogTransition).
Everything that must happen at most once is guarded by a DB constraint, not by code:
one order per invoice, one eSIM per ICCID, one order per eSIM Go order reference, one e-mail
per (order, kind, event), one callback row per body hash, one use per magic-link token.
"""

import uuid

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from catalog.lpa import build_lpa
from catalog.lpa import smdp_host as bare_smdp_host
from esimshop import state_machine
from esimshop.state_machine import StateTable, TransitionRecord
from payments import status_cache
from payments.models import new_access_token


class ESim(models.Model):
    """An eSIM profile at eSIM Go. Top-ups add bundles to the same row (same ICCID)."""

    iccid = models.CharField(max_length=32, unique=True)
    matching_id = models.CharField(max_length=128)
    smdp_address = models.CharField(max_length=255)
    customer = models.ForeignKey("payments.Customer", on_delete=models.PROTECT, related_name="esims")
    customer_ref_set_at = models.DateTimeField(
        null=True, blank=True, help_text="When eSIM Go's customerRef was set to our order id (PUT /esims)."
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = "eSIM"
        verbose_name_plural = "eSIMs"
        # Support sees activation codes masked; finance (and superusers) may reveal one, audited.
        permissions = [("reveal_activation_code", _("Can reveal an eSIM's activation code"))]

    def __str__(self):
        return self.iccid

    @property
    def masked_matching_id(self) -> str:
        """The activation code as support sees it: its last four characters only."""
        return "•" * 8 + self.matching_id[-4:] if self.matching_id else ""

    @property
    def lpa(self) -> str:
        return build_lpa(self.smdp_address, self.matching_id)

    @property
    def smdp_host(self) -> str:
        """SM-DP+ address as a shopper types it (eSIM Go sometimes sends a scheme)."""
        return bare_smdp_host(self.smdp_address)


class Order(models.Model):
    class Kind(models.TextChoices):
        NEW = "NEW", _("New eSIM")
        TOPUP = "TOPUP", _("Top-up")

    class Status(models.TextChoices):
        PAID = "PAID", _("Paid")
        PROVISIONING = "PROVISIONING", _("Preparing your eSIM")
        DELIVERED = "DELIVERED", _("Ready")
        NEEDS_ATTENTION = "NEEDS_ATTENTION", _("Delayed")
        REFUNDED = "REFUNDED", _("Refunded")

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    # The capability in the eSIM page URL (public_id is logged and sent to eSIM Go as customerRef).
    access_token = models.CharField(max_length=64, unique=True, default=new_access_token, editable=False)
    invoice = models.OneToOneField("payments.Invoice", on_delete=models.PROTECT, related_name="order")
    bundle = models.ForeignKey("catalog.Bundle", on_delete=models.PROTECT, related_name="orders")
    customer = models.ForeignKey("payments.Customer", on_delete=models.PROTECT, related_name="orders")
    kind = models.CharField(max_length=8, choices=Kind.choices, default=Kind.NEW)
    topup_iccid = models.CharField(max_length=32, blank=True, help_text="Target eSIM of a top-up.")
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PAID, db_index=True)
    language = models.CharField(max_length=8, default="mn", help_text="Language for the shopper's e-mails.")

    esim = models.ForeignKey(ESim, null=True, blank=True, on_delete=models.PROTECT, related_name="orders")
    esimgo_order_reference = models.CharField(max_length=64, unique=True, null=True, blank=True)
    # Parts of the eSIM Go answer kept for staff (total/currency/pricePerUnit, statusMessage).
    esimgo_order = models.JSONField(default=dict, blank=True)

    attention_reason = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    updated_at = models.DateTimeField(auto_now=True)
    delivered_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        permissions = [
            ("retry_provisioning", _("Can retry provisioning")),
            ("deliver_manually", _("Can mark an order delivered by hand")),
        ]
        constraints = [
            # A delivered order always has its eSIM; a new-eSIM order never re-uses a reference.
            models.CheckConstraint(
                condition=~Q(status="DELIVERED") | Q(esim__isnull=False), name="order_delivered_has_esim"
            ),
            models.CheckConstraint(
                condition=Q(kind="NEW", topup_iccid="") | Q(kind="TOPUP") & ~Q(topup_iccid=""),
                name="order_topup_has_iccid",
            ),
        ]

    def __str__(self):
        return f"order {self.public_id} {self.status}"

    def get_absolute_url(self):
        return reverse("orders:esim-detail", args=[self.access_token])

    @property
    def is_in_progress(self) -> bool:
        return self.status in (self.Status.PAID, self.Status.PROVISIONING)

    def apply_transition(self, name: str, *, actor: str, cause: str = "", actor_user=None) -> "OrderTransition":
        """Move along `name` (see TRANSITIONS) and record it, saving every field the caller set on
        this (locked) order too."""
        changes = {"delivered_at": timezone.now()} if TRANSITIONS.step(name).target == self.Status.DELIVERED else {}
        record = state_machine.apply_transition(
            self, name, by=actor, reason=cause, user=actor_user, save_all=True, **changes
        )
        # The invoice's public status reports the order's state (PROCESSED / FAILED).
        status_cache.invalidate(self.invoice_id)
        return record


# The one exception of esimshop.state_machine, under the name this module has always given it.
InvalidTransition = state_machine.IllegalTransition


S = Order.Status
# name -> (allowed source states, target state). "create_paid" ("" -> PAID) is the row's creation.
TRANSITIONS = StateTable(
    Order,
    record="orders.OrderTransition",
    transitions={
        "start_provisioning": ({S.PAID}, S.PROVISIONING),
        "deliver": ({S.PAID, S.PROVISIONING}, S.DELIVERED),
        "flag_for_attention": ({S.PAID, S.PROVISIONING}, S.NEEDS_ATTENTION),
        "staff_retry_provisioning": ({S.NEEDS_ATTENTION}, S.PROVISIONING),
        # The hourly check found the eSIM Go order of a purchase whose outcome was unknown.
        "adopt_found_order": ({S.NEEDS_ATTENTION}, S.PROVISIONING),
        "staff_deliver": ({S.NEEDS_ATTENTION}, S.DELIVERED),
        "staff_refund": ({S.NEEDS_ATTENTION}, S.REFUNDED),
        # A full refund of a delivered order (staff.refunds): My eSIMs then shows it as refunded.
        "refund_delivered": ({S.DELIVERED}, S.REFUNDED),
    },
)
del S


class OrderTransition(models.Model):
    """Append-only history: which named transition, from/to, why, who (task/callback/sweep/staff) and when."""

    order = models.ForeignKey(Order, on_delete=models.CASCADE, related_name="transitions")
    name = models.CharField(max_length=32)
    from_status = models.CharField(max_length=16, blank=True)
    to_status = models.CharField(max_length=16)
    cause = models.CharField(max_length=500, blank=True)
    actor = models.CharField(max_length=150, help_text='"task", "callback", "sweep", "system" or "staff:<username>".')
    actor_user = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        ordering = ["created_at", "id"]

    def __str__(self):
        return f"{self.order_id}: {self.from_status or '∅'} → {self.to_status} ({self.name}, {self.actor})"


class ProvisioningAttempt(models.Model):
    """One try at buying the order's eSIM at eSIM Go, committed BEFORE the purchase call.

    An attempt left REQUESTED/UNKNOWN means "eSIM Go may have said yes": the next run must look
    the order up at eSIM Go before it may buy again.
    """

    class Outcome(models.TextChoices):
        REQUESTED = "REQUESTED", "requested (call in flight or worker died)"
        UNKNOWN = "UNKNOWN", "outcome unknown (timeout/5xx), reconcile before retrying"
        ORDERED = "ORDERED", "eSIM Go order exists (reference known), eSIM details pending"
        SUCCEEDED = "SUCCEEDED", "eSIM stored"
        NOT_PLACED = "NOT_PLACED", "eSIM Go did not place the order"
        RECONCILED_ABSENT = "RECONCILED_ABSENT", "closed without an eSIM Go order (staff chose to buy again)"
        SUPERSEDED = "SUPERSEDED", "order was delivered by another attempt"

    UNRESOLVED = (Outcome.REQUESTED, Outcome.UNKNOWN, Outcome.ORDERED)

    order = models.ForeignKey(Order, on_delete=models.CASCADE, related_name="attempts")
    marker = models.UUIDField(
        default=uuid.uuid4, unique=True, editable=False, help_text="Client-side idempotency marker."
    )
    outcome = models.CharField(max_length=20, choices=Outcome.choices, default=Outcome.REQUESTED)
    actor = models.CharField(max_length=150)
    started_at = models.DateTimeField(default=timezone.now)
    finished_at = models.DateTimeField(null=True, blank=True)
    esimgo_order_reference = models.CharField(max_length=64, blank=True)
    adopted = models.BooleanField(default=False, help_text="Found by reconciliation rather than by our own response.")
    response = models.JSONField(default=dict, blank=True)
    error = models.TextField(blank=True)
    lookups = models.JSONField(
        default=list,
        blank=True,
        help_text="Evidence: each look-up of this purchase in eSIM Go's order list (when, window, found).",
    )

    class Meta:
        ordering = ["started_at", "id"]
        constraints = [
            # At most one unresolved attempt per order: a second concurrent purchase cannot start.
            models.UniqueConstraint(
                fields=["order"],
                condition=Q(outcome__in=["REQUESTED", "UNKNOWN", "ORDERED"]),
                name="uniq_unresolved_attempt_per_order",
            ),
        ]

    def __str__(self):
        return f"attempt {self.marker} {self.outcome}"


A = ProvisioningAttempt.Outcome
# An attempt is created REQUESTED and committed before eSIM Go is called (orders.provisioning).
# Every move is a compare-and-set (state_machine.try_transition): the run that moves it first wins.
ATTEMPT_TRANSITIONS = StateTable(
    ProvisioningAttempt,
    field="outcome",
    record="orders.ProvisioningAttemptTransition",
    transitions={
        # The reference is known: from our own answer, or adopted from eSIM Go's order list.
        "ordered": (ProvisioningAttempt.UNRESOLVED, A.ORDERED),
        # Timeout, 5xx or a garbled answer; or an adopted reference turned out to be another order's.
        "outcome_unknown": (ProvisioningAttempt.UNRESOLVED, A.UNKNOWN),
        "not_placed": (ProvisioningAttempt.UNRESOLVED, A.NOT_PLACED),
        "succeeded": (ProvisioningAttempt.UNRESOLVED, A.SUCCEEDED),
        "superseded": (ProvisioningAttempt.UNRESOLVED, A.SUPERSEDED),
        # Staff chose to buy again after the look-ups found nothing.
        "reconciled_absent": ([A.REQUESTED, A.UNKNOWN], A.RECONCILED_ABSENT),
    },
)
del A


class ProvisioningAttemptTransition(TransitionRecord):
    """Append-only history of provisioning attempt outcomes."""

    attempt = models.ForeignKey(ProvisioningAttempt, on_delete=models.CASCADE, related_name="transitions")

    class Meta(TransitionRecord.Meta):
        pass


class EmailLog(models.Model):
    """One row per e-mail event, claimed before sending: the unique key makes "never twice" a DB fact."""

    class Kind(models.TextChoices):
        PAYMENT_RECEIVED = "payment_received", "payment received"
        ESIM_READY = "esim_ready", "eSIM ready"
        PROVISIONING_DELAYED = "provisioning_delayed", "provisioning delayed"
        STAFF_ALERT = "staff_alert", "staff alert"
        USAGE_80 = "usage_80", "80 % used"
        USAGE_100 = "usage_100", "100 % used"

    class Status(models.TextChoices):
        PENDING = "PENDING", "pending"
        SENDING = "SENDING", "being sent (claimed by a worker)"
        SENT = "SENT", "sent"
        FAILED = "FAILED", "failed (retries exhausted)"
        SKIPPED = "SKIPPED", "skipped (no address)"

    order = models.ForeignKey(Order, on_delete=models.CASCADE, related_name="emails")
    kind = models.CharField(max_length=24, choices=Kind.choices)
    event_key = models.CharField(
        max_length=128, blank=True, default="", help_text="e.g. the assignment id of a usage alert."
    )
    to = models.CharField(max_length=1000)
    status = models.CharField(max_length=8, choices=Status.choices, default=Status.PENDING, db_index=True)
    attempts = models.PositiveIntegerField(default=0)
    last_error = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    claimed_at = models.DateTimeField(null=True, blank=True)
    sent_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["created_at", "id"]
        constraints = [
            models.UniqueConstraint(fields=["order", "kind", "event_key"], name="uniq_email_per_order_event"),
        ]

    def __str__(self):
        return f"{self.kind} {self.order_id} {self.status}"


E = EmailLog.Status
# A row is created PENDING (or SKIPPED: no address) when the event is claimed (orders.services).
# Senders claim it by compare-and-set (state_machine.try_transition): exactly one sends.
EMAIL_TRANSITIONS = StateTable(
    EmailLog,
    record="orders.EmailLogTransition",
    transitions={
        "claim": ([E.PENDING], E.SENDING),
        # The send failed; the task retries.
        "release": ([E.SENDING], E.PENDING),
        # The worker died mid-send (the sweep, much later): at worst one duplicate mail.
        "reopen": ([E.SENDING], E.PENDING),
        # The mail went out: whatever a sweep did to the row meanwhile, it is SENT.
        "mark_sent": ([E.SENDING, E.PENDING, E.FAILED], E.SENT),
        "give_up": ([E.PENDING], E.FAILED),
    },
)
del E


class EmailLogTransition(TransitionRecord):
    """Append-only history of e-mail send states."""

    email = models.ForeignKey(EmailLog, on_delete=models.CASCADE, related_name="transitions")

    class Meta(TransitionRecord.Meta):
        pass


class MagicLinkToken(models.Model):
    """A "My eSIMs" sign-in link. Only the SHA-256 of the token is stored; used_at makes it single-use.

    The row is created when the shopper asks (with a placeholder hash nobody knows the token of).
    """

    token_hash = models.CharField(max_length=64, unique=True)
    email = models.EmailField(max_length=254, db_index=True)
    created_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField()
    used_at = models.DateTimeField(null=True, blank=True)
    # The link itself is generated by the sending task (the raw token never crosses the broker);
    # sent_at marks that it was handled, so a re-run task sends nothing twice.
    sent_at = models.DateTimeField(null=True, blank=True)
    skipped = models.BooleanField(default=False, help_text="No orders for this address: nothing was sent.")
    request_ip = models.GenericIPAddressField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self):
        return f"magic link for {self.email} ({'used' if self.used_at else 'unused'})"


class ESIMGoCallback(models.Model):
    """Raw inbox of authentic eSIM Go usage callbacks, deduplicated by the hash of the raw body."""

    body_sha256 = models.CharField(max_length=64, unique=True)
    body = models.TextField()
    alert_type = models.CharField(max_length=64, blank=True, help_text="alertType or event.")
    iccid = models.CharField(max_length=32, blank=True, db_index=True)
    received_at = models.DateTimeField(auto_now_add=True, db_index=True)
    processed_at = models.DateTimeField(null=True, blank=True)
    result = models.CharField(max_length=255, blank=True)

    class Meta:
        ordering = ["-received_at"]
        verbose_name = "eSIM Go callback"

    def __str__(self):
        return f"{self.alert_type} {self.iccid} {self.received_at:%Y-%m-%d %H:%M:%S}"
