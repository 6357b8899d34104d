"""eSIM Go's request budget on the delivery side: what may wait for idle seconds.

eSIM Go allows 10 requests a second per source address, shared by every process of the shop
(integrations/esimgo/ratelimit.py counts them in one Redis counter per wall-clock second). A delivered eSIM
needs exactly one request on its critical path - POST /orders (transaction, assign): its answer
already carries the ICCID, matching id and SM-DP+ address, so /esims/assignments is only read
when it does not (orders/provisioning.py). The second request is tagging the eSIM with our order
id (PUT /esims customerRef; eSIM Go's order body has no such field, reference esimgo.md §1.4),
which nobody waits for: it runs only when the limiter's current and previous seconds are less
than half used, and otherwise steps aside for a while so paid orders keep the budget.

Per delivered eSIM: 1 request to deliver + 1 deferred tag = 2 (plus the purchase's validation,
which the payments side caches per bundle).
"""

import time

from django.conf import settings
from django.core.cache import cache

from integrations.esimgo.ratelimit import KEY_PREFIX

# A window at least this full is busy: deferrable requests wait for a quieter one.
BUSY_SHARE = 0.5


def window_counts(now: float | None = None) -> tuple[int, int]:
    """Requests the shared limiter counted in the current and the previous second (read only)."""
    if not settings.REDIS_URL:
        return 0, 0  # one in-process shop: nothing else competes for the budget
    window = int(time.time() if now is None else now)
    found = cache.get_many([f"{KEY_PREFIX}{window}", f"{KEY_PREFIX}{window - 1}"])
    return int(found.get(f"{KEY_PREFIX}{window}") or 0), int(found.get(f"{KEY_PREFIX}{window - 1}") or 0)


def budget_is_busy(now: float | None = None) -> bool:
    limit = int(settings.ESIMGO_RATE_LIMIT_PER_SECOND)
    if limit <= 0:
        return False
    try:
        current, previous = window_counts(now)
    except Exception:  # noqa: BLE001 - no counter to read: the limiter itself still holds the line
        return False
    return max(current, previous) >= limit * BUSY_SHARE
