"""Fuzzing the JSON API: the purchase API, the payment status endpoint and the packages API.

Properties for every input: never a 500 (the test client re-raises any unhandled exception);
a refused input writes nothing (row counts of every model unchanged); a 400 says what is wrong,
and when the input was a JSON object, names the offending fields.
"""

import json
import uuid
from decimal import Decimal

import pytest
import responses
from django.core.cache import cache
from hypothesis import given
from hypothesis import strategies as st

from catalog.api import QUERY_PARAMS
from catalog.selectors import SORT_ORDERS
from tests.catalog.factories import BundleFactory, refresh_country_stats
from tests.fuzz import strategies as fz
from tests.fuzz.conftest import changed_rows, row_counts, tried
from tests.payments.factories import InvoiceFactory
from tests.payments.qpay_mocks import add_invoice_create, add_token

pytestmark = pytest.mark.django_db

NAME = "esim_1GB_7D_MN_V2"
PRICE = 12500
PURCHASE_URL = "/api/customer/transactions/purchase"
PURCHASE_FIELDS = {"phoneNumber", "email", "amount", "packageCode", "description"}


@pytest.fixture
def shop(db, mocked_responses, settings):
    settings.PAYMENTS_PURCHASE_RATE_LIMIT_PER_MINUTE = 10**6
    bundle = BundleFactory(name=NAME, countries=["MN"], price=Decimal("1.53"), computed_price_mnt=PRICE)
    BundleFactory(
        name="esim_2GB_15D_MN_V2",
        countries=["MN"],
        price=Decimal("2.20"),
        computed_price_mnt=9500,
        data_amount_mb=2000,
        duration_days=15,
    )
    refresh_country_stats()
    add_token(mocked_responses)
    add_invoice_create(mocked_responses)
    mocked_responses.add(
        responses.POST,
        "https://api.esim-go.com/v2.4/orders",
        json={
            "order": [{"type": "bundle", "item": NAME, "quantity": 1, "subTotal": 1.53, "pricePerUnit": 1.53}],
            "total": 1.53,
            "valid": True,
            "currency": "USD",
            "createdDate": "2026-11-23T10:00:00Z",
            "assigned": False,
        },
    )
    return bundle


# --- purchase API -------------------------------------------------------------------------------

valid_field = {
    "phoneNumber": st.sampled_from(["99112233", "+976 9911 2233", "9911-2233", "976 99112233"]),
    "email": fz.valid_email(),
    "amount": st.sampled_from([PRICE, str(PRICE), f"{PRICE}.0", f" {PRICE} "]),
    "packageCode": st.just(NAME),
    "description": st.text(max_size=300),
}
purchase_objects = st.builds(
    lambda fields, extra: {**extra, **fields},
    st.fixed_dictionaries(
        {}, optional={name: st.one_of(strategy, fz.json_values) for name, strategy in valid_field.items()}
    ),
    st.dictionaries(fz.short_text, fz.json_values, max_size=2),
)


@given(body=st.one_of(purchase_objects, purchase_objects, fz.json_values))
def test_purchase_api_json(shop, client, body):
    tried("purchase API (JSON bodies)")
    cache.clear()
    before = row_counts()
    response = client.post(PURCHASE_URL, data=json.dumps(body), content_type="application/json")
    assert response.status_code in (201, 400), (response.status_code, response.content[:500])
    if response.status_code == 201:
        assert response.json()["amount"] == PRICE
        return
    assert changed_rows(before, row_counts()) == {}, body
    payload = response.json()
    assert isinstance(payload.get("error"), str) and payload["error"], payload
    if isinstance(body, dict):
        errors = payload.get("errors")
        assert isinstance(errors, dict) and errors, payload
        assert set(errors) <= PURCHASE_FIELDS, payload
        assert all(isinstance(m, list) and m and all(isinstance(t, str) and t for t in m) for m in errors.values()), (
            payload
        )


@given(
    body=st.one_of(fz.raw_bodies, fz.json_number_literals.map(lambda n: f'{{"amount": {n}}}'.encode())),
    content_type=fz.content_types,
)
def test_purchase_api_raw_bodies(shop, client, body, content_type):
    tried("purchase API (raw bodies, content types)")
    cache.clear()
    before = row_counts()
    response = client.generic("POST", PURCHASE_URL, data=body, content_type=content_type)
    assert response.status_code in (201, 400, 415), (response.status_code, response.content[:500])
    if response.status_code != 201:
        assert changed_rows(before, row_counts()) == {}, body
        assert isinstance(response.json().get("error"), str), response.content[:500]


@given(method=fz.http_methods.filter(lambda m: m != "POST"), body=fz.raw_bodies)
def test_purchase_api_other_methods(shop, client, method, body):
    tried("purchase API (other methods)")
    before = row_counts()
    response = client.generic(method, PURCHASE_URL, data=body, content_type="application/json")
    assert response.status_code in (200, 405), response.status_code  # OPTIONS answers 200 (DRF metadata)
    assert changed_rows(before, row_counts()) == {}


# --- status endpoint ---------------------------------------------------------------------------------


@given(
    kind=st.sampled_from(["existing", "unknown uuid", "junk"]),
    junk=fz.any_text,
    method=fz.http_methods,
    query=fz.query_params,
    language=fz.accept_languages,
    cookie=st.one_of(st.none(), fz.latin1_text),
)
def test_status_endpoint(shop, client, kind, junk, method, query, language, cookie):
    tried("status endpoint")
    cache.clear()
    invoice = InvoiceFactory(bundle=shop) if kind == "existing" else None
    segment = {
        "existing": str(invoice.pk) if invoice else "",
        "unknown uuid": str(uuid.uuid4()),
        "junk": fz.path_segment(junk),
    }[kind]
    headers = {"HTTP_ACCEPT_LANGUAGE": language} if language is not None else {}
    if cookie is not None:
        client.cookies["django_language"] = cookie
    before = row_counts()
    if invoice is not None:  # the creator's capability; fuzzed parameters come after it
        query = {**query, "token": invoice.access_token}
    response = client.generic(
        method, f"/api/customer/transactions/{segment}/status", data=b"", QUERY_STRING=_query_string(query), **headers
    )
    assert response.status_code in (200, 404, 405), (response.status_code, response.content[:300])
    assert changed_rows(before, row_counts()) == {}
    if method == "GET" and kind == "existing":
        assert response.status_code == 200 and response.json()["status"] == "PENDING"
    if response.status_code == 404 and method != "HEAD":
        assert "error" in response.json()


# --- packages API --------------------------------------------------------------------------------------

package_values = {
    "country": st.sampled_from(["MN", "mn", "JP", "XX", "M", "MNG", "", "М Н"]),
    "unlimited": st.sampled_from(["true", "false", "1", "0", "True", "maybe", "", "null"]),
    "minDays": st.one_of(st.integers(-10, 10**12).map(str), st.sampled_from(["1.5", "7", "", "1e3"])),
    "maxDays": st.one_of(st.integers(-10, 10**12).map(str), st.sampled_from(["30", "0", " 3"])),
    "minDataMb": st.one_of(st.integers(-10, 10**12).map(str), st.sampled_from(["1000", "-1"])),
    "sort": st.sampled_from([*SORT_ORDERS, "", "PRICE", "name", "-data"]),
}
package_queries = st.dictionaries(
    st.one_of(st.sampled_from(list(QUERY_PARAMS)), fz.short_text),
    st.one_of(fz.any_text, st.lists(fz.short_text, min_size=2, max_size=3)),
    max_size=3,
).flatmap(lambda junk: st.fixed_dictionaries({}, optional=package_values).map(lambda good: {**junk, **good}))


@given(query=st.one_of(package_queries, fz.query_params), language=fz.accept_languages)
def test_packages_api(shop, client, query, language):
    tried("packages API")
    cache.clear()
    headers = {"HTTP_ACCEPT_LANGUAGE": language} if language is not None else {}
    before = row_counts()
    response = client.get("/api/packages/", QUERY_STRING=_query_string(query), **headers)
    assert response.status_code in (200, 400, 404), (response.status_code, response.content[:300])
    assert changed_rows(before, row_counts()) == {}
    payload = response.json()
    if response.status_code == 400:
        assert isinstance(payload, dict) and payload["code"] == "invalid" and isinstance(payload["error"], str), payload
        assert payload["errors"] and set(payload["errors"]) <= set(QUERY_PARAMS), payload
    elif response.status_code == 200:
        assert all(item["currency"] == "MNT" and isinstance(item["amount"], int) for item in payload)


def _query_string(query: dict) -> str:
    from urllib.parse import urlencode

    return urlencode(query, doseq=True)
