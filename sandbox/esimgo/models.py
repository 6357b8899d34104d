"""State of the sandbox eSIM Go organisation: balance, orders, eSIMs and bundle assignments.

The catalogue is not stored (see catalogue.py); everything a purchase creates is, so it
survives across requests and processes (web, Celery worker, live-server tests).
"""

from decimal import Decimal

from django.db import IntegrityError, models, transaction
from django.utils import timezone

INITIAL_BALANCE = Decimal("5000.00")


class Organisation(models.Model):
    name = models.CharField(max_length=128, default="esimshop sandbox")
    balance = models.DecimalField(max_digits=14, decimal_places=4, default=INITIAL_BALANCE)
    currency = models.CharField(max_length=3, default="USD")

    def __str__(self):
        return self.name

    @classmethod
    def locked(cls) -> "Organisation":
        """The single organisation row, locked for update (call inside a transaction)."""
        try:
            return cls.objects.select_for_update().get(pk=1)
        except cls.DoesNotExist:
            try:
                with transaction.atomic():
                    cls.objects.create(pk=1)
            except IntegrityError:  # another process created it first
                pass
            return cls.objects.select_for_update().get(pk=1)

    @classmethod
    def current(cls) -> "Organisation":
        return cls.objects.filter(pk=1).first() or cls(pk=1)


class SandboxOrder(models.Model):
    reference = models.UUIDField(unique=True)
    assigned = models.BooleanField()
    total = models.DecimalField(max_digits=14, decimal_places=4)
    currency = models.CharField(max_length=3)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    source_ip = models.CharField(max_length=64, blank=True)
    # The transaction response exactly as first returned (JSON numbers for money).
    response = models.JSONField()

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self):
        return str(self.reference)


class SandboxEsim(models.Model):
    iccid = models.CharField(max_length=22, unique=True)
    matching_id = models.CharField(max_length=64)
    smdp_address = models.CharField(max_length=128)
    pin = models.CharField(max_length=8)
    puk = models.CharField(max_length=16)
    customer_ref = models.CharField(max_length=128, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    order = models.ForeignKey(SandboxOrder, null=True, on_delete=models.SET_NULL, related_name="esims")

    class Meta:
        ordering = ["iccid"]

    def __str__(self):
        return self.iccid


class SandboxAssignment(models.Model):
    """One bundle applied to one eSIM. Usage is derived from time (usage.py), not stored,
    except `used_floor_bytes`, which the usage-callback command raises to match what it reported."""

    esim = models.ForeignKey(SandboxEsim, on_delete=models.CASCADE, related_name="assignments")
    order = models.ForeignKey(SandboxOrder, null=True, on_delete=models.SET_NULL, related_name="assignments")
    reference = models.CharField(max_length=64)
    bundle_name = models.CharField(max_length=128)
    description = models.CharField(max_length=256)
    initial_quantity = models.BigIntegerField(help_text="bytes; the daily full-speed quota when unlimited")
    unlimited = models.BooleanField(default=False)
    duration_days = models.PositiveIntegerField()
    price = models.DecimalField(max_digits=14, decimal_places=4)
    assigned_at = models.DateTimeField(default=timezone.now)
    first_used_at = models.DateTimeField()
    used_floor_bytes = models.BigIntegerField(default=0)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["assigned_at", "id"]

    def __str__(self):
        return f"{self.bundle_name} on {self.esim_id}"
