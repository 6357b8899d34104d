"""Shapes of the packages API: query parameters in, package items out (camelCase on the wire)."""

from django.utils.translation import gettext_lazy as _
from rest_framework import serializers

from catalog.selectors import DEFAULT_SORT, SORT_ORDERS, BundleFilters

MAX_DAYS = 3650


class PackageQuerySerializer(serializers.Serializer):
    country = serializers.RegexField(
        r"^[A-Za-z]{2}$",
        max_length=2,
        help_text="ISO 3166-1 alpha-2 code of the destination, e.g. MN (case-insensitive).",
        error_messages={
            "invalid": _("Give a two-letter ISO country code, e.g. MN."),
            "max_length": _("Give a two-letter ISO country code, e.g. MN."),
        },
    )
    unlimited = serializers.BooleanField(
        required=False,
        allow_null=True,
        default=None,
        help_text="true: unlimited plans only; false: fixed-data plans only.",
    )
    minDays = serializers.IntegerField(
        required=False, min_value=1, max_value=MAX_DAYS, help_text="Minimum validity in days."
    )
    maxDays = serializers.IntegerField(
        required=False, min_value=1, max_value=MAX_DAYS, help_text="Maximum validity in days."
    )
    minDataMb = serializers.IntegerField(
        required=False,
        min_value=1,
        max_value=10**7,
        help_text="Minimum data in MB (1 GB = 1000 MB); unlimited plans always qualify.",
    )
    sort = serializers.ChoiceField(
        choices=list(SORT_ORDERS),
        required=False,
        default=DEFAULT_SORT,
        help_text="price (cheapest first), -price, data (most first), days (longest first), per_gb (cheapest per GB).",
    )

    def validate_country(self, value):
        return value.upper()

    def validate(self, attrs):
        if attrs.get("minDays") and attrs.get("maxDays") and attrs["minDays"] > attrs["maxDays"]:
            raise serializers.ValidationError({"maxDays": [_("maxDays must not be less than minDays.")]})
        return attrs

    def to_filters(self) -> BundleFilters:
        data = self.validated_data
        return BundleFilters(
            unlimited=data.get("unlimited"),
            min_days=data.get("minDays"),
            max_days=data.get("maxDays"),
            min_data_mb=data.get("minDataMb"),
            sort=data.get("sort") or DEFAULT_SORT,
        )


class PackageSerializer(serializers.Serializer):
    packageCode = serializers.CharField(help_text="eSIM Go bundle name; pass it to the purchase API.")
    name = serializers.CharField(help_text="Readable name in the request's language, e.g. 'Mongolia 1 GB · 7 days'.")
    amount = serializers.IntegerField(help_text="Retail price in whole MNT.")
    currency = serializers.CharField(help_text="Always MNT.")
    dataAmountMb = serializers.IntegerField(help_text="Data in MB (1 GB = 1000 MB); -1 when unlimited.")
    durationDays = serializers.IntegerField()
    unlimited = serializers.BooleanField()
    speed = serializers.ListField(child=serializers.CharField(), help_text='e.g. ["4G", "5G"].')
    autostart = serializers.BooleanField(help_text="Validity starts on first connection in a covered country.")
    pricePerGbMnt = serializers.IntegerField(allow_null=True, help_text="MNT per GB; null when unlimited.")
    countries = serializers.ListField(
        child=serializers.CharField(), help_text="ISO codes of every covered country (base and roaming)."
    )
