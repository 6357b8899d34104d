"""Retail prices in integer MNT, computed from the eSIM Go cost (a Decimal in USD).

retail = ceil_to_step(cost × QPAY_USD_TO_MNT_RATE × (1 + PRICE_MARKUP_PERCENT / 100), PRICE_ROUNDING_STEP_MNT)

Decimal all the way: a float would turn 4.35 × 3450 into 15007.499999… and round it wrongly.
Settings are read at call time, so a changed rate or markup reprices on the next sync.
"""

from decimal import ROUND_CEILING, Decimal

from django.conf import settings


def ceil_to_step(amount: Decimal, step: int) -> int:
    """Round `amount` up to the next multiple of `step` (a friendly price: 15,001 → 15,100)."""
    step = max(int(step), 1)
    return int((Decimal(amount) / step).to_integral_value(rounding=ROUND_CEILING)) * step


def retail_price_mnt(cost: Decimal) -> int:
    cost = Decimal(cost)
    if cost < 0:
        raise ValueError(f"negative provider price: {cost}")
    rate = Decimal(str(settings.QPAY_USD_TO_MNT_RATE))
    markup = Decimal(str(settings.PRICE_MARKUP_PERCENT))
    return ceil_to_step(cost * rate * (1 + markup / 100), settings.PRICE_ROUNDING_STEP_MNT)
