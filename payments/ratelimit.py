"""A small fixed-window rate limiter in the shared cache (Redis in production)."""
import time

from django.conf import settings
from django.core.cache import cache


def client_ip(request) -> str:
    """Behind the production proxy (SECURE_PROXY_SSL_HEADER set) the proxy appends the real
    client address as the last X-Forwarded-For entry; without a proxy that header is
    client-controlled, so REMOTE_ADDR is used."""
    forwarded = request.META.get("HTTP_X_FORWARDED_FOR", "")
    if forwarded and getattr(settings, "SECURE_PROXY_SSL_HEADER", None):
        return forwarded.split(",")[-1].strip()
    return request.META.get("REMOTE_ADDR", "") or "unknown"


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
