"""A bundle the eSIM Go balance cannot pay for is not for sale (no invoice the shopper would pay
for nothing), with a clear message, until the balance covers it again."""

from decimal import Decimal

import pytest
from django.core.cache import cache

from catalog.balance import BALANCE_CACHE_KEY
from payments.models import Invoice
from tests.payments.test_purchase_api import body, post, qpay_ok  # noqa: F401 - fixture

pytestmark = pytest.mark.django_db


def set_balance(amount):
    cache.set(BALANCE_CACHE_KEY, {"balance": amount, "currency": "USD", "error": "", "fetched_at": None}, 300)


def test_purchase_refused_while_the_balance_cannot_cover_the_bundle(client, bundle, mocked_responses):
    set_balance(Decimal("4.4999"))  # the bundle costs 4.5 at eSIM Go
    response = post(client, body())
    assert response.status_code == 503
    assert "одоогоор худалдан авах боломжгүй" in response.json()["error"]  # Mongolian first
    assert not Invoice.objects.exists() and len(mocked_responses.calls) == 0  # not even a QPay call


def test_checkout_page_says_so_and_offers_no_pay_button(client, bundle):
    set_balance(Decimal("1"))
    page = client.get(f"/checkout/{bundle.name}/", HTTP_COOKIE="django_language=en")
    text = page.content.decode()
    assert page.status_code == 200
    assert "This plan cannot be bought right now." in text and 'type="submit" class="primary"' not in text


def test_for_sale_again_once_covered(client, bundle, qpay_ok):
    set_balance(Decimal("4.5"))
    assert post(client, body()).status_code == 201


def test_unknown_balance_does_not_block_a_sale(client, bundle, qpay_ok):
    cache.delete(BALANCE_CACHE_KEY)
    assert post(client, body()).status_code == 201
