"""A rate limiter shared by every process that talks to eSIM Go.

eSIM Go allows 10 requests/second per source IP in fixed one-second windows (docs/providers/esimgo.md,
Rate limit). All our web and Celery processes leave through the same IP, so they share one
counter: with REDIS_URL set it lives in the Django cache (Redis `INCR` is atomic across
processes); without Redis there is only one process that matters, so an in-process counter
behind a lock is enough.

`acquire()` never fails: when the current window is full it sleeps until the next window
and tries again. If Redis is unreachable the limiter falls back to the in-process counter
for that call (logged) instead of blocking provider traffic on a cache outage.
"""

import logging
import threading
import time
from collections.abc import Callable
from typing import Protocol

from django.conf import settings

logger = logging.getLogger(__name__)

KEY_PREFIX = "esimgo:ratelimit:"
# Upper bound on how long one acquire() waits before letting the request through anyway;
# eSIM Go then answers 429 and the client's retry honours Retry-After.
MAX_WAIT_SECONDS = 30.0


class RateLimiter(Protocol):
    """What ESIMGoClient needs of a limiter (tests pass their own)."""

    def acquire(self, *, shopper: bool = False) -> float: ...


class LocalWindowCounter:
    """Per-second counters in this process's memory."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._window: int | None = None
        self._count = 0

    def incr(self, window: int) -> int:
        with self._lock:
            if window != self._window:
                self._window, self._count = window, 0
            self._count += 1
            return self._count


class CacheWindowCounter:
    """Per-second counters in the Django cache (Redis in production)."""

    def __init__(self, prefix: str = KEY_PREFIX) -> None:
        self.prefix = prefix

    def incr(self, window: int) -> int:
        from django.core.cache import cache

        key = f"{self.prefix}{window}"
        # add() is a no-op when the key exists; incr() is atomic in Redis.
        cache.add(key, 0, timeout=5)
        try:
            return int(cache.incr(key))
        except ValueError:  # expired between add() and incr(): start the window again
            cache.add(key, 0, timeout=5)
            return int(cache.incr(key))


class SharedRateLimiter:
    """Fixed-window limiter: at most `limit` acquisitions per wall-clock second."""

    def __init__(
        self,
        limit: int | None = None,
        *,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], object] = time.sleep,
        use_cache: bool | None = None,
    ) -> None:
        self._limit = limit
        self._use_cache = use_cache
        self.clock = clock
        self.sleep = sleep
        self.local = LocalWindowCounter()
        self.shared = CacheWindowCounter()
        # Shopper-driven calls (purchase validation) are also counted here, against the budget
        # minus the share reserved for provisioning paid orders.
        self.shopper_local = LocalWindowCounter()
        self.shopper_shared = CacheWindowCounter(KEY_PREFIX + "shopper:")

    @property
    def limit(self) -> int:
        return int(self._limit if self._limit is not None else settings.ESIMGO_RATE_LIMIT_PER_SECOND)

    @property
    def shopper_limit(self) -> int:
        """What purchases' validation may use per second: the rest is kept for provisioning."""
        reserved = int(settings.ESIMGO_PROVISIONING_RESERVED_PERCENT)
        return max(self.limit - -(-self.limit * reserved // 100), 1)

    def _counter(self, shopper: bool = False) -> LocalWindowCounter | CacheWindowCounter:
        use_cache = self._use_cache if self._use_cache is not None else bool(settings.REDIS_URL)
        if shopper:
            return self.shopper_shared if use_cache else self.shopper_local
        return self.shared if use_cache else self.local

    def _incr(self, window: int, shopper: bool = False) -> int:
        counter = self._counter(shopper)
        try:
            return counter.incr(window)
        except Exception as exc:  # noqa: BLE001 - a cache outage must not stop provider calls
            if counter in (self.local, self.shopper_local):
                raise
            logger.warning("eSIM Go rate limiter: shared counter unavailable (%s); using in-process counter", exc)
            return (self.shopper_local if shopper else self.local).incr(window)

    def acquire(self, *, shopper: bool = False) -> float:
        """Wait for a slot in the current (or a later) window. Returns seconds waited.

        `shopper=True` (purchase validation) takes a slot only while this second's shopper calls
        are under `shopper_limit`, so ESIMGO_PROVISIONING_RESERVED_PERCENT of every second stays
        for provisioning paid orders however many shoppers are validating."""
        limit = self.limit
        if limit <= 0:
            return 0.0
        waited = 0.0
        while True:
            now = self.clock()
            window = int(now)
            if shopper and self._incr(window, shopper=True) > self.shopper_limit and waited < MAX_WAIT_SECONDS:
                pause = max(window + 1 - now, 0.001)
                self.sleep(pause)
                waited += pause
                continue
            if self._incr(window) <= limit or waited >= MAX_WAIT_SECONDS:
                return waited
            pause = max(window + 1 - now, 0.001)
            self.sleep(pause)
            waited += pause


_default_limiter: SharedRateLimiter | None = None
_default_lock = threading.Lock()


def get_rate_limiter() -> SharedRateLimiter:
    """The process-wide limiter every ESIMGoClient uses unless given another."""
    global _default_limiter
    with _default_lock:
        if _default_limiter is None:
            _default_limiter = SharedRateLimiter()
        return _default_limiter


def recent_share_used(now: float | None = None) -> float:
    """How full the shared limiter's current or previous second is (0.0 to 1.0+), read only.

    For work that can wait (the plan pages' network lists): it runs only while this is low, so
    paid orders keep the budget. Without Redis there is one process and nothing to compete with."""
    limit = int(settings.ESIMGO_RATE_LIMIT_PER_SECOND)
    if limit <= 0 or not settings.REDIS_URL:
        return 0.0
    from django.core.cache import cache

    window = int(time.time() if now is None else now)
    found = cache.get_many([f"{KEY_PREFIX}{window}", f"{KEY_PREFIX}{window - 1}"])
    used = max(int(found.get(f"{KEY_PREFIX}{window}") or 0), int(found.get(f"{KEY_PREFIX}{window - 1}") or 0))
    return used / limit
