"""What counts as an infrastructure fault: the database or Redis (cache and Celery broker) being
unreachable or restarting. These are transient by nature: tasks retry them with backoff, requests
answer 503 with Retry-After (esimshop/unavailable.py), and cache users that can do without the
cache (rate limits, the QPay token) fail open.
"""

import logging

import redis.exceptions
from django.db import InterfaceError as DatabaseInterfaceError
from django.db import OperationalError as DatabaseOperationalError
from kombu.exceptions import OperationalError as BrokerOperationalError

logger = logging.getLogger(__name__)

# Redis as the Django cache: redis-py's own errors (ConnectionError, TimeoutError, BusyLoading...).
CACHE_ERRORS = (redis.exceptions.RedisError,)

INFRASTRUCTURE_ERRORS = (
    DatabaseOperationalError,
    DatabaseInterfaceError,
    redis.exceptions.ConnectionError,
    redis.exceptions.TimeoutError,
    redis.exceptions.BusyLoadingError,
    BrokerOperationalError,
    ConnectionError,  # the builtin (refused/reset sockets that escape a client library unwrapped)
)


def is_infrastructure_error(exc: BaseException | None) -> bool:
    """True for an infrastructure fault, or an exception raised while handling one (chained)."""
    seen = 0
    while exc is not None and seen < 5:
        if isinstance(exc, INFRASTRUCTURE_ERRORS):
            return True
        exc = exc.__cause__ or exc.__context__
        seen += 1
    return False
