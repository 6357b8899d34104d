"""Is the eSIM Go balance enough to buy this bundle? From the balance cached by the staff console
(staff.selectors.esimgo_balance, refreshed by beat every few minutes): a purchase never waits on
eSIM Go for it. Unknown balance (cache empty or unreachable) = don't block: eSIM Go's own refusal
at provisioning is the backstop, and a sale must not depend on a cache."""

from decimal import Decimal, InvalidOperation

from django.core.cache import cache
from django.utils.translation import gettext_lazy as _

BALANCE_CACHE_KEY = "staff:esimgo:balance"

NOT_FOR_SALE_MESSAGE = _("This plan cannot be bought right now. Please try again later or choose another plan.")


def can_cover(bundle) -> bool:
    try:
        info = cache.get(BALANCE_CACHE_KEY)
    except Exception:  # noqa: BLE001 - cache down: see the module docstring
        return True
    if not info or info.get("balance") is None:
        return True
    try:
        return Decimal(str(info["balance"])) >= Decimal(bundle.price)
    except (InvalidOperation, TypeError):
        return True
