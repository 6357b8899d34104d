"""The catalogue as synced from eSIM Go.

Bundles are never deleted (orders point at them); a bundle that disappears upstream is
retired (`is_available=False`). Countries are keyed by ISO 3166-1 alpha-2 and get their
display names (translated) from django-countries.
"""

from django.core.validators import MinValueValidator
from django.db import models
from django.utils.translation import gettext_lazy as _
from django_countries.fields import CountryField


class Region(models.Model):
    """An eSIM Go region name as it appears on country objects ("Europe", "Asia", ...)."""

    name = models.CharField(max_length=64, unique=True)
    slug = models.SlugField(max_length=64, unique=True)

    class Meta:
        ordering = ["name"]

    def __str__(self):
        return self.name


class Country(models.Model):
    iso = CountryField(primary_key=True)
    region = models.ForeignKey(Region, null=True, blank=True, on_delete=models.SET_NULL, related_name="countries")
    # Denormalised for fast listing pages; recomputed by every sync.
    bundle_count = models.PositiveIntegerField(default=0)
    min_price_mnt = models.PositiveIntegerField(null=True, blank=True)

    class Meta:
        verbose_name_plural = "countries"

    def __str__(self):
        return f"{self.iso.name} ({self.iso.code})"


class Bundle(models.Model):
    name = models.CharField(max_length=128, unique=True, help_text="eSIM Go bundle name (order item).")
    description = models.CharField(max_length=512, blank=True)
    groups = models.JSONField(default=list, blank=True)
    data_amount_mb = models.IntegerField(help_text="MB (decimal); -1 when unlimited.")
    duration_days = models.PositiveIntegerField()
    unlimited = models.BooleanField(default=False)
    speed = models.JSONField(default=list, blank=True)
    autostart = models.BooleanField(default=False)
    image_url = models.URLField(max_length=512, blank=True)
    billing_type = models.CharField(max_length=32, blank=True)

    # Provider cost: a decimal in the organisation's currency, stored as received.
    price = models.DecimalField(max_digits=12, decimal_places=4)
    currency = models.CharField(max_length=3, default="USD")

    # Retail price in integer MNT: computed by the sync, or set by staff.
    computed_price_mnt = models.PositiveIntegerField()
    price_override_mnt = models.PositiveIntegerField(
        null=True,
        blank=True,
        validators=[MinValueValidator(1)],
        help_text=_("Staff override of the retail price in MNT; empty = computed."),
    )

    countries = models.ManyToManyField(Country, through="BundleCountry", related_name="bundles", blank=True)
    is_available = models.BooleanField(default=True, db_index=True)
    retired_at = models.DateTimeField(null=True, blank=True)

    # Hash of the upstream bundle payload, so a re-sync with nothing changed writes nothing.
    source_hash = models.CharField(max_length=64)
    first_seen_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]
        indexes = [models.Index(fields=["is_available", "duration_days", "data_amount_mb"])]

    def __str__(self):
        return self.name

    @property
    def price_mnt(self) -> int:
        return self.price_override_mnt if self.price_override_mnt is not None else self.computed_price_mnt


class BundleCountry(models.Model):
    """Where a bundle works. `base` = eSIM Go `countries`; `roaming` = only via `roamingEnabled`."""

    class Kind(models.TextChoices):
        BASE = "base", _("base")
        ROAMING = "roaming", _("roaming")

    bundle = models.ForeignKey(Bundle, on_delete=models.CASCADE, related_name="coverage")
    country = models.ForeignKey(Country, on_delete=models.CASCADE, related_name="coverage")
    kind = models.CharField(max_length=8, choices=Kind.choices)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["bundle", "country"], name="uniq_bundle_country")]
        indexes = [models.Index(fields=["country", "bundle"])]

    def __str__(self):
        return f"{self.bundle_id} in {self.country_id} ({self.kind})"


class BundleNetworks(models.Model):
    """The networks (operators) a bundle uses per country, from eSIM Go's per-bundle detail call.

    Kept apart from Bundle: the catalogue sync never fetches the detail (one request per bundle),
    so these rows are filled in the background within the request budget (catalog/networks.py) and
    a sync's change detection (Bundle.source_hash) stays as it is.
    """

    bundle = models.OneToOneField(Bundle, on_delete=models.CASCADE, primary_key=True, related_name="networks")
    # [{"iso": "MN", "networks": [{"name": "Unitel", "speeds": ["4G", "5G"]}]}] in eSIM Go's order.
    countries = models.JSONField(default=list, blank=True)
    fetched_at = models.DateTimeField(db_index=True)

    class Meta:
        verbose_name_plural = "bundle networks"

    def __str__(self):
        return f"networks of {self.bundle_id}"

    def by_country(self) -> dict[str, list[dict]]:
        return {entry["iso"]: entry.get("networks") or [] for entry in self.countries if entry.get("iso")}
