"""Both provider clients share one error base: one meaning of "transient" and of "may have
reached the provider", and one rule for what the client repeats (integrations.errors)."""

import pytest
import requests
import responses
from urllib3.exceptions import NewConnectionError

from integrations.errors import (
    ProviderError,
    ProviderMalformedResponse,
    ProviderRateLimited,
    ProviderUnavailable,
    may_retry_now,
    never_sent,
)
from integrations.esimgo.client import (
    ESIMGoAuthError,
    ESIMGoClient,
    ESIMGoError,
    ESIMGoMalformedResponse,
    ESIMGoRateLimited,
    ESIMGoRefused,
    ESIMGoUnavailable,
)
from integrations.qpay.client import QPayClient, QPayError, QPayMalformedResponse, QPayRateLimited, QPayUnavailable
from tests.payments.qpay_mocks import BASE as QPAY_BASE
from tests.payments.qpay_mocks import add_token

ESIMGO_BASE = "https://api.esim-go.com/v2.4"


def qpay_client():
    return QPayClient(
        base_url=QPAY_BASE.removesuffix("/v2"),
        client_id="client",
        client_secret="secret",
        invoice_code="TEST_INVOICE",
        max_retries=2,
    )


class NoLimit:
    def acquire(self):
        return 0.0


@pytest.fixture
def esimgo():
    return ESIMGoClient(base_url=ESIMGO_BASE, api_key="k", rate_limiter=NoLimit(), sleep=lambda s: None)


@pytest.mark.parametrize(
    "esimgo_class, qpay_class, shared",
    [
        (ESIMGoError, QPayError, ProviderError),
        (ESIMGoRateLimited, QPayRateLimited, ProviderRateLimited),
        (ESIMGoUnavailable, QPayUnavailable, ProviderUnavailable),
        (ESIMGoMalformedResponse, QPayMalformedResponse, ProviderMalformedResponse),
    ],
)
def test_both_hierarchies_share_one_base_with_one_meaning(esimgo_class, qpay_class, shared):
    assert issubclass(esimgo_class, shared) and issubclass(qpay_class, shared)
    assert esimgo_class.transient == qpay_class.transient == shared.transient
    assert esimgo_class.retry_in_client == qpay_class.retry_in_client == shared.retry_in_client


def test_a_malformed_answer_is_treated_the_same_by_both_clients(esimgo, mocked_responses):
    mocked_responses.get(f"{ESIMGO_BASE}/esims/8944", body="<html>proxy</html>", content_type="text/html")
    with pytest.raises(ESIMGoMalformedResponse) as esimgo_error:
        esimgo.get_esim("8944")
    add_token(mocked_responses)
    mocked_responses.get(f"{QPAY_BASE}/invoice/abc", body="<html>proxy</html>", content_type="text/html")
    with pytest.raises(QPayMalformedResponse) as qpay_error:
        qpay_client().get_invoice("abc")
    for error in (esimgo_error.value, qpay_error.value):
        assert error.transient is True  # a later attempt may read fine
        assert error.reached_provider is True  # the provider answered
        assert may_retry_now(error, idempotent=True) is False  # but never repeated at once
    assert len([c for c in mocked_responses.calls if "/invoice/abc" in c.request.url]) == 1
    assert len([c for c in mocked_responses.calls if "/esims/8944" in c.request.url]) == 1


def test_the_retry_rule():
    reset = ProviderUnavailable("reset", reached_provider=True)
    refused = ProviderUnavailable("refused", reached_provider=False)
    limited = ProviderRateLimited("429")
    assert limited.reached_provider is False  # refused before acting
    assert may_retry_now(reset, idempotent=True) and not may_retry_now(reset, idempotent=False)
    assert may_retry_now(refused, idempotent=False) and may_retry_now(limited, idempotent=False)
    assert not may_retry_now(ProviderError("400"), idempotent=True)


def test_never_sent_only_for_failures_before_the_request_left():
    assert never_sent(requests.ConnectTimeout("connect"))
    refused = requests.ConnectionError(NewConnectionError(None, "Connection refused"))
    assert never_sent(refused)
    assert not never_sent(requests.ConnectionError("Connection reset by peer"))
    assert not never_sent(requests.ReadTimeout("read"))


def test_esimgo_purchase_on_a_refused_connection_is_known_not_to_have_happened(esimgo, mocked_responses):
    refused = requests.ConnectionError(NewConnectionError(None, "Connection refused"))
    mocked_responses.post(f"{ESIMGO_BASE}/orders", body=refused)
    with pytest.raises(ESIMGoUnavailable) as excinfo:
        esimgo.create_order("esim_1GB_7D_MN_V2")
    assert excinfo.value.reached_provider is False
    assert excinfo.value.outcome_unknown is False


def test_esimgo_purchase_reset_mid_request_has_an_unknown_outcome(esimgo, mocked_responses):
    mocked_responses.post(f"{ESIMGO_BASE}/orders", body=requests.ConnectionError("Connection reset by peer"))
    with pytest.raises(ESIMGoUnavailable) as excinfo:
        esimgo.create_order("esim_1GB_7D_MN_V2")
    assert excinfo.value.reached_provider is True
    assert excinfo.value.outcome_unknown is True
    assert len(mocked_responses.calls) == 1


def test_qpay_invoice_creation_is_repeated_only_when_it_never_left(mocked_responses, monkeypatch):
    monkeypatch.setattr("integrations.qpay.client.time.sleep", lambda s: None)
    add_token(mocked_responses)
    refused = requests.ConnectionError(NewConnectionError(None, "Connection refused"))
    mocked_responses.post(f"{QPAY_BASE}/invoice", body=refused)
    mocked_responses.post(f"{QPAY_BASE}/invoice", json={"invoice_id": "inv-1", "qr_text": "q", "qr_image": ""})
    assert (
        qpay_client()
        .create_invoice(sender_invoice_no="S1", amount=1000, description="d", callback_url="https://shop/cb")
        .invoice_id
        == "inv-1"
    )
    mocked_responses.post(f"{QPAY_BASE}/invoice", body=requests.ConnectionError("Connection reset by peer"))
    with pytest.raises(QPayUnavailable) as excinfo:
        qpay_client().create_invoice(
            sender_invoice_no="S2", amount=1000, description="d", callback_url="https://shop/cb"
        )
    assert excinfo.value.reached_provider is True


# --- eSIM Go 403: a bad key vs a bundle that cannot be bought (docs/providers/esimgo.md) ---------


@pytest.mark.parametrize("message", ["access denied", "Access Denied", "api token invalid", ""])
def test_esimgo_403_for_the_key_is_an_auth_error(esimgo, mocked_responses, message):
    mocked_responses.post(f"{ESIMGO_BASE}/orders", status=403, json={"message": message})
    with pytest.raises(ESIMGoAuthError):
        esimgo.create_order("esim_1GB_7D_MN_V2", validate=True)


@pytest.mark.parametrize(
    "message",
    [
        "no Bundles left",
        "ICCID not accessible by the user",
        "Bundle esim_1GB_7D_MN_V2 is not available for your organisation",
    ],
)
def test_esimgo_403_about_the_bundle_is_a_refusal_not_an_auth_error(esimgo, mocked_responses, message):
    mocked_responses.post(f"{ESIMGO_BASE}/orders", status=403, json={"message": message})
    with pytest.raises(ESIMGoRefused) as excinfo:
        esimgo.create_order("esim_1GB_7D_MN_V2", validate=True)
    assert not isinstance(excinfo.value, ESIMGoAuthError)
    assert excinfo.value.transient is False
    assert len(mocked_responses.calls) == 1


# --- eSIM Go catalogue pager follows pageCount ------------------------------------------------


def _bundle(name):
    return {
        "name": name,
        "description": name,
        "groups": ["Standard Fixed"],
        "dataAmount": 1000,
        "duration": 7,
        "countries": [{"name": "Mongolia", "region": "Asia", "iso": "MN"}],
        "roamingEnabled": [],
        "price": 1.36,
        "unlimited": False,
        "speed": ["4G"],
        "autostart": True,
        "billingType": "FixedCost",
    }


def test_catalogue_pager_follows_page_count_past_a_short_page(esimgo, mocked_responses):
    # The live API may cap a page below perPage; pageCount still says how many pages there are.
    pages = {1: ["a1", "a2"], 2: ["b1"], 3: ["c1", "c2"]}
    for page, names in pages.items():
        mocked_responses.get(
            f"{ESIMGO_BASE}/catalogue",
            json={"bundles": [_bundle(n) for n in names], "pageCount": 3, "rows": 5, "pageSize": 3},
            match=[responses.matchers.query_param_matcher({"page": str(page), "perPage": "3"})],
        )
    names = [b.name for page in esimgo.iter_catalogue(per_page=3) for b in page.bundles]
    assert names == ["a1", "a2", "b1", "c1", "c2"]
