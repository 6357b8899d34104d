"""Fuzzing the two provider callbacks: QPay's (GET/POST with a per-invoice token) and eSIM Go's
signed usage callback.

Invalid input (wrong/missing token, unknown invoice, bad signature, wrong method) writes nothing.
Authentic input is not invalid: a QPay callback with the right token is always answered 200 and
stored in the inbox exactly once per request, whatever else it carries; a correctly signed eSIM Go
body is stored once per distinct body and its processing never raises.
"""

import base64
import hashlib
import hmac
import json
import uuid
from urllib.parse import urlencode

import pytest
from django.conf import settings as django_settings
from django.core.cache import cache
from hypothesis import given
from hypothesis import strategies as st

from orders import callbacks
from orders.models import ESIMGoCallback
from payments import inbox
from payments.models import QPayCallback
from tests.fuzz import strategies as fz
from tests.fuzz.conftest import changed_rows, row_counts, tried
from tests.payments.factories import InvoiceFactory
from tests.payments.qpay_mocks import add_check, add_token

pytestmark = pytest.mark.django_db


@pytest.fixture
def invoice(db, mocked_responses):
    add_token(mocked_responses)
    add_check(mocked_responses)  # nothing paid: every verification is NOT_PAID
    return InvoiceFactory()


# --- QPay callback ------------------------------------------------------------------------------------

tokens = st.sampled_from(["valid", "missing", "random", "valid+x", "other invoice's", "empty"])
invoice_refs = st.sampled_from(["existing", "unknown uuid", "junk"])


@given(
    method=fz.http_methods,
    ref=invoice_refs,
    token_kind=tokens,
    junk=fz.any_text,
    payment_id=st.one_of(st.none(), fz.any_text, st.integers(10**14, 10**15).map(str)),
    extra=fz.query_params,
    body=fz.raw_bodies,
    content_type=fz.content_types,
    user_agent=st.one_of(st.none(), fz.latin1_text),
)
def test_qpay_callback(
    invoice, client, method, ref, token_kind, junk, payment_id, extra, body, content_type, user_agent
):
    tried("QPay callback view")
    cache.clear()
    invoice_id = {"existing": str(invoice.pk), "unknown uuid": str(uuid.uuid4()), "junk": fz.path_segment(junk)}[ref]
    token = {
        "valid": inbox.callback_token(invoice_id),
        "random": junk,
        "valid+x": inbox.callback_token(invoice_id) + "x",
        "other invoice's": inbox.callback_token(uuid.uuid4()),
        "empty": "",
        "missing": None,
    }[token_kind]
    query = {k: v for k, v in extra.items() if k not in ("token", "qpay_payment_id")}
    if token is not None:
        query["token"] = token
    if payment_id is not None:
        query["qpay_payment_id"] = payment_id
    headers = {"HTTP_USER_AGENT": user_agent} if user_agent is not None else {}
    before = row_counts()
    response = client.generic(
        method,
        f"/payments/qpay/callback/{invoice_id}/",
        data=body,
        content_type=content_type,
        QUERY_STRING=urlencode(query, doseq=True),
        **headers,
    )
    delta = changed_rows(before, row_counts())
    authentic = ref == "existing" and token_kind == "valid"
    if ref == "junk":  # not a UUID: no route
        assert response.status_code == 404 and delta == {}
    elif method not in ("GET", "POST"):
        assert response.status_code == 405 and delta == {}
    elif authentic:
        # Not invalid input: always 200 SUCCESS and exactly one inbox row for this request.
        assert response.status_code == 200 and response.content == b"SUCCESS", response.content[:200]
        assert delta.get("payments.QPayCallback") == 1, delta
        stored = QPayCallback.objects.latest("received_at")
        assert "token" not in stored.query_string
    else:
        assert response.status_code == 404, response.status_code
        assert delta == {}, delta


# --- eSIM Go callback -----------------------------------------------------------------------------------


def _sign(body: bytes, encoding: str) -> str:
    digest = hmac.new(django_settings.ESIMGO_API_KEY.encode(), body, hashlib.sha256).digest()
    return {
        "hex": digest.hex(),
        "HEX": digest.hex().upper(),
        "base64": base64.b64encode(digest).decode(),
        "sha256=hex": "sha256=" + digest.hex(),
    }[encoding]


usage_bodies = st.fixed_dictionaries(
    {
        "alertType": st.one_of(st.sampled_from(["Utilisation", "FirstUse", "utilization", "Other"]), fz.json_values),
        "iccid": st.one_of(st.sampled_from(["8944000000000000001", 8944000000000000001]), fz.json_values),
        "bundle": st.one_of(
            fz.json_values,
            st.fixed_dictionaries(
                {},
                optional={
                    "name": st.one_of(st.just("esim_1GB_7D_MN_V2"), fz.json_values),
                    "initialQuantity": st.one_of(st.integers(-5, 10**12), fz.json_values),
                    "remainingQuantity": st.one_of(st.integers(-5, 10**12), fz.json_values),
                    "unlimited": fz.json_values,
                    "id": fz.json_values,
                    "startTime": fz.json_values,
                    "endTime": fz.json_values,
                },
            ),
        ),
    }
).map(lambda d: json.dumps(d).encode())


@given(
    body=st.one_of(usage_bodies, fz.raw_bodies),
    signature=st.sampled_from(["hex", "HEX", "base64", "sha256=hex", "missing", "random", "other body", "empty"]),
    junk=fz.ascii_junk,
    method=st.sampled_from(["POST", "POST", "POST", "GET", "PUT"]),
)
def test_esimgo_callback(db, client, mocked_responses, body, signature, junk, method):
    tried("eSIM Go callback endpoint")
    cache.clear()
    headers = {}
    if signature in ("hex", "HEX", "base64", "sha256=hex"):
        headers["HTTP_X_SIGNATURE_SHA256"] = _sign(body, signature)
    elif signature == "other body":
        headers["HTTP_X_SIGNATURE_SHA256"] = _sign(body + b" ", "hex")
    elif signature in ("random", "empty"):
        headers["HTTP_X_SIGNATURE_SHA256"] = junk if signature == "random" else ""
    seen_before = ESIMGoCallback.objects.filter(body_sha256=hashlib.sha256(body).hexdigest()).exists()
    before = row_counts()
    response = client.generic(method, "/esimgo/callback/", data=body, content_type="application/json", **headers)
    delta = changed_rows(before, row_counts())
    signed = signature in ("hex", "HEX", "base64", "sha256=hex")
    if method != "POST":
        assert response.status_code == 405 and delta == {}
    elif not signed:
        assert response.status_code == 401 and delta == {}, (response.status_code, delta)
    else:
        assert response.status_code == 200, response.content[:300]
        assert delta == ({} if seen_before else {"orders.ESIMGoCallback": 1}), delta
        # Processing (normally the Celery task) must cope with whatever an authentic body holds.
        row = ESIMGoCallback.objects.get(body_sha256=hashlib.sha256(body).hexdigest())
        callbacks.process_callback(row.pk)
