"""Networks (operators) per country on the plan page: eSIM Go's per-bundle detail → BundleNetworks → page."""

import pytest
from django.core.cache import cache
from django.utils import timezone

from catalog.models import BundleNetworks
from catalog.networks import due_bundles, refresh_networks
from integrations.esimgo.bundle_detail import BundleDetail, CountryNetworks, Network, parse_bundle_detail
from integrations.esimgo.client import ESIMGoClient, ESIMGoMalformedResponse
from sandbox.esimgo.catalogue import detail, get_catalogue

from .factories import BundleFactory

BASE = "https://api.esim-go.com/v2.4"
pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _no_waiting(settings, monkeypatch):
    settings.ESIMGO_RATE_LIMIT_PER_SECOND = 0
    monkeypatch.setattr(ESIMGoClient, "backoff_base", 0)
    monkeypatch.setattr(ESIMGoClient, "backoff_max", 0)


def nested(iso, name, *networks):
    return {
        "country": {"name": name, "region": "Asia", "iso": iso},
        "networks": [{"name": n, "brandName": n, "speeds": speeds} for n, speeds in networks],
    }


def test_the_live_nested_shape_gives_networks_per_country_base_first():
    data = {
        "name": "esim_1GB_7D_RAS_V2",
        "countries": [nested("SG", "Singapore", ("Singtel", ["4G", "5G"]))],
        "roamingEnabled": [
            nested("MN", "Mongolia", ("Unitel", ["4G"]), ("Mobicom", None)),
            nested("SG", "Singapore", ("StarHub", ["4G"])),  # repeated country: the first entry counts
        ],
    }
    assert parse_bundle_detail(data, "esim_1GB_7D_RAS_V2") == BundleDetail(
        "esim_1GB_7D_RAS_V2",
        (
            CountryNetworks("SG", (Network("Singtel", ("4G", "5G")),)),
            CountryNetworks("MN", (Network("Unitel", ("4G",)), Network("Mobicom", ()))),
        ),
    )


def test_the_spec_flat_shape_and_bare_codes_have_no_networks():
    data = {"countries": [{"name": "Mongolia", "region": "Asia", "iso": "mn"}], "roamingEnabled": ["JP"]}
    assert parse_bundle_detail(data, "x").countries == (CountryNetworks("MN", ()), CountryNetworks("JP", ()))


def test_brand_name_wins_and_odd_network_entries_are_skipped():
    entry = {
        "country": {"iso": "US"},
        "networks": [{"name": "T-Mobile USA", "brandName": "T-Mobile", "speeds": "4G/5G"}, 42, {"speeds": ["4G"]}],
    }
    assert parse_bundle_detail({"countries": [entry]}, "x").countries[0].networks == (
        Network("T-Mobile", ("4G", "5G")),
    )


@pytest.mark.parametrize("data", [[], {"countries": "MN"}, {"countries": [{"country": {"name": "No code"}}]}])
def test_malformed_details_raise_the_clients_error(data):
    with pytest.raises(ESIMGoMalformedResponse):
        parse_bundle_detail(data, "x")


def test_the_sandbox_answers_in_the_live_shape():
    bundle = get_catalogue().by_name["esim_1GB_7D_MN_V2"]
    parsed = parse_bundle_detail(detail(bundle), bundle["name"])
    assert parsed.countries[0].iso == "MN"
    assert [n.name for n in parsed.countries[0].networks] == ["Unitel", "Mobicom"]


def test_refresh_stores_due_bundles_and_skips_fresh_and_retired_ones(mocked_responses):
    due = BundleFactory(name="esim_1GB_7D_MN_V2", countries=["MN"])
    fresh = BundleFactory(name="esim_1GB_7D_JP_V2", countries=["JP"])
    BundleNetworks.objects.create(bundle=fresh, countries=[], fetched_at=timezone.now())
    BundleFactory(name="esim_old_V2", countries=["MN"], is_available=False)
    call = mocked_responses.get(
        f"{BASE}/catalogue/bundle/esim_1GB_7D_MN_V2",
        json={"countries": [nested("MN", "Mongolia", ("Unitel", ["4G", "5G"]))], "roamingEnabled": []},
    )
    run = refresh_networks()
    assert (run.fetched, run.failed, run.left) == (1, 0, 0)
    assert call.call_count == 1  # only the due one: one request per bundle
    assert due.networks.by_country() == {"MN": [{"name": "Unitel", "speeds": ["4G", "5G"]}]}
    assert due_bundles(10) == []


def test_networks_older_than_the_maximum_age_are_due_again(settings):
    bundle = BundleFactory(countries=["MN"])
    old = timezone.now() - timezone.timedelta(days=settings.CATALOG_NETWORKS_MAX_AGE_DAYS + 1)
    BundleNetworks.objects.create(bundle=bundle, countries=[], fetched_at=old)
    assert due_bundles(10) == [bundle]


def test_a_busy_budget_stops_the_run_before_any_request(mocked_responses):
    BundleFactory(countries=["MN"])
    run = refresh_networks(is_busy=lambda: True)
    assert (run.fetched, run.left) == (0, 1)
    assert len(mocked_responses.calls) == 0
    assert not BundleNetworks.objects.exists()


def test_a_provider_outage_leaves_the_rest_for_a_later_run(mocked_responses):
    BundleFactory(name="esim_a_V2", countries=["MN"])
    BundleFactory(name="esim_b_V2", countries=["MN"])
    mocked_responses.get(f"{BASE}/catalogue/bundle/esim_a_V2", status=503, json={"message": "down"})
    run = refresh_networks()
    assert (run.fetched, run.failed, run.left) == (0, 1, 1)
    assert not BundleNetworks.objects.exists()


def test_a_bundle_gone_upstream_is_stored_empty_not_asked_again(mocked_responses):
    bundle = BundleFactory(name="esim_gone_V2", countries=["MN"])
    mocked_responses.get(f"{BASE}/catalogue/bundle/esim_gone_V2", status=404, json={"message": "not found"})
    assert refresh_networks().fetched == 1
    assert bundle.networks.countries == [] and due_bundles(10) == []


def test_the_plan_page_lists_networks_per_country_once_fetched(client, mocked_responses):
    bundle = BundleFactory(name="esim_1GB_7D_RAS_V2", countries=["SG"], roaming=["MN"])
    url = f"/bundles/{bundle.name}/"
    before = client.get(url).content.decode()
    assert 'class="networks"' not in before  # not fetched yet: the plain country list
    mocked_responses.get(
        f"{BASE}/catalogue/bundle/{bundle.name}",
        json={
            "countries": [nested("SG", "Singapore", ("Singtel", ["4G", "5G"]))],
            "roamingEnabled": [nested("MN", "Mongolia", ("Unitel", None))],
        },
    )
    refresh_networks(names=[bundle.name])  # also drops the cached page
    html = client.get(url).content.decode()
    assert 'class="networks"' in html
    assert "Singtel (4G / 5G)" in html and "Unitel</td>" in html
    assert "Сүлжээ" in html  # the column heading, in Mongolian by default
    english = client.get(url + "?lang=en").content.decode()
    assert ">Networks</th>" in english


def test_storing_networks_drops_only_that_plan_page_from_the_cache(client, mocked_responses):
    plan = BundleFactory(name="esim_1GB_7D_MN_V2", countries=["MN"])
    other = BundleFactory(name="esim_2GB_15D_MN_V2", countries=["MN"])
    for bundle in (plan, other):
        assert client.get(f"/bundles/{bundle.name}/").headers["X-Storefront-Cache"] == "miss"
    mocked_responses.get(f"{BASE}/catalogue/bundle/{plan.name}", json={"countries": [nested("MN", "Mongolia")]})
    version = cache.get("catalog:version")
    refresh_networks(names=[plan.name])
    assert cache.get("catalog:version") == version  # no storefront-wide change
    assert client.get(f"/bundles/{plan.name}/").headers["X-Storefront-Cache"] == "miss"
    assert client.get(f"/bundles/{other.name}/").headers["X-Storefront-Cache"] == "hit"
