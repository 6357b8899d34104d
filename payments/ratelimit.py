"""A small fixed-window rate limiter in the shared cache (Redis in production). Keys by client
address come from esimshop.client_address (the site's one rule).

It fails open: with the cache down or timing out, every request is allowed (and logged). A limit
protects the shop from floods; it must never be the reason a payment callback or a purchase fails.
"""

import logging
import time

from django.core.cache import cache

from esimshop.infrastructure import CACHE_ERRORS

logger = logging.getLogger(__name__)


def allow(scope: str, key: str, *, limit: int, window: int = 60) -> tuple[bool, int]:
    """(allowed, seconds until the window resets). Allowed when the cache cannot be asked."""
    now = time.time()
    bucket = int(now // window)
    cache_key = f"ratelimit:{scope}:{key}:{bucket}"
    try:
        count = _count(cache_key, window)
    except CACHE_ERRORS as exc:
        logger.warning("rate limit %s not checked (cache unavailable: %s); allowed", scope, exc.__class__.__name__)
        return True, 0
    retry_after = max(1, int(window - now % window))
    return count <= limit, retry_after


def _count(cache_key: str, window: int) -> int:
    if cache.add(cache_key, 1, window + 1):
        count = 1
    else:
        try:
            count = cache.incr(cache_key)
        except ValueError:  # expired between add and incr
            cache.set(cache_key, 1, window + 1)
            count = 1
    return count
