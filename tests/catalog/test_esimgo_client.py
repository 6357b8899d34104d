"""The eSIM Go client against `responses` mocks shaped like docs/providers/esimgo.md."""

import json
import logging
from datetime import datetime, timezone
from decimal import Decimal

import pytest
import requests
import responses as rsps_lib

from integrations.esimgo.answers import (
    BundleAssignment,
    CatalogueBundle,
    CataloguePage,
    Country,
    ESIMGoOrder,
    EsimInstall,
    OrderList,
    RevokeAnswer,
)
from integrations.esimgo.client import (
    ESIMGoAuthError,
    ESIMGoBadRequest,
    ESIMGoClient,
    ESIMGoMalformedResponse,
    ESIMGoNotFound,
    ESIMGoRateLimited,
    ESIMGoUnavailable,
)
from integrations.esimgo.parsing import parse_bundle
from integrations.esimgo.ratelimit import SharedRateLimiter

BASE = "https://api.esim-go.com/v2.4"


class CountingLimiter:
    def __init__(self):
        self.acquired = 0

    def acquire(self):
        self.acquired += 1
        return 0.0


@pytest.fixture
def sleeps():
    return []


@pytest.fixture
def client(sleeps):
    return ESIMGoClient(rate_limiter=CountingLimiter(), sleep=sleeps.append)


def bundle(name="esim_1GB_7D_MN_V2", **overrides):
    raw = {
        "name": name,
        "description": "eSIM, 1GB, 7 Days, Mongolia, V2",
        "groups": ["Standard Fixed"],
        "countries": [{"name": "Mongolia", "region": "Asia", "iso": "MN"}],
        "dataAmount": 1000,
        "duration": 7,
        "speed": ["4G", "5G"],
        "autostart": True,
        "unlimited": False,
        "roamingEnabled": [],
        "imageUrl": "https://esimgo-cms-images-prod.s3.eu-west-1.amazonaws.com/Mongolia.jpg",
        "price": 1.36,
        "billingType": "FixedCost",
    }
    raw.update(overrides)
    return raw


# --- auth, timeouts, error mapping ---------------------------------------------------------


def test_every_call_sends_api_key_accept_and_explicit_timeouts(client, mocked_responses, settings):
    settings.ESIMGO_CONNECT_TIMEOUT = 3.5
    settings.ESIMGO_READ_TIMEOUT = 12.0
    mocked_responses.get(f"{BASE}/organisation", json={"balance": 10, "currency": "USD"})
    client.get_organisation()
    call = mocked_responses.calls[0]
    assert call.request.headers["X-API-Key"] == "test-esimgo-key"
    assert call.request.headers["Accept"] == "application/json"
    assert call.request.req_kwargs["timeout"] == (3.5, 12.0)
    assert client.rate_limiter.acquired == 1


def test_kwargs_override_base_url_and_key(mocked_responses, sleeps):
    other = ESIMGoClient(base_url="http://127.0.0.1:9/x/", api_key="k2", rate_limiter=CountingLimiter())
    mocked_responses.get("http://127.0.0.1:9/x/organisation", json={"balance": 1})
    other.get_organisation()
    assert mocked_responses.calls[0].request.headers["X-API-Key"] == "k2"


@pytest.mark.parametrize(
    "status, error_class",
    [
        (400, ESIMGoBadRequest),
        (401, ESIMGoAuthError),
        (403, ESIMGoAuthError),
        (404, ESIMGoNotFound),
        (409, ESIMGoBadRequest),
        (422, ESIMGoBadRequest),
    ],
)
def test_permanent_errors_map_to_types_and_are_not_retried(client, mocked_responses, sleeps, status, error_class):
    mocked_responses.get(f"{BASE}/esims/8944", status=status, json={"message": "access denied"})
    with pytest.raises(error_class) as excinfo:
        client.get_esim("8944")
    assert excinfo.value.status == status
    assert excinfo.value.message == "access denied"
    assert excinfo.value.transient is False
    assert len(mocked_responses.calls) == 1
    assert sleeps == []


def test_5xx_exhausting_retries_raises_unavailable(client, mocked_responses, sleeps, settings):
    settings.ESIMGO_MAX_RETRIES = 2
    mocked_responses.get(f"{BASE}/esims/8944", status=500, body="<html>oops</html>")
    with pytest.raises(ESIMGoUnavailable) as excinfo:
        client.get_esim("8944")
    assert excinfo.value.transient is True
    assert excinfo.value.status == 500
    assert len(mocked_responses.calls) == 3
    assert len(sleeps) == 2
    assert sleeps[1] > sleeps[0] > 0  # exponential backoff


def test_429_exhausting_retries_raises_rate_limited_with_retry_after(client, mocked_responses, sleeps, settings):
    settings.ESIMGO_MAX_RETRIES = 1
    mocked_responses.get(
        f"{BASE}/esims/8944", status=429, json={"message": "Rate limit exceeded"}, headers={"Retry-After": "2"}
    )
    with pytest.raises(ESIMGoRateLimited) as excinfo:
        client.get_esim("8944")
    assert excinfo.value.retry_after == 2.0
    assert excinfo.value.transient is True
    assert sleeps == [2.0]


def test_retry_on_429_honours_retry_after(client, mocked_responses, sleeps):
    mocked_responses.get(
        f"{BASE}/esims/8944", status=429, json={"message": "Rate limit exceeded"}, headers={"Retry-After": "3"}
    )
    mocked_responses.get(f"{BASE}/esims/8944", json={"iccid": "8944"})
    assert client.get_esim("8944").iccid == "8944"
    assert sleeps == [3.0]
    assert client.rate_limiter.acquired == 2  # each attempt takes a limiter slot


def test_retry_after_longer_than_the_cap_is_raised_not_slept(client, mocked_responses, sleeps):
    mocked_responses.get(f"{BASE}/esims/8944", status=503, json={"message": "busy"}, headers={"Retry-After": "3600"})
    with pytest.raises(ESIMGoUnavailable) as excinfo:
        client.get_esim("8944")
    assert excinfo.value.retry_after == 3600.0
    assert sleeps == []
    assert len(mocked_responses.calls) == 1


def test_retry_on_5xx_then_success(client, mocked_responses, sleeps):
    mocked_responses.get(f"{BASE}/esims/8944", status=502, body="bad gateway")
    mocked_responses.get(f"{BASE}/esims/8944", json={"iccid": "8944"})
    assert client.get_esim("8944").iccid == "8944"
    assert len(sleeps) == 1 and sleeps[0] >= client.backoff_base


@pytest.mark.parametrize(
    "exc", [requests.ReadTimeout("slow"), requests.ConnectTimeout("x"), requests.ConnectionError("x")]
)
def test_retry_on_timeouts_and_connection_errors(client, mocked_responses, sleeps, exc):
    mocked_responses.get(f"{BASE}/esims/8944", body=exc)
    mocked_responses.get(f"{BASE}/esims/8944", json={"iccid": "8944"})
    assert client.get_esim("8944").iccid == "8944"
    assert len(mocked_responses.calls) == 2
    assert len(sleeps) == 1


def test_timeouts_exhausting_retries_raise_unavailable(client, mocked_responses, settings):
    settings.ESIMGO_MAX_RETRIES = 0
    mocked_responses.get(f"{BASE}/esims/8944", body=requests.ReadTimeout("slow"))
    with pytest.raises(ESIMGoUnavailable):
        client.get_esim("8944")
    assert len(mocked_responses.calls) == 1


def test_non_json_success_is_malformed(client, mocked_responses):
    mocked_responses.get(f"{BASE}/esims/8944", body="<html>maintenance</html>", content_type="text/html")
    with pytest.raises(ESIMGoMalformedResponse) as excinfo:
        client.get_esim("8944")
    # One rule for both providers (integrations.errors): a malformed answer may read fine
    # later (transient, the caller schedules it) but is never repeated at once by the client.
    assert excinfo.value.transient is True
    assert excinfo.value.reached_provider is True
    assert len(mocked_responses.calls) == 1


def test_api_key_never_logged(client, mocked_responses, caplog, settings):
    settings.ESIMGO_API_KEY = "super-secret-key-123"
    settings.ESIMGO_MAX_RETRIES = 1
    mocked_responses.get(f"{BASE}/esims/8944", status=500, json={"message": "boom"})
    with caplog.at_level(logging.DEBUG), pytest.raises(ESIMGoUnavailable) as excinfo:
        client.get_esim("8944")
    assert caplog.records  # the client does log its calls
    assert "super-secret-key-123" not in caplog.text
    assert "super-secret-key-123" not in repr(client) + str(excinfo.value)


# --- orders --------------------------------------------------------------------------------

TRANSACTION = {
    "order": [
        {
            "type": "bundle",
            "item": "esim_1GB_7D_MN_V2",
            "quantity": 1,
            "subTotal": 1.36,
            "pricePerUnit": 1.36,
            "AllowReassign": False,
            "iccids": ["8944538532008160000"],
            "esims": [
                {"iccid": "8944538532008160000", "matchingId": "4I93G-KIS04", "smdpAddress": "rsp-3104.idemia.io"}
            ],
        }
    ],
    "total": 1.36,
    "currency": "USD",
    "status": "completed",
    "statusMessage": "Order completed: 1 eSIMs assigned",
    "orderReference": "a6a3b6e2-4c4b-4a53-9c0c-3d1a5f6f7d11",
    "createdDate": "2025-03-28T14:47:26.153875019Z",
    "assigned": True,
}


def test_create_order_transaction_body(client, mocked_responses):
    mocked_responses.post(f"{BASE}/orders", json=TRANSACTION)
    result = client.create_order("esim_1GB_7D_MN_V2")
    assert isinstance(result, ESIMGoOrder)
    assert result.reference == TRANSACTION["orderReference"]
    assert (result.status, result.total, result.currency) == ("completed", Decimal("1.36"), "USD")
    assert result.created_at == datetime(2025, 3, 28, 14, 47, 26, 153875, tzinfo=timezone.utc)  # nanoseconds cut
    assert result.esims == (
        EsimInstall(iccid="8944538532008160000", matching_id="4I93G-KIS04", smdp_address="rsp-3104.idemia.io"),
    )
    assert result.iccids == {"8944538532008160000"} and result.bundle_names == {"esim_1GB_7D_MN_V2"}
    assert result.raw == TRANSACTION  # kept as evidence
    body = json.loads(mocked_responses.calls[0].request.body)
    assert body == {
        "type": "transaction",
        "assign": True,
        "order": [{"type": "bundle", "quantity": 1, "item": "esim_1GB_7D_MN_V2", "allowReassign": False}],
    }


def test_create_order_top_up_validate_body(client, mocked_responses):
    mocked_responses.post(f"{BASE}/orders", json={"valid": True, "total": 1.36, "currency": "USD", "order": []})
    client.create_order("esim_1GB_7D_MN_V2", validate=True, iccid="8944", allow_reassign=False)
    body = json.loads(mocked_responses.calls[0].request.body)
    assert body["type"] == "validate"
    assert body["order"][0]["iccids"] == ["8944"]
    assert body["order"][0]["allowReassign"] is False


@pytest.mark.parametrize(
    "mock_kwargs, error_class",
    [
        ({"status": 500, "json": {"message": "internal"}}, ESIMGoUnavailable),
        ({"status": 503, "json": {"message": "busy"}, "headers": {"Retry-After": "1"}}, ESIMGoUnavailable),
        ({"body": requests.ReadTimeout("slow")}, ESIMGoUnavailable),
        ({"body": requests.ConnectionError("reset")}, ESIMGoUnavailable),
        (
            {"status": 429, "json": {"message": "Rate limit exceeded"}, "headers": {"Retry-After": "1"}},
            ESIMGoRateLimited,
        ),
    ],
)
def test_purchase_is_never_retried(client, mocked_responses, sleeps, mock_kwargs, error_class):
    mocked_responses.post(f"{BASE}/orders", **mock_kwargs)
    mocked_responses.post(f"{BASE}/orders", json=TRANSACTION)  # would be a second purchase
    with pytest.raises(error_class) as excinfo:
        client.create_order("esim_1GB_7D_MN_V2")
    assert len(mocked_responses.calls) == 1
    assert sleeps == []
    if error_class is ESIMGoUnavailable:
        assert excinfo.value.outcome_unknown is True


def test_purchase_refusal_is_a_known_outcome(client, mocked_responses):
    mocked_responses.post(f"{BASE}/orders", status=400, json={"message": "Insufficient balance"})
    with pytest.raises(ESIMGoBadRequest) as excinfo:
        client.create_order("esim_1GB_7D_MN_V2")
    assert excinfo.value.outcome_unknown is False


def test_validate_order_is_retried(client, mocked_responses, sleeps):
    mocked_responses.post(f"{BASE}/orders", status=500, json={"message": "internal"})
    mocked_responses.post(f"{BASE}/orders", json={"valid": True, "total": 1.36})
    assert client.create_order("esim_1GB_7D_MN_V2", validate=True).valid is True
    assert len(mocked_responses.calls) == 2


def test_revoke_transaction_is_not_retried_but_validate_is(client, mocked_responses):
    url = f"{BASE}/esims/8944/bundles/esim_1GB_7D_MN_V2"
    mocked_responses.delete(url, status=500, json={"message": "x"})
    mocked_responses.delete(url, json={"status": "ok"})
    with pytest.raises(ESIMGoUnavailable):
        client.revoke_bundle("8944", "esim_1GB_7D_MN_V2", refund_to_balance=True)
    assert "type=transaction" in mocked_responses.calls[0].request.url
    assert "refundToBalance=true" in mocked_responses.calls[0].request.url
    assert len(mocked_responses.calls) == 1
    # validate executes nothing, so it is safe to retry (the 200 registered above answers)
    assert client.revoke_bundle("8944", "esim_1GB_7D_MN_V2", validate=True) == RevokeAnswer(status="ok", offer_id="")
    assert "type=validate" in mocked_responses.calls[1].request.url


def test_list_orders_params_and_envelopes(client, mocked_responses):
    mocked_responses.get(f"{BASE}/orders", json={"orders": [TRANSACTION], "pageCount": 1, "rows": 1})
    result = client.list_orders(
        created_from=datetime(2024, 3, 1, tzinfo=timezone.utc), created_to="2024-03-31T23:59:59.999Z"
    )
    assert isinstance(result, OrderList)
    assert (result.rows, result.page_count, result.received) == (1, 1, 1)
    assert [o.reference for o in result.orders] == [TRANSACTION["orderReference"]]
    url = mocked_responses.calls[0].request.url
    assert "createdAt=gte%3A2024-03-01T00%3A00%3A00.000Z" in url
    assert "createdAt=lte%3A2024-03-31T23%3A59%3A59.999Z" in url
    assert "includeIccids=true" in url
    mocked_responses.get(f"{BASE}/orders", json=[TRANSACTION])
    assert [o.raw for o in client.list_orders().orders] == [TRANSACTION]


def test_get_order_quotes_reference(client, mocked_responses):
    mocked_responses.get(f"{BASE}/orders/{TRANSACTION['orderReference']}", json=TRANSACTION)
    assert client.get_order(TRANSACTION["orderReference"]).status == "completed"


# --- catalogue -----------------------------------------------------------------------------


def _catalogue_url(page, per_page):
    return f"{BASE}/catalogue?page={page}&perPage={per_page}"


def test_catalogue_object_shape_paginates_on_page_count(client, mocked_responses):
    pages = {
        1: [bundle("a1"), bundle("a2")],
        2: [bundle("b1"), bundle("b2")],
        3: [bundle("c1")],
    }
    for page, items in pages.items():
        mocked_responses.get(
            _catalogue_url(page, 2),
            json={"bundles": items, "pageCount": 3, "rows": 5, "pageSize": 2},
            match=[rsps_lib.matchers.query_param_matcher({"page": str(page), "perPage": "2"})],
        )
    result = list(client.iter_catalogue(per_page=2))
    assert [p.page for p in result] == [1, 2, 3]
    assert all(isinstance(p, CataloguePage) for p in result)
    assert result[0].page_count == 3 and result[0].rows == 5
    assert [b.name for p in result for b in p.bundles] == ["a1", "a2", "b1", "b2", "c1"]
    assert len(mocked_responses.calls) == 3


def test_catalogue_stops_on_page_count_even_if_page_is_full(client, mocked_responses):
    mocked_responses.get(_catalogue_url(1, 2), json={"bundles": [bundle("a"), bundle("b")], "pageCount": 1, "rows": 2})
    assert len(list(client.iter_catalogue(per_page=2))) == 1
    assert len(mocked_responses.calls) == 1


def test_catalogue_stops_when_rows_collected_without_page_count(client, mocked_responses):
    mocked_responses.get(_catalogue_url(1, 2), json={"bundles": [bundle("a"), bundle("b")], "rows": 4})
    mocked_responses.get(_catalogue_url(2, 2), json={"bundles": [bundle("c"), bundle("d")], "rows": 4})
    assert [p.page for p in client.iter_catalogue(per_page=2)] == [1, 2]
    assert len(mocked_responses.calls) == 2


def test_catalogue_bare_array_stops_on_short_page(client, mocked_responses):
    mocked_responses.get(_catalogue_url(1, 2), json=[bundle("a"), bundle("b")])
    mocked_responses.get(_catalogue_url(2, 2), json=[bundle("c")])
    result = list(client.iter_catalogue(per_page=2))
    assert [len(p.bundles) for p in result] == [2, 1]
    assert result[0].page_count is None and result[0].rows is None


def test_catalogue_passes_filters(client, mocked_responses):
    mocked_responses.get(f"{BASE}/catalogue", json={"bundles": [], "pageCount": 0, "rows": 0})
    list(client.iter_catalogue(per_page=50, countries="MN,CN", group="Standard Fixed", region=None))
    url = mocked_responses.calls[0].request.url
    assert "countries=MN%2CCN" in url and "group=Standard+Fixed" in url and "region" not in url


@pytest.mark.parametrize(
    "payload",
    [
        {"pageCount": 1, "rows": 1},  # no bundles key
        {"bundles": "nope"},
        {"bundles": [{"description": "no name", "dataAmount": 1, "duration": 1, "price": 1}]},
        {"bundles": [bundle(price="cheap")]},
        {"bundles": [bundle(countries=[{"name": "Nowhere"}])]},
        "just a string",
    ],
)
def test_malformed_catalogue_pages_raise(client, mocked_responses, payload):
    mocked_responses.get(f"{BASE}/catalogue", json=payload)
    with pytest.raises(ESIMGoMalformedResponse):
        list(client.iter_catalogue(per_page=2))


def test_catalogue_non_json_page_raises_malformed(client, mocked_responses):
    mocked_responses.get(f"{BASE}/catalogue", body="<html>", content_type="text/html")
    with pytest.raises(ESIMGoMalformedResponse):
        list(client.iter_catalogue())


def test_catalogue_server_ignoring_page_param_is_malformed_not_short(client, mocked_responses):
    mocked_responses.get(f"{BASE}/catalogue", json=[bundle("a"), bundle("b")])
    with pytest.raises(ESIMGoMalformedResponse):
        list(client.iter_catalogue(per_page=2))


def test_parse_bundle_flat_shape_and_decimal_price():
    result = parse_bundle(bundle(price=2.28, roamingEnabled=[{"name": "China", "region": "Asia", "iso": "cn"}]))
    assert result == CatalogueBundle(
        name="esim_1GB_7D_MN_V2",
        description="eSIM, 1GB, 7 Days, Mongolia, V2",
        groups=("Standard Fixed",),
        data_amount_mb=1000,
        duration_days=7,
        unlimited=False,
        speed=("4G", "5G"),
        autostart=True,
        image_url="https://esimgo-cms-images-prod.s3.eu-west-1.amazonaws.com/Mongolia.jpg",
        billing_type="FixedCost",
        price=Decimal("2.28"),
        currency="",
        countries=(Country(iso="MN", name="Mongolia", region="Asia"),),
        roaming=(Country(iso="CN", name="China", region="Asia"),),
    )


@pytest.mark.parametrize(
    "price, expected", [(1.36, "1.36"), (0.1, "0.1"), ("9.99", "9.99"), (5, "5"), (12.005, "12.005")]
)
def test_prices_are_exact_decimals(price, expected):
    assert parse_bundle(bundle(price=price)).price == Decimal(expected)


def test_prices_from_json_text_are_exact(client, mocked_responses):
    mocked_responses.get(
        f"{BASE}/catalogue/bundle/esim_1GB_7D_MN_V2",
        body=json.dumps(bundle()).replace('"price": 1.36', '"price": 1.36000000000000001'),
        content_type="application/json",
    )
    assert client.get_bundle("esim_1GB_7D_MN_V2").price == Decimal("1.36")


def test_get_bundle_nested_country_shape(client, mocked_responses):
    nested = bundle(
        "esim_UL_1D_EU_V2",
        countries=[
            {
                "country": {"name": "France", "region": "Europe", "iso": "FR"},
                "networks": [{"name": "Orange", "brandName": "Orange", "speeds": ["4G"]}],
            }
        ],
        roamingEnabled=[
            {"country": {"name": "Germany", "region": "Europe", "iso": "DE"}, "networks": []},
            {"country": {"name": "Spain", "region": "Europe", "iso": "ES"}, "networks": []},
        ],
        dataAmount=-1,
        unlimited=True,
        speed=None,
    )
    mocked_responses.get(f"{BASE}/catalogue/bundle/esim_UL_1D_EU_V2", json=nested)
    result = client.get_bundle("esim_UL_1D_EU_V2")
    assert result.countries == (Country(iso="FR", name="France", region="Europe"),)
    assert [c.iso for c in result.roaming] == ["DE", "ES"]
    assert result.unlimited is True and result.data_amount_mb == -1
    assert result.speed == ()


@pytest.mark.parametrize(
    "overrides, unlimited, data_mb",
    [
        ({"dataAmount": -1, "unlimited": True}, True, -1),
        ({"dataAmount": -1, "unlimited": False}, True, -1),  # -1 is a sentinel even without the flag
        ({"dataAmount": 0, "unlimited": True}, True, -1),  # the flag is authoritative
        ({"dataAmount": 20000.0, "unlimited": False}, False, 20000),
        ({"dataAmount": "3000"}, False, 3000),
    ],
)
def test_data_amount_and_unlimited(overrides, unlimited, data_mb):
    result = parse_bundle(bundle(**overrides))
    assert (result.unlimited, result.data_amount_mb) == (unlimited, data_mb)


@pytest.mark.parametrize(
    "speed, expected",
    [
        (["4G", "5G"], ["4G", "5G"]),
        ("4G/5G", ["4G", "5G"]),
        ({"4G": True, "5G": False}, ["4G"]),
        (None, []),
        ({"speeds": ["3G"]}, ["3G"]),
    ],
)
def test_speed_shapes(speed, expected):
    assert list(parse_bundle(bundle(speed=speed)).speed) == expected


@pytest.mark.parametrize(
    "overrides",
    [{"dataAmount": None}, {"duration": None}, {"price": None}, {"price": "NaN"}, {"price": True}, {"dataAmount": 0.5}],
)
def test_bundle_garbage_raises(overrides):
    with pytest.raises(ESIMGoMalformedResponse):
        parse_bundle(bundle(**overrides))


# --- organisation ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "payload",
    [
        {"name": "Org", "balance": 1234.56, "currency": "USD"},
        {"organisations": [{"name": "Org", "balance": 1234.56, "currency": "USD"}], "user": {}},
        {"organisation": {"name": "Org", "balance": "1234.56", "currency": "USD"}},
    ],
)
def test_organisation_shapes(client, mocked_responses, payload):
    mocked_responses.get(f"{BASE}/organisation", json=payload)
    org = client.get_organisation()
    assert org.balance == Decimal("1234.56")
    assert org.currency == "USD" and org.name == "Org"


@pytest.mark.parametrize("payload", [{"organisations": []}, {"name": "no balance"}, []])
def test_organisation_without_balance_is_malformed(client, mocked_responses, payload):
    mocked_responses.get(f"{BASE}/organisation", json=payload)
    with pytest.raises(ESIMGoMalformedResponse):
        client.get_organisation()


# --- assignments and eSIMs -----------------------------------------------------------------

ASSIGNMENT = {
    "iccid": "8944538532008160000",
    "matchingId": "4I93G-KIS04",
    "smdpAddress": "rsp-3104.idemia.io",
    "profileStatus": "Released",
}


@pytest.mark.parametrize("payload", [ASSIGNMENT, [ASSIGNMENT]])
def test_assignments_single_object_or_list(client, mocked_responses, payload):
    mocked_responses.get(f"{BASE}/esims/assignments", json=payload)
    assert client.get_assignments("ref-1") == (
        EsimInstall(iccid="8944538532008160000", matching_id="4I93G-KIS04", smdp_address="rsp-3104.idemia.io"),
    )
    request = mocked_responses.calls[0].request
    assert request.headers["Accept"] == "application/json"
    assert "reference=ref-1" in request.url


def test_assignments_csv_when_accept_ignored(client, mocked_responses):
    csv_body = "ICCID,Matching ID,RSP URL,Bundle,Reference\n8944538532008160000,4I93G-KIS04,rsp-3104.idemia.io,esim_1GB_7D_MN_V2,ref-1\n"
    mocked_responses.get(f"{BASE}/esims/assignments", body=csv_body, content_type="text/csv")
    assert client.get_assignments("ref-1") == (
        EsimInstall(
            iccid="8944538532008160000",
            matching_id="4I93G-KIS04",
            smdp_address="rsp-3104.idemia.io",
            bundle="esim_1GB_7D_MN_V2",
            reference="ref-1",
        ),
    )


def test_assignments_without_iccid_are_malformed(client, mocked_responses):
    mocked_responses.get(f"{BASE}/esims/assignments", json={"matchingId": "x"})
    with pytest.raises(ESIMGoMalformedResponse):
        client.get_assignments("ref-1")


def test_esim_bundles_assignment_shapes(client, mocked_responses):
    mocked_responses.get(
        f"{BASE}/esims/8944/bundles",
        json={
            "bundles": [
                {
                    "name": "a",
                    "assignments": {
                        "id": "1",
                        "initialQuantity": 1000000000,
                        "remainingQuantity": 250000000.0,
                        "bundleState": "Active",
                        "unlimited": False,
                    },
                },
                {
                    "name": "b",
                    "assignments": [
                        {
                            "id": "2",
                            "initialQuantity": 5000000000,
                            "remainingQuantity": 5000000000,
                            "bundleState": "queued",
                        }
                    ],
                },
                {"name": "c", "assignments": None},
            ]
        },
    )
    result = client.get_esim_bundles("8944")
    assert [len(b.assignments) for b in result] == [1, 1, 0]
    assert result[0].assignments[0] == BundleAssignment(
        id="1",
        state="active",
        initial_bytes=1000000000,
        remaining_bytes=250000000,
        unlimited=False,
        start_time="",
        end_time="",
    )
    assert result[1].assignments[0].state == "queued"
    assert "includeUsed=true" in mocked_responses.calls[0].request.url


def test_compatible_and_customer_ref(client, mocked_responses):
    mocked_responses.get(f"{BASE}/esims/8944/compatible/esim_1GB_7D_MN_V2", json={"compatible": False})
    assert client.is_compatible("8944", "esim_1GB_7D_MN_V2") is False
    mocked_responses.put(f"{BASE}/esims", json={"status": "success"})
    assert client.set_customer_ref("8944", "order-123") is None
    assert json.loads(mocked_responses.calls[1].request.body) == {"iccid": "8944", "customerRef": "order-123"}


# --- rate limiter ----------------------------------------------------------------------------


class FakeClock:
    def __init__(self, start=1000.25):
        self.now = start
        self.slept = []

    def __call__(self):
        return self.now

    def sleep(self, seconds):
        self.slept.append(seconds)
        self.now += seconds


def test_local_limiter_blocks_the_eleventh_call_until_the_next_second():
    clock = FakeClock()
    limiter = SharedRateLimiter(10, clock=clock, sleep=clock.sleep, use_cache=False)
    waits = [limiter.acquire() for _ in range(10)]
    assert waits == [0.0] * 10 and clock.slept == []
    waited = limiter.acquire()
    assert waited == pytest.approx(0.75)
    assert int(clock.now) == 1001
    assert [limiter.acquire() for _ in range(9)] == [0.0] * 9
    assert limiter.acquire() > 0  # the 11th in second 1001 waits again


def test_cache_limiter_is_shared_between_limiter_instances():
    """Two limiters stand in for two processes: they share the cache counter."""
    clock = FakeClock()
    first = SharedRateLimiter(4, clock=clock, sleep=clock.sleep, use_cache=True)
    second = SharedRateLimiter(4, clock=clock, sleep=clock.sleep, use_cache=True)
    for limiter in (first, second, first, second):
        assert limiter.acquire() == 0.0
    assert second.acquire() > 0
    assert int(clock.now) == 1001


def test_cache_outage_falls_back_to_local_counter(monkeypatch):
    clock = FakeClock()
    limiter = SharedRateLimiter(2, clock=clock, sleep=clock.sleep, use_cache=True)

    def broken(window):
        raise ConnectionError("redis down")

    monkeypatch.setattr(limiter.shared, "incr", broken)
    assert limiter.acquire() == 0.0
    assert limiter.acquire() == 0.0
    assert limiter.acquire() > 0


def test_limiter_reads_limit_from_settings(settings):
    settings.ESIMGO_RATE_LIMIT_PER_SECOND = 1
    clock = FakeClock()
    limiter = SharedRateLimiter(clock=clock, sleep=clock.sleep, use_cache=False)
    assert limiter.acquire() == 0.0
    assert limiter.acquire() > 0
