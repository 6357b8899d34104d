"""Schemathesis against the OpenAPI schema the shop serves at /api/schema/: requests for every
documented operation (the purchase API and the packages API) generated from the schema, valid
and invalid, sent through the WSGI app. Checks: never a server error, schema-invalid data is
refused with a 4xx, responses are JSON, a refused request writes nothing, and a 400 names fields
of the operation."""

from decimal import Decimal

import pytest
import responses
import schemathesis
from django.core import signals
from django.core.cache import cache
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections
from schemathesis.specs.openapi.checks import content_type_conformance, negative_data_rejection

from tests.catalog.factories import BundleFactory, refresh_country_stats
from tests.fuzz.conftest import changed_rows, row_counts, tried
from tests.payments.qpay_mocks import add_invoice_create, add_token

NAME = "esim_1GB_7D_MN_V2"
OPERATION_FIELDS = {
    "POST /api/customer/transactions/purchase": {"phoneNumber", "email", "amount", "packageCode", "description"},
    "GET /api/packages/": {"country", "unlimited", "minDays", "maxDays", "minDataMb", "sort"},
}


@pytest.fixture
def shop(db, mocked_responses, settings):
    settings.PAYMENTS_PURCHASE_RATE_LIMIT_PER_MINUTE = 10**6
    BundleFactory(name=NAME, countries=["MN"], price=Decimal("1.53"), computed_price_mnt=12500)
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
    # Schemathesis calls the real WSGI handler, whose request_finished closes the database connection
    # (and with it the test's transaction); Django's test client unhooks it the same way.
    signals.request_started.disconnect(close_old_connections)
    signals.request_finished.disconnect(close_old_connections)
    yield
    signals.request_started.connect(close_old_connections)
    signals.request_finished.connect(close_old_connections)


# Loaded at collection through the WSGI app, exactly as served (the schema view needs no database).
# (schemathesis.pytest.from_fixture would defer this, but its lazy loader breaks on pytest 9.)
schema = schemathesis.openapi.from_wsgi("/api/schema/", get_wsgi_application())


@schema.parametrize()
def test_api_from_schema(case, shop):
    operation = f"{case.method.upper()} {case.path}"
    tried(f"schemathesis {operation}" if operation in OPERATION_FIELDS else "schemathesis (undocumented methods)")
    cache.clear()
    before = row_counts()
    response = case.call()
    assert response.status_code < 500, (response.status_code, response.text[:300])
    # The packages API treats an empty query value (?sort=) as absent, as HTML forms send empty
    # fields; the schema cannot say so, so such requests are not held to "invalid data is refused".
    lenient = any(value == "" for value in (case.query or {}).values())
    case.validate_response(response, checks=[content_type_conformance, *([] if lenient else [negative_data_rejection])])
    if response.status_code >= 400:
        assert changed_rows(before, row_counts()) == {}
    if response.status_code == 400:
        body = response.json()
        if case.method.upper() == "POST" and not isinstance(case.body, dict):
            assert isinstance(body.get("error"), str), body  # not an object: nothing to name but the body
            return
        named = set(body.get("errors", body)) - {"error", "code"}
        assert named and named <= OPERATION_FIELDS[operation], body
