"""Issue 9: nesting depth and body size on every JSON endpoint: 400 / 413 with a JSON error,
never a 500, never a write (the purchase API, both provider callbacks)."""

import json
import uuid

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.fuzz.conftest import changed_rows, row_counts, tried

pytestmark = pytest.mark.django_db

ENDPOINTS = ["/api/customer/transactions/purchase", "/esimgo/callback/", f"/payments/qpay/callback/{uuid.uuid4()}/"]


def nested(depth: int, opener: str) -> str:
    closer = {"[": "]", "{": "}"}[opener]
    if opener == "[":
        return "[" * depth + "]" * depth
    return '{"a":' * depth + "1" + closer * depth


@given(
    endpoint=st.sampled_from(ENDPOINTS),
    depth=st.integers(min_value=1, max_value=20_000),
    opener=st.sampled_from(["[", "{"]),
    padding=st.integers(min_value=0, max_value=80_000),
    content_type=st.sampled_from(["application/json", "application/json; charset=utf-8", "text/plain"]),
)
def test_deep_or_large_json_is_refused_with_a_json_error(
    client, settings, endpoint, depth, opener, padding, content_type
):
    tried("JSON depth/size limits")
    settings.PAYMENTS_PURCHASE_RATE_LIMIT_PER_MINUTE = 10**6
    settings.PAYMENTS_CALLBACK_BAD_TOKEN_RATE_LIMIT_PER_MINUTE = 10**6
    body, real_depth = nested(depth, opener), depth
    if padding:  # big but shallow (json.dumps itself can't write very deep values)
        inner = json.loads(body) if depth < 500 else None
        body, real_depth = json.dumps({"pad": "x" * padding, "v": inner}), (1 + depth if inner is not None else 1)
    raw = body.encode()
    before = row_counts()
    response = client.post(endpoint, raw, content_type=content_type)
    assert response.status_code < 500, (response.status_code, response.content[:200])
    # A JSON request by its Content-Type, or by its path (the API and eSIM Go's callback parse JSON
    # whatever is declared); QPay's callback ignores a body sent as text.
    if "json" not in content_type and endpoint.startswith("/payments/"):
        return
    if len(raw) > settings.JSON_MAX_BODY_BYTES:
        assert response.status_code == 413 and response.json()["error"]
    elif real_depth > settings.JSON_MAX_DEPTH:
        assert response.status_code == 400 and response.json()["error"]
    if response.status_code in (400, 413):
        assert changed_rows(before, row_counts()) == {}
