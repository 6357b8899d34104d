"""Seed one outage-run database (run as a subprocess with that process's environment):
`shop` puts the sandbox bundles on sale; `providers` gives the sandbox eSIM Go organisation credit."""

import json
import sys
from decimal import Decimal
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import django  # noqa: E402

django.setup()

BUNDLES = ["esim_1GB_7D_MN_V2", "esim_2GB_15D_MN_V2", "esim_3GB_30D_MN_V2"]


def seed_shop() -> dict:
    from catalog.models import Bundle, BundleCountry, Country
    from catalog.pricing import retail_price_mnt
    from sandbox.esimgo.catalogue import get_catalogue

    catalogue = get_catalogue().by_name
    country, _ = Country.objects.get_or_create(iso="MN")
    prices = {}
    for name in BUNDLES:
        raw = catalogue[name]
        price = Decimal(str(raw["price"]))
        bundle = Bundle.objects.create(
            name=name,
            description=raw.get("description") or name,
            data_amount_mb=int(raw["dataAmount"]),
            duration_days=int(raw["duration"]),
            price=price,
            currency="USD",
            computed_price_mnt=retail_price_mnt(price),
            source_hash="outage",
        )
        BundleCountry.objects.create(bundle=bundle, country=country, kind=BundleCountry.Kind.BASE)
        prices[name] = bundle.price_mnt
    return prices


def seed_providers() -> dict:
    from sandbox.esimgo.models import Organisation

    Organisation.objects.update_or_create(pk=1, defaults={"balance": Decimal("1000000")})
    return {}


if __name__ == "__main__":
    print(json.dumps(seed_shop() if sys.argv[1] == "shop" else seed_providers()))
