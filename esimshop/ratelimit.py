"""The shop's one request limiter: fixed windows counted in the shared cache (Redis in
production). Every limit of the site goes through `hit` (or `allow`, its two-value form): the
purchase, status and payment-page limits, QPay callbacks, the eSIM page's status JSON and the
sandbox eSIM Go's per-second limit. Keys by client address come from esimshop.client_address.

It fails open: with the cache down or timing out, every request is allowed (and logged). A limit
protects the shop from floods; it must never be the reason a payment callback or a purchase fails.

Not a library (django-ratelimit): its keys are functions of the request, and several of ours are
not (an invoice id, a hashed e-mail address), and the sandbox needs the count itself for its
X-Ratelimit headers. The eSIM Go request budget (integrations/esimgo/ratelimit.py) is another
thing: a token budget the shop spends on the provider, not a limit on its own visitors.
"""

import logging
import time
from dataclasses import dataclass

from django.core.cache import cache

from esimshop.infrastructure import CACHE_ERRORS

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Window:
    """One request counted in its window."""

    allowed: bool
    count: int  # requests in this window so far, this one included (0: the cache was not asked)
    retry_after: int  # whole seconds until the window resets (0 when the cache was not asked)
    resets_at: float  # epoch seconds at which the window resets

    def remaining(self, limit: int) -> int:
        return max(limit - self.count, 0)


def hit(scope: str, key: str, *, limit: int, window: int = 60) -> Window:
    """Count one request of `key` in `scope`'s current window; allowed while count <= limit."""
    now = time.time()
    bucket = int(now // window)
    resets_at = float((bucket + 1) * window)
    cache_key = f"ratelimit:{scope}:{key}:{bucket}"
    try:
        count = _count(cache_key, window)
    except CACHE_ERRORS as exc:
        logger.warning("rate limit %s not checked (cache unavailable: %s); allowed", scope, exc.__class__.__name__)
        return Window(allowed=True, count=0, retry_after=0, resets_at=resets_at)
    retry_after = max(1, int(window - now % window))
    return Window(allowed=count <= limit, count=count, retry_after=retry_after, resets_at=resets_at)


def allow(scope: str, key: str, *, limit: int, window: int = 60) -> tuple[bool, int]:
    """(allowed, seconds until the window resets). Allowed when the cache cannot be asked."""
    counted = hit(scope, key, limit=limit, window=window)
    return counted.allowed, counted.retry_after


def _count(cache_key: str, window: int) -> int:
    if cache.add(cache_key, 1, window + 1):
        return 1
    try:
        return cache.incr(cache_key)
    except ValueError:  # expired between add and incr
        cache.set(cache_key, 1, window + 1)
        return 1
