"""Redis or PostgreSQL down (issue 10): the callback inbox is written first, limiters fail open,
and infrastructure faults answer 503 with Retry-After, never 500."""

from unittest import mock

import pytest
import redis.exceptions
from django.db import OperationalError
from django.test import Client

from payments import inbox
from payments.models import QPayCallback
from tests.payments.factories import InvoiceFactory
from tests.payments.qpay_mocks import add_check, add_token, paid_row
from tests.payments.test_callback import callback_url

REDIS_DOWN = redis.exceptions.ConnectionError("Error 111 connecting to 127.0.0.1:6379. Connection refused.")
DB_DOWN = OperationalError("connection to server at 127.0.0.1 port 5432 failed: Connection refused")


@pytest.fixture
def invoice(bundle):
    return InvoiceFactory(bundle=bundle)


@pytest.fixture
def redis_down(monkeypatch):
    """Every call into the shared cache fails the way redis-py fails when Redis is down."""
    from django.core.cache import cache

    def fail(*args, **kwargs):
        raise REDIS_DOWN

    for name in ("add", "incr", "get", "set", "delete", "delete_many", "get_many"):
        monkeypatch.setattr(cache, name, fail)


@pytest.fixture
def client_500():
    """A test client that returns the 500 page instead of raising (as production does)."""
    return Client(raise_request_exception=False)


def test_with_redis_down_the_callback_is_stored_verified_and_answered(
    invoice, mocked_responses, redis_down, paid_handler
):
    add_token(mocked_responses)
    add_check(mocked_responses, paid_row(f"{invoice.amount_mnt}.00"))
    response = Client(raise_request_exception=False).get(callback_url(invoice, qpay_payment_id="1"))
    assert response.status_code == 200 and response.content == b"SUCCESS"
    assert QPayCallback.objects.get(invoice=invoice).outcome == "PAID"  # QPay token fetched without the cache


def test_the_inbox_row_is_written_before_the_rate_limit_is_asked(invoice, mocked_responses, monkeypatch):
    add_token(mocked_responses)
    add_check(mocked_responses)
    stored_before_limit = []

    def limit(scope, key, **kwargs):
        stored_before_limit.append(QPayCallback.objects.filter(invoice=invoice).exists())
        return False, 30

    monkeypatch.setattr("payments.views.allow", limit)
    response = Client().get(callback_url(invoice, qpay_payment_id="1"))
    assert response.status_code == 429 and response["Retry-After"] == "30"
    assert stored_before_limit == [True]
    assert QPayCallback.objects.get(invoice=invoice).outcome == QPayCallback.Outcome.RATE_LIMITED


def test_a_callback_that_cannot_be_stored_is_a_503_not_a_200(invoice, client_500, monkeypatch):
    monkeypatch.setattr(inbox, "store_qpay_callback", mock.Mock(side_effect=DB_DOWN))
    response = client_500.get(callback_url(invoice, qpay_payment_id="1"))
    assert response.status_code == 503 and response["Retry-After"] == "10"
    assert response["Content-Type"].startswith("text/plain")


def test_purchase_api_with_the_database_down_is_a_json_503(bundle, client_500, monkeypatch):
    monkeypatch.setattr("payments.purchase.start_purchase", mock.Mock(side_effect=DB_DOWN))
    response = client_500.post(
        "/api/customer/transactions/purchase",
        content_type="application/json",
        data={
            "phoneNumber": "99112233",
            "email": "a@example.mn",
            "amount": bundle.price_mnt,
            "packageCode": bundle.name,
        },
    )
    assert response.status_code == 503 and response["Retry-After"] == "10"
    assert response.json()["code"] == "unavailable" and response.json()["error"]


def test_status_api_with_redis_down_is_not_a_500(invoice, client_500, redis_down):
    response = client_500.get(f"/api/customer/transactions/{invoice.pk}/status?token={invoice.access_token}")
    assert response.status_code in (200, 503)


def test_a_shopper_page_with_the_database_down_is_a_friendly_503(bundle, client_500, monkeypatch):
    monkeypatch.setattr("payments.views.get_object_or_404", mock.Mock(side_effect=DB_DOWN))
    response = client_500.get(f"/checkout/{bundle.name}/")
    assert response.status_code == 503 and response["Retry-After"] == "10"
    assert "Please try again in a few seconds" in response.content.decode()


def test_a_fault_outside_the_view_is_a_503_too(rf):
    """Raised by a middleware (e.g. saving the session): Django's handler500 sees it."""
    from esimshop.views import server_error

    try:
        raise DB_DOWN
    except OperationalError:
        response = server_error(rf.get("/api/packages"))
    assert response.status_code == 503 and response["Retry-After"]
    try:
        raise ValueError("a bug")
    except ValueError:
        assert server_error(rf.get("/")).status_code == 500


def test_the_rate_limiter_fails_open(redis_down):
    from esimshop.ratelimit import allow

    assert allow("purchase", "1.2.3.4", limit=1) == (True, 0)
    assert allow("purchase", "1.2.3.4", limit=1) == (True, 0)


def test_database_settings_check_connections_before_reuse(settings):
    if "postgresql" in settings.DATABASES["default"]["ENGINE"]:
        assert settings.DATABASES["default"]["CONN_HEALTH_CHECKS"] is True


def test_the_storefront_renders_from_the_database_with_the_cache_down(bundle, client_500, redis_down):
    response = client_500.get("/")
    assert response.status_code == 200
