"""Staff views of the synced catalogue.

Everything eSIM Go sends is read-only here (the next sync would overwrite it anyway); the one
thing staff set is a bundle's retail price override. Countries and regions are created by the
sync, so they can't be added or deleted by hand.
"""

from django.contrib import admin
from django.db import transaction
from django.db.models import Count

from catalog.models import Bundle, Country, Region
from catalog.page_warming import catalogue_changed, refresh_storefront
from catalog.sync_apply import SYNCED_FIELDS, refresh_country_stats


def mnt(value):
    return "" if value is None else f"{value:,}₮"


def _after_price_override():
    refresh_country_stats()
    refresh_storefront()  # re-rendered in the background, then cached pages show the new price


@admin.register(Bundle)
class BundleAdmin(admin.ModelAdmin):
    list_display = [
        "name",
        "data",
        "duration_days",
        "unlimited",
        "price",
        "computed_mnt",
        "price_override_mnt",
        "retail_mnt",
        "is_available",
    ]
    list_editable = ["price_override_mnt"]
    list_filter = ["is_available", "unlimited", "duration_days"]
    search_fields = ["name", "description"]
    readonly_fields = [
        "name",
        *SYNCED_FIELDS,
        "coverage_summary",
        "is_available",
        "retired_at",
        "source_hash",
        "first_seen_at",
        "updated_at",
    ]
    fieldsets = [
        (None, {"fields": ["name", "description", "is_available", "retired_at"]}),
        ("Retail price (MNT)", {"fields": ["computed_price_mnt", "price_override_mnt"]}),
        (
            "From eSIM Go",
            {
                "fields": [
                    "groups",
                    "data_amount_mb",
                    "duration_days",
                    "unlimited",
                    "speed",
                    "autostart",
                    "price",
                    "currency",
                    "billing_type",
                    "image_url",
                    "coverage_summary",
                ]
            },
        ),
        ("Sync", {"fields": ["source_hash", "first_seen_at", "updated_at"]}),
    ]
    list_per_page = 100

    def has_add_permission(self, request):
        return False  # bundles come from eSIM Go

    def has_delete_permission(self, request, obj=None):
        return False  # orders point at bundles; the sync retires them instead

    @admin.display(description="data", ordering="data_amount_mb")
    def data(self, obj):
        return "unlimited" if obj.unlimited else f"{obj.data_amount_mb:,} MB"

    @admin.display(description="computed", ordering="computed_price_mnt")
    def computed_mnt(self, obj):
        return mnt(obj.computed_price_mnt)

    @admin.display(description="retail price")
    def retail_mnt(self, obj):
        return mnt(obj.price_mnt)

    @admin.display(description="coverage")
    def coverage_summary(self, obj):
        rows = obj.coverage.order_by("kind", "country").values_list("kind", "country")
        kinds = {}
        for kind, iso in rows:
            kinds.setdefault(kind, []).append(iso)
        return "; ".join(f"{kind}: {', '.join(isos)}" for kind, isos in kinds.items()) or "-"

    def save_model(self, request, obj, form, change):
        super().save_model(request, obj, form, change)
        # An override can change a country's cheapest price; refresh once per request, after commit.
        if not getattr(request, "_catalog_stats_refresh", False):
            request._catalog_stats_refresh = True
            transaction.on_commit(_after_price_override)


@admin.register(Country)
class CountryAdmin(admin.ModelAdmin):
    list_display = ["iso", "country_name", "region", "bundle_count", "min_price"]
    list_select_related = ["region"]
    list_filter = ["region"]
    search_fields = ["iso"]
    readonly_fields = ["iso", "region", "bundle_count", "min_price_mnt"]

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    @admin.display(description="name")
    def country_name(self, obj):
        return obj.iso.name

    @admin.display(description="from", ordering="min_price_mnt")
    def min_price(self, obj):
        return mnt(obj.min_price_mnt)


@admin.register(Region)
class RegionAdmin(admin.ModelAdmin):
    list_display = ["name", "slug", "countries_count"]
    search_fields = ["name"]
    prepopulated_fields = {"slug": ["name"]}

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(countries_total=Count("countries"))

    @admin.display(description="countries", ordering="countries_total")
    def countries_count(self, obj):
        return obj.countries_total

    def save_model(self, request, obj, form, change):
        super().save_model(request, obj, form, change)
        catalogue_changed()  # region names and links are on cached pages
