"""The real ESIMGoClient against the sandbox over real HTTP (pytest-django live_server)."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from catalog.lpa import build_lpa
from integrations.esimgo.answers import Country
from integrations.esimgo.client import (
    ESIMGoAuthError,
    ESIMGoBadRequest,
    ESIMGoClient,
    ESIMGoNotFound,
    ESIMGoUnavailable,
)
from sandbox.esimgo import faults
from sandbox.esimgo.catalogue import get_catalogue


@pytest.fixture
def sandbox_client(live_shop, settings):
    settings.SANDBOX_ESIMGO_RATE_LIMIT = 10  # the live API's 10/s: this test checks our limiter keeps under it
    # One below the sandbox's 10/s: a request acquired at the end of one second may land
    # in the next one on the server's clock.
    settings.ESIMGO_RATE_LIMIT_PER_SECOND = 9
    sleeps = []
    client = ESIMGoClient(sleep=sleeps.append)
    client.recorded_sleeps = sleeps
    yield client
    client.close()


def test_full_catalogue_iteration_over_http(sandbox_client):
    pages = list(sandbox_client.iter_catalogue(per_page=1000))
    bundles = [b for page in pages for b in page.bundles]
    assert len(pages) == pages[0].page_count >= 2
    assert [p.page for p in pages] == list(range(1, len(pages) + 1))
    assert len(bundles) == pages[0].rows == len(get_catalogue().bundles) >= 1000
    assert len({b.name for b in bundles}) == len(bundles)
    countries = {c.iso for b in bundles for c in b.countries + b.roaming}
    assert len(countries) >= 150
    mn = next(b for b in bundles if b.name == "esim_1GB_7D_MN_V2")
    assert mn.price == get_catalogue().by_name["esim_1GB_7D_MN_V2"]["price"]
    assert isinstance(mn.price, Decimal)
    assert mn.countries == (Country(iso="MN", name="Mongolia", region="Asia"),)
    assert any(b.unlimited and b.data_amount_mb == -1 for b in bundles)
    detail = sandbox_client.get_bundle("esim_1GB_7D_REUP_V2")  # nested country shape
    assert detail.countries[0].iso == "FR" and len(detail.roaming) >= 30
    assert sandbox_client.recorded_sleeps == []  # no 429 or retry on the way


def test_order_transaction_assignments_and_esim_calls_over_http(sandbox_client):
    balance_before = sandbox_client.get_organisation().balance
    check = sandbox_client.create_order("esim_1GB_7D_MN_V2", validate=True)
    assert check.valid is True
    order = sandbox_client.create_order("esim_1GB_7D_MN_V2")
    assert order.status == "completed"
    esim = order.esims[0]
    iccid = esim.iccid

    assignments = sandbox_client.get_assignments(order.reference)
    assert assignments[0].iccid == iccid
    assert assignments[0].matching_id == esim.matching_id
    assert build_lpa(assignments[0].smdp_address, assignments[0].matching_id).startswith("LPA:1$rsp-")

    assert sandbox_client.get_order(order.reference).raw == order.raw
    listed = sandbox_client.list_orders(created_from=timezone.now() - timedelta(minutes=5))
    assert [o.reference for o in listed.orders] == [order.reference]
    assert listed.orders[0].lines[0].iccids == (iccid,)

    sandbox_client.set_customer_ref(iccid, "order-1")
    assert sandbox_client.get_esim(iccid).customer_ref == "order-1"
    bundles = sandbox_client.get_esim_bundles(iccid)
    assert bundles[0].name == "esim_1GB_7D_MN_V2"
    assert bundles[0].assignments[0].state == "queued"
    assert bundles[0].assignments[0].remaining_bytes == 10**9

    assert sandbox_client.is_compatible(iccid, "esim_3GB_30D_MN_V2") is True
    assert sandbox_client.is_compatible(iccid, "esim_1GB_7D_FR_V2") is False
    top_up = sandbox_client.create_order("esim_3GB_30D_MN_V2", iccid=iccid, allow_reassign=False)
    assert top_up.lines[0].iccids == (iccid,)

    offer = sandbox_client.revoke_bundle(iccid, "esim_3GB_30D_MN_V2", validate=True, refund_to_balance=True)
    assert offer.offer_id
    revoked = sandbox_client.revoke_bundle(iccid, "esim_3GB_30D_MN_V2", refund_to_balance=True, offer_id=offer.offer_id)
    assert "Successfully Revoked" in revoked.status
    price = get_catalogue().by_name["esim_1GB_7D_MN_V2"]["price"]
    assert sandbox_client.get_organisation().balance == balance_before - price


def test_errors_over_http_map_to_client_types(sandbox_client, settings):
    with pytest.raises(ESIMGoBadRequest):
        sandbox_client.create_order("esim_does_not_exist", validate=True)
    with pytest.raises(ESIMGoNotFound):
        sandbox_client.get_bundle("esim_does_not_exist")
    with ESIMGoClient(api_key="wrong-key") as other, pytest.raises(ESIMGoAuthError):
        other.get_organisation()


def test_lost_purchase_answer_is_not_retried_and_can_be_reconciled(sandbox_client):
    faults.inject("POST orders", status=500, after=True)
    with pytest.raises(ESIMGoUnavailable) as excinfo:
        sandbox_client.create_order("esim_1GB_7D_MN_V2")
    assert excinfo.value.outcome_unknown is True
    found = sandbox_client.list_orders(created_from=timezone.now() - timedelta(minutes=5)).orders
    assert len(found) == 1  # bought exactly once; the caller finds it instead of buying again
    assert sandbox_client.get_assignments(found[0].reference)[0].iccid


def test_transient_sandbox_faults_are_retried_for_reads(sandbox_client):
    faults.inject("catalogue_bundle", status=503, count=1, headers={"Retry-After": "0"})
    assert sandbox_client.get_bundle("esim_1GB_7D_MN_V2").name == "esim_1GB_7D_MN_V2"
    assert sandbox_client.recorded_sleeps == [0.0]


def test_close_really_closes_keep_alive_connections(sandbox_client):
    sandbox_client.get_organisation()
    adapter = sandbox_client.session.adapters["http://"]
    pools = [adapter.poolmanager.pools.get(key) for key in adapter.poolmanager.pools.keys()]
    assert pools and all(pool.pool is not None for pool in pools)
    sandbox_client.close()
    assert all(pool.pool is None for pool in pools)  # connections closed, not just forgotten
