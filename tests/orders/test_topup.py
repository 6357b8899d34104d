"""Top-up: only bundles eSIM Go says fit the eSIM; purchase through payments with topup_iccid."""

import re

import pytest
import responses

from payments.models import Invoice
from tests.catalog.factories import BundleFactory
from tests.conftest import ESIMGO_TEST_BASE_URL
from tests.orders.factories import DeliveredOrderFactory, ESimFactory, InvoiceFactory
from tests.orders.fake_esimgo import FakeESIMGo
from tests.payments import qpay_mocks

pytestmark = pytest.mark.django_db


@pytest.fixture
def fake(mocked_responses, settings):
    settings.ESIMGO_MAX_RETRIES = 0
    return FakeESIMGo(mocked_responses)


@pytest.fixture
def setup(fake, bundle):
    esim = ESimFactory(iccid="8944500000000000777")
    fake.esims[esim.iccid] = {
        "matchingId": esim.matching_id,
        "smdpAddress": esim.smdp_address,
        "customerRef": "",
        "bundles": [bundle.name],
    }
    order = DeliveredOrderFactory(invoice=InvoiceFactory(bundle=bundle, customer=esim.customer), esim=esim)
    others = {
        "jp3": BundleFactory(name="esim_3GB_15D_JP_V2", countries=["JP"], computed_price_mnt=39500),
        "jp5": BundleFactory(name="esim_5GB_30D_JP_V2", countries=["JP"], computed_price_mnt=59500),
        "kr": BundleFactory(name="esim_1GB_7D_KR_V2", countries=["KR"], computed_price_mnt=15000),
        "gone": BundleFactory(name="esim_2GB_7D_JP_V2", countries=["JP"], is_available=False),
    }
    fake.incompatible.add("esim_5GB_30D_JP_V2")
    return order, others


def compat_calls(fake):
    return [c.request.url for c in fake.rsps.calls if "/compatible/" in c.request.url]


def test_page_offers_only_compatible_bundles_for_the_country(client, setup, fake):
    order, others = setup
    url = f"/esims/{order.access_token}/topup/"
    html = client.get(url).content.decode()
    assert 'value="esim_1GB_7D_JP_V2"' in html and 'value="esim_3GB_15D_JP_V2"' in html
    assert "esim_5GB_30D_JP_V2" not in html  # eSIM Go: not compatible
    assert "esim_1GB_7D_KR_V2" not in html  # other country
    assert "esim_2GB_7D_JP_V2" not in html  # retired
    assert "39,500₮" in html
    assert len(compat_calls(fake)) == 3
    client.get(url)
    assert len(compat_calls(fake)) == 3  # answers are cached


def test_number_of_checks_is_limited(client, setup, fake, settings):
    settings.ORDERS_TOPUP_MAX_CHECKS = 1
    order, _ = setup
    html = client.get(f"/esims/{order.access_token}/topup/").content.decode()
    assert len(compat_calls(fake)) == 1
    assert 'value="esim_1GB_7D_JP_V2"' in html  # the bundle the eSIM already has is checked first


def test_buying_a_topup_starts_a_qpay_purchase_for_the_same_iccid(client, setup, fake):
    order, others = setup
    qpay_mocks.add_token(fake.rsps)
    qpay_mocks.add_invoice_create(fake.rsps)
    response = client.post(f"/esims/{order.access_token}/topup/", {"bundle": "esim_3GB_15D_JP_V2"})
    invoice = Invoice.objects.exclude(pk=order.invoice_id).get()
    assert response.status_code == 302
    assert response["Location"] == f"/pay/{invoice.access_token}/"
    assert invoice.topup_iccid == order.esim.iccid
    assert invoice.bundle == others["jp3"] and invoice.amount_mnt == 39500
    assert invoice.customer == order.customer
    assert str(invoice.pk) in client.session["invoice_ids"]
    # eSIM Go validated the top-up onto this eSIM before any invoice existed.
    [validate] = fake.validate_bodies
    assert validate["order"][0]["iccids"] == [order.esim.iccid]
    assert validate["order"][0]["allowReassign"] is False
    assert fake.sold == []  # nothing bought before payment


def test_bundle_not_offered_is_refused(client, setup, fake):
    order, _ = setup
    for name in ("esim_5GB_30D_JP_V2", "esim_1GB_7D_KR_V2", "nonsense"):
        response = client.post(f"/esims/{order.access_token}/topup/", {"bundle": name})
        assert response.status_code == 400
        assert "cannot be added" in response.content.decode()
    assert Invoice.objects.count() == 1


@pytest.mark.parametrize("status,http,text", [(400, 400, "cannot be bought right now"), (503, 503, "not reachable")])
def test_validate_refusal_means_no_invoice_and_a_clear_error(client, setup, fake, status, http, text):
    order, _ = setup
    fake.validate_status = status
    response = client.post(f"/esims/{order.access_token}/topup/", {"bundle": "esim_3GB_15D_JP_V2"})
    assert response.status_code == http
    assert text in response.content.decode()
    assert Invoice.objects.count() == 1  # only the original purchase
    assert not [c for c in fake.rsps.calls if "qpay" in c.request.url]


def test_validate_says_invalid(client, setup, fake):
    order, _ = setup
    fake.unknown_bundles.add("esim_3GB_15D_JP_V2")
    response = client.post(f"/esims/{order.access_token}/topup/", {"bundle": "esim_3GB_15D_JP_V2"})
    assert response.status_code == 400
    assert Invoice.objects.count() == 1


def test_topup_of_undelivered_order_redirects_to_its_page(client, bundle):
    from tests.orders.factories import OrderFactory

    order = OrderFactory(invoice=InvoiceFactory(bundle=bundle))
    response = client.get(f"/esims/{order.access_token}/topup/")
    assert response.status_code == 302 and response["Location"] == order.get_absolute_url()


def test_esimgo_down_while_checking_shows_try_later(client, setup, mocked_responses, settings):
    order, _ = setup
    mocked_responses.add(
        responses.GET,
        re.compile(re.escape(ESIMGO_TEST_BASE_URL) + r"/esims/\d+/compatible/.*"),
        status=503,
        json={"message": "down"},
    )
    # The fake's handler was registered first; remove it so the outage answers.
    for registered in list(mocked_responses.registered()):
        if "compatible" in str(getattr(registered, "url", "")) and isinstance(registered, responses.CallbackResponse):
            mocked_responses.remove(registered)
    html = client.get(f"/esims/{order.access_token}/topup/").content.decode()
    assert "cannot check which packages fit" in html
