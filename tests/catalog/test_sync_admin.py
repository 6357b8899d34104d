"""Staff admin for the synced catalogue: read-only provider data, editable retail override, bounded queries."""

import pytest
from django.urls import reverse

from catalog.models import Bundle, Country

from .factories import BundleFactory, CountryFactory, RegionFactory, refresh_country_stats


@pytest.fixture
def bundles(db):
    made = [
        BundleFactory(name=f"esim_{i}GB_7D_MN_V2", computed_price_mnt=10000 + i * 1000, countries=["MN"])
        for i in range(1, 4)
    ]
    made.append(
        BundleFactory(
            name="esim_UL_7D_JP_V2",
            unlimited=True,
            data_amount_mb=-1,
            description="Japan unlimited",
            countries=["JP"],
            roaming=["MN"],
            is_available=False,
        )
    )
    refresh_country_stats()
    return made


def test_bundle_changelist_lists_retail_prices_with_bounded_queries(
    admin_client, bundles, django_assert_max_num_queries
):
    url = reverse("admin:catalog_bundle_changelist")
    with django_assert_max_num_queries(12) as few:
        response = admin_client.get(url)
    assert response.status_code == 200
    assert "11,000₮" in response.text and "esim_UL_7D_JP_V2" in response.text

    for i in range(30):
        BundleFactory(name=f"extra_{i}", countries=["MN", "JP"])
    with django_assert_max_num_queries(len(few.captured_queries)):
        assert admin_client.get(url).status_code == 200


def test_bundle_search_and_filters(admin_client, bundles):
    url = reverse("admin:catalog_bundle_changelist")
    found = admin_client.get(url, {"q": "japan"}).context["cl"].result_list
    assert [b.name for b in found] == ["esim_UL_7D_JP_V2"]
    available = admin_client.get(url, {"is_available__exact": "1"}).context["cl"].result_list
    assert len(available) == 3
    unlimited = admin_client.get(url, {"unlimited__exact": "1", "duration_days": "7"}).context["cl"].result_list
    assert [b.name for b in unlimited] == ["esim_UL_7D_JP_V2"]


def test_staff_override_saves_only_the_override_and_refreshes_country_prices(
    admin_client, bundles, django_capture_on_commit_callbacks
):
    bundle = bundles[0]
    url = reverse("admin:catalog_bundle_change", args=[bundle.pk])
    page = admin_client.get(url)
    assert page.status_code == 200 and "base: MN" in page.text

    with django_capture_on_commit_callbacks(execute=True):
        response = admin_client.post(url, {"price_override_mnt": "9500", "price": "0.01", "name": "hacked"})

    assert response.status_code == 302
    bundle.refresh_from_db()
    assert (bundle.price_override_mnt, bundle.price_mnt, bundle.name, str(bundle.price)) == (
        9500,
        9500,
        "esim_1GB_7D_MN_V2",
        "4.5000",
    )
    assert Country.objects.get(iso="MN").min_price_mnt == 9500


def test_override_can_be_edited_from_the_list(admin_client, bundles, django_capture_on_commit_callbacks):
    ordered = list(Bundle.objects.order_by("name"))  # the changelist's order (Meta.ordering)
    data = {"form-TOTAL_FORMS": str(len(ordered)), "form-INITIAL_FORMS": str(len(ordered)), "_save": "Save"}
    for i, b in enumerate(ordered):
        data[f"form-{i}-id"] = str(b.pk)
        data[f"form-{i}-price_override_mnt"] = "12345" if b.name == "esim_2GB_7D_MN_V2" else ""
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        response = admin_client.post(reverse("admin:catalog_bundle_changelist"), data)
    assert response.status_code == 302
    assert Bundle.objects.get(name="esim_2GB_7D_MN_V2").price_override_mnt == 12345
    assert len(callbacks) == 1  # one stats refresh per request, not per row


def test_override_below_one_is_refused(admin_client, bundles):
    url = reverse("admin:catalog_bundle_change", args=[bundles[0].pk])
    response = admin_client.post(url, {"price_override_mnt": "0"})
    assert response.status_code == 200
    assert "price_override_mnt" in response.context["adminform"].form.errors
    bundles[0].refresh_from_db()
    assert bundles[0].price_override_mnt is None


def test_bundles_and_countries_cannot_be_added_or_deleted_by_hand(admin_client, bundles):
    assert admin_client.get(reverse("admin:catalog_bundle_add")).status_code == 403
    assert admin_client.get(reverse("admin:catalog_bundle_delete", args=[bundles[0].pk])).status_code == 403
    assert admin_client.get(reverse("admin:catalog_country_delete", args=["MN"])).status_code == 403


def test_country_and_region_lists_with_bounded_queries(admin_client, bundles, django_assert_max_num_queries):
    europe = RegionFactory(name="Europe")
    for iso in ("DE", "FR", "GB", "IT", "ES"):
        CountryFactory(iso=iso, region=europe)
    with django_assert_max_num_queries(12):
        response = admin_client.get(reverse("admin:catalog_country_changelist"))
    assert response.status_code == 200
    rows = {c.iso.code: (c.region.name, c.bundle_count, c.min_price_mnt) for c in response.context["cl"].result_list}
    assert rows["MN"] == ("Asia", 3, 11000) and rows["JP"] == ("Asia", 0, None) and rows["GB"] == ("Europe", 0, None)
    assert "11,000₮" in response.text
    with django_assert_max_num_queries(12):
        response = admin_client.get(reverse("admin:catalog_region_changelist"))
    assert [(r.name, r.countries_total) for r in response.context["cl"].result_list] == [("Asia", 2), ("Europe", 5)]
