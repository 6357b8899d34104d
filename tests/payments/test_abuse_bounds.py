"""Issue 9: bounded abuse and the one client-address rule, for every limiter; JSON limits."""

import json
import uuid

import pytest
from django.test import Client
from django.test.client import RequestFactory

from esimshop.client_address import client_address
from integrations.esimgo.ratelimit import SharedRateLimiter
from payments.inbox import callback_token
from payments.models import Invoice
from tests.payments.conftest import ESIMGO_ORDERS
from tests.payments.factories import InvoiceFactory
from tests.payments.qpay_mocks import calls_to
from tests.payments.test_purchase_api import URL, body, qpay_ok  # noqa: F401 - fixture

pytestmark = pytest.mark.django_db
PROXY = "10.0.0.2"


@pytest.mark.parametrize(
    "count, forwarded, remote, expected",
    [
        (0, "198.51.100.7", "203.0.113.1", "203.0.113.1"),  # no proxy: the header is the client's own text
        (1, "forged, 198.51.100.7", PROXY, "198.51.100.7"),  # one proxy: its appended entry
        (2, "forged, 198.51.100.7, 10.0.0.9", PROXY, "198.51.100.7"),  # two proxies: second from the right
        (1, "", PROXY, PROXY),  # the proxy was bypassed
        (2, "198.51.100.7", PROXY, PROXY),  # fewer entries than proxies
    ],
)
def test_client_address_rule(settings, count, forwarded, remote, expected):
    settings.TRUSTED_PROXY_COUNT = count
    request = RequestFactory().get("/", REMOTE_ADDR=remote, HTTP_X_FORWARDED_FOR=forwarded)
    assert client_address(request) == expected


def _limits(settings):
    settings.PAYMENTS_PURCHASE_RATE_LIMIT_PER_MINUTE = 2
    settings.PAYMENTS_STATUS_RATE_LIMIT_PER_MINUTE = 2
    settings.PAYMENTS_PAY_PAGE_RATE_LIMIT_PER_MINUTE = 2
    settings.PAYMENTS_CALLBACK_BAD_TOKEN_RATE_LIMIT_PER_MINUTE = 2
    settings.ORDERS_STATUS_RATE_LIMIT_PER_MINUTE = 2
    settings.ORDERS_MAGIC_LINK_LOGIN_RATE_LIMIT_PER_MINUTE = 2


def _requests(invoice):
    """One request per rate-limited endpoint: (name, method, path, kwargs)."""
    return {
        "purchase": ("post", URL, {"data": "{}", "content_type": "application/json"}),
        "status": ("get", f"/api/customer/transactions/{invoice.pk}/status?token={invoice.access_token}", {}),
        "pay page": ("get", f"/pay/{invoice.access_token}/", {}),
        "callback (bad token)": ("get", f"/payments/qpay/callback/{invoice.pk}/?token=wrong", {}),
        "eSIM status": ("get", "/esims/no-such-token/status.json", {}),
        "sign-in link": ("get", "/my-esims/login/no-such-token/", {}),
    }


@pytest.mark.parametrize(
    "endpoint", ["purchase", "status", "pay page", "callback (bad token)", "eSIM status", "sign-in link"]
)
def test_each_limit_is_per_client_behind_one_proxy(settings, bundle, endpoint):
    _limits(settings)
    settings.TRUSTED_PROXY_COUNT = 1
    method, path, kwargs = _requests(InvoiceFactory(bundle=bundle))[endpoint]
    client = Client()

    def hit(address):
        return getattr(client, method)(
            path, REMOTE_ADDR=PROXY, HTTP_X_FORWARDED_FOR=f"forged, {address}", **kwargs
        ).status_code

    assert [hit("198.51.100.7") for _ in range(3)][-1] == 429
    assert hit("198.51.100.8") != 429  # another shopper behind the same proxy has their own budget


@pytest.mark.parametrize(
    "endpoint", ["purchase", "status", "pay page", "callback (bad token)", "eSIM status", "sign-in link"]
)
def test_each_limit_ignores_x_forwarded_for_without_a_proxy(settings, bundle, endpoint):
    _limits(settings)
    settings.TRUSTED_PROXY_COUNT = 0
    method, path, kwargs = _requests(InvoiceFactory(bundle=bundle))[endpoint]
    client = Client()
    codes = [
        getattr(client, method)(
            path, REMOTE_ADDR="203.0.113.5", HTTP_X_FORWARDED_FOR=f"10.1.1.{n}", **kwargs
        ).status_code
        for n in range(3)
    ]
    assert codes[-1] == 429  # rotating the header bought no fresh budget


def test_magic_link_requests_are_limited_per_client_address(settings, db):
    settings.TRUSTED_PROXY_COUNT = 1
    settings.ORDERS_MAGIC_LINK_LIMIT_PER_IP = (2, 3600)
    client = Client()
    codes = [
        client.post(
            "/my-esims/", {"email": f"a{n}@example.mn"}, REMOTE_ADDR=PROXY, HTTP_X_FORWARDED_FOR="198.51.100.7"
        ).status_code
        for n in range(6)
    ]
    other = client.post("/my-esims/", {"email": "b@example.mn"}, REMOTE_ADDR=PROXY, HTTP_X_FORWARDED_FOR="198.51.100.8")
    assert 429 in codes and other.status_code == 200


@pytest.mark.parametrize(
    "cap, overrides",
    [
        ("PAYMENTS_MAX_OPEN_INVOICES_PER_PHONE", {"email": "other@example.mn"}),
        ("PAYMENTS_MAX_OPEN_INVOICES_PER_EMAIL", {"phoneNumber": "88112233"}),
        ("PAYMENTS_MAX_OPEN_INVOICES_PER_ADDRESS", {"phoneNumber": "88112233", "email": "other@example.mn"}),
        ("PAYMENTS_MAX_OPEN_INVOICES_TOTAL", {"phoneNumber": "88112233", "email": "other@example.mn"}),
    ],
)
def test_open_invoice_caps_refuse_with_429_and_a_reason(settings, bundle, qpay_ok, cap, overrides):  # noqa: F811
    for name in ("PHONE", "EMAIL", "ADDRESS", "TOTAL"):
        setattr(settings, f"PAYMENTS_MAX_OPEN_INVOICES_{'PER_' if name != 'TOTAL' else ''}{name}", 100)
    setattr(settings, cap, 2)
    client = Client()
    for _ in range(2):
        assert client.post(URL, json.dumps(body()), content_type="application/json").status_code == 201
    refused = client.post(
        URL, json.dumps(body(**overrides)), content_type="application/json", headers={"Accept-Language": "en"}
    )
    assert refused.status_code == 429 and "unpaid invoices" in refused.json()["error"]
    assert Invoice.objects.count() == 2


def test_the_checkout_page_shows_the_cap_as_a_message(settings, bundle, qpay_ok):  # noqa: F811
    settings.PAYMENTS_MAX_OPEN_INVOICES_PER_PHONE = 1
    form = {"phone_number": "99112233", "email": "a@example.mn", "amount": "19500", "device_confirmed": "on"}
    assert Client().post(f"/checkout/{bundle.name}/", form).status_code == 302
    other_browser = Client()
    other_browser.cookies["django_language"] = "en"
    page = other_browser.post(f"/checkout/{bundle.name}/", form)
    assert page.status_code == 429 and "unpaid invoices" in page.content.decode()
    assert Invoice.objects.count() == 1


def test_esimgo_validation_is_cached_per_bundle(settings, bundle, qpay_ok):  # noqa: F811
    for _ in range(3):
        assert Client().post(URL, json.dumps(body()), content_type="application/json").status_code == 201
    validations = [c for c in qpay_ok.calls if c.request.url.startswith(ESIMGO_ORDERS)]
    assert len(validations) == 1 and len(calls_to(qpay_ok, "/invoice", "POST")) == 3


def test_shopper_calls_cannot_use_the_share_reserved_for_provisioning(settings):
    settings.ESIMGO_PROVISIONING_RESERVED_PERCENT = 34
    now = [1000.0]
    slept = []
    limiter = SharedRateLimiter(
        9, clock=lambda: now[0], sleep=lambda s: slept.append(s) or now.__setitem__(0, now[0] + s), use_cache=False
    )
    assert limiter.shopper_limit == 5
    assert [limiter.acquire(shopper=True) for _ in range(5)] == [0.0] * 5
    assert limiter.acquire(shopper=True) > 0  # the 6th shopper call this second waits for the next one
    now[0] = 2000.0
    for _ in range(5):
        limiter.acquire(shopper=True)
    assert [limiter.acquire() for _ in range(4)] == [0.0] * 4  # provisioning still has its 4 slots


def test_status_polling_checks_at_qpay_are_bounded_per_invoice(settings, bundle, monkeypatch):
    from datetime import timedelta

    from django.utils import timezone

    from payments import api

    settings.PAYMENTS_MAX_POLL_CHECKS_PER_INVOICE = 3
    enqueued = []
    monkeypatch.setattr("payments.expiry.enqueue_check", lambda pk, cause: enqueued.append(pk))
    invoice = InvoiceFactory(bundle=bundle)
    Invoice.objects.filter(pk=invoice.pk).update(created_at=timezone.now() - timedelta(minutes=5), check_count=3)
    invoice.refresh_from_db()
    api.request_check(invoice)
    assert enqueued == []


# --- JSON limits ------------------------------------------------------------------------------


@pytest.mark.parametrize("path", [URL, "/esimgo/callback/", f"/payments/qpay/callback/{uuid.uuid4()}/"])
def test_deep_json_is_400_and_huge_json_is_413_never_500(client, settings, path):
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "en"
    deep = ("[" * 30_000 + "]" * 30_000).encode()  # under the size limit: the depth refuses it
    response = client.post(path, deep, content_type="application/json")
    assert response.status_code == 400 and "nested" in response.json()["error"]
    deepest = ("[" * 100_000 + "]" * 100_000).encode()  # the body: refused before any parser runs
    assert client.post(path, deepest, content_type="application/json").status_code == 413
    huge = json.dumps({"x": "a" * 70_000}).encode()
    response = client.post(path, huge, content_type="application/json")
    assert response.status_code == 413 and response.json()["error"]


def test_brackets_inside_strings_are_not_nesting(client, bundle, qpay_ok):  # noqa: F811
    response = client.post(
        URL, json.dumps(body(description="[[[[[[[[[[{{{{{{{{{{" * 5)), content_type="application/json"
    )
    assert response.status_code == 201


def test_callback_with_a_valid_token_still_works_under_the_limits(client, bundle):
    invoice = InvoiceFactory(bundle=bundle)
    response = client.post(
        f"/payments/qpay/callback/{invoice.pk}/?token={callback_token(invoice.pk)}",
        json.dumps({"a": [1, 2, 3]}),
        content_type="application/json",
    )
    assert response.status_code == 200
