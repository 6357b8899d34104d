"""A small fixed-window rate limiter in the shared cache (Redis in production). Keys by client
address come from esimshop.client_address (the site's one rule)."""
import time

from django.core.cache import cache


def allow(scope: str, key: str, *, limit: int, window: int = 60) -> tuple[bool, int]:
    """(allowed, seconds until the window resets)."""
    now = time.time()
    bucket = int(now // window)
    cache_key = f"ratelimit:{scope}:{key}:{bucket}"
    if cache.add(cache_key, 1, window + 1):
        count = 1
    else:
        try:
            count = cache.incr(cache_key)
        except ValueError:  # expired between add and incr
            cache.set(cache_key, 1, window + 1)
            count = 1
    retry_after = max(1, int(window - now % window))
    return count <= limit, retry_after
