"""Shared catalogue factories (used by sync, storefront and API tests).

    bundle = BundleFactory(countries=["MN", "JP"], roaming=["KR"])

`countries` / `roaming` take ISO codes or Country objects and create the BundleCountry
rows (base / roaming), creating missing Country rows on the way. They do NOT recompute
Country.bundle_count / min_price_mnt; call `refresh_country_stats()` when a test needs them.
"""

from decimal import Decimal

import factory
from django.utils.text import slugify

from catalog.models import Bundle, BundleCountry, Country, Region


class RegionFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Region
        django_get_or_create = ("name",)

    name = factory.Sequence(lambda n: f"Region {n}")
    slug = factory.LazyAttribute(lambda o: slugify(o.name))


class CountryFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Country
        django_get_or_create = ("iso",)

    iso = "MN"
    region = factory.SubFactory(RegionFactory, name="Asia")


def _country(value):
    return value if isinstance(value, Country) else CountryFactory(iso=value)


class BundleFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Bundle
        django_get_or_create = ("name",)
        skip_postgeneration_save = True

    name = factory.Sequence(lambda n: f"esim_{n}GB_7D_MN_V2")
    description = factory.LazyAttribute(lambda o: f"eSIM, {o.name}")
    groups = factory.LazyFunction(lambda: ["Standard Fixed"])
    data_amount_mb = 1000
    duration_days = 7
    unlimited = False
    speed = factory.LazyFunction(lambda: ["4G", "5G"])
    autostart = True
    image_url = ""
    billing_type = "FixedCost"
    price = Decimal("4.5000")
    currency = "USD"
    computed_price_mnt = 19500
    price_override_mnt = None
    is_available = True
    retired_at = None
    source_hash = factory.Sequence(lambda n: f"{n:064x}")

    @factory.post_generation
    def countries(self, create, extracted, **kwargs):
        if create and extracted:
            BundleCountry.objects.bulk_create(
                [BundleCountry(bundle=self, country=_country(c), kind=BundleCountry.Kind.BASE) for c in extracted],
                ignore_conflicts=True,
            )

    @factory.post_generation
    def roaming(self, create, extracted, **kwargs):
        if create and extracted:
            BundleCountry.objects.bulk_create(
                [BundleCountry(bundle=self, country=_country(c), kind=BundleCountry.Kind.ROAMING) for c in extracted],
                ignore_conflicts=True,
            )


def refresh_country_stats():
    """Recompute Country.bundle_count / min_price_mnt as the sync does."""
    from catalog.sync_apply import refresh_country_stats as _refresh

    return _refresh()
