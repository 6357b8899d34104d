"""The shared factories build coverage rows the way the sync does."""

from catalog.models import BundleCountry

from .factories import BundleFactory, CountryFactory


def test_bundle_factory_creates_base_and_roaming_coverage(db):
    bundle = BundleFactory(countries=["MN", CountryFactory(iso="JP")], roaming=["KR"])
    kinds = dict(BundleCountry.objects.filter(bundle=bundle).values_list("country_id", "kind"))
    assert kinds == {"MN": "base", "JP": "base", "KR": "roaming"}
    assert bundle.price_mnt == 19500
    assert BundleFactory(price_override_mnt=9900).price_mnt == 9900
