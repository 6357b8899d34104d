"""Retail MNT prices: Decimal arithmetic, rounded up to the step, staff override wins."""

from decimal import Decimal

import pytest

from catalog.pricing import ceil_to_step, retail_price_mnt

from .factories import BundleFactory


@pytest.fixture(autouse=True)
def _pricing(settings):
    settings.QPAY_USD_TO_MNT_RATE = Decimal("3450")
    settings.PRICE_MARKUP_PERCENT = Decimal("25")
    settings.PRICE_ROUNDING_STEP_MNT = 100


@pytest.mark.parametrize(
    ("amount", "step", "expected"),
    [
        (Decimal("15000"), 100, 15000),  # already on a step: unchanged
        (Decimal("15000.01"), 100, 15100),
        (Decimal("15001"), 100, 15100),
        (Decimal("15099.99"), 100, 15100),
        (Decimal("0"), 100, 0),
        (Decimal("1234.5"), 1, 1235),
        (Decimal("1234.5"), 500, 1500),
        (Decimal("1234.5"), 0, 1235),  # a nonsense step falls back to 1, not a ZeroDivisionError
    ],
)
def test_ceil_to_step(amount, step, expected):
    assert ceil_to_step(amount, step) == expected


def test_retail_price_from_rate_and_markup():
    # 4.35 × 3450 × 1.25 = 18759.375 → 18800
    price = retail_price_mnt(Decimal("4.35"))
    assert price == 18800
    assert isinstance(price, int)


def test_retail_price_exact_decimal_not_float():
    # 17.60 × 3450 × 1.25 = 75900 exactly; float arithmetic gives 75900.00000000001 and would charge 76,000.
    assert 17.60 * 3450 * 1.25 > 75900
    assert retail_price_mnt(Decimal("17.60")) == 75900


def test_retail_price_follows_settings(settings):
    settings.QPAY_USD_TO_MNT_RATE = Decimal("3500")
    settings.PRICE_MARKUP_PERCENT = Decimal("10")
    settings.PRICE_ROUNDING_STEP_MNT = 1000
    # 10 × 3500 × 1.10 = 38500 → 39000
    assert retail_price_mnt(Decimal("10")) == 39000


def test_retail_price_rejects_negative_cost():
    with pytest.raises(ValueError):
        retail_price_mnt(Decimal("-1"))


def test_price_mnt_uses_override_when_set(db):
    assert BundleFactory(computed_price_mnt=18800).price_mnt == 18800
    assert BundleFactory(computed_price_mnt=18800, price_override_mnt=15000).price_mnt == 15000
    assert BundleFactory(computed_price_mnt=18800, price_override_mnt=0).price_mnt == 0
