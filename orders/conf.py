"""Orders settings with their defaults, read at call time (override any of them in settings/env).

Kept here rather than in esimshop/settings.py so the orders app owns its own knobs.
"""

from django.conf import settings


def _get(name, default):
    return getattr(settings, name, default)


def reconcile_after_seconds() -> float:
    """How long an unanswered purchase may still be in flight. Until then nobody may look it up
    and conclude "absent" (that would buy twice). Covers connect + read timeout, the shared rate
    limiter's longest wait (30 s) and a margin."""
    default = float(settings.ESIMGO_CONNECT_TIMEOUT) + float(settings.ESIMGO_READ_TIMEOUT) + 60.0
    return float(_get("ORDERS_RECONCILE_AFTER_SECONDS", default))


def unknown_outcome_window_seconds() -> float:
    """How long a purchase whose outcome is unknown is looked for in eSIM Go's order list before
    the order goes to NEEDS_ATTENTION (it is never bought again automatically). eSIM Go has been
    seen committing an order minutes after its answer timed out."""
    return float(_get("ORDERS_UNKNOWN_OUTCOME_WINDOW_SECONDS", 20 * 60))


def unknown_outcome_lookup_interval_seconds() -> float:
    """Between two look-ups of the same unknown purchase in eSIM Go's order list."""
    return float(_get("ORDERS_UNKNOWN_OUTCOME_LOOKUP_INTERVAL_SECONDS", 60))


def unattributed_lookback_seconds() -> float:
    """The hourly check of unattributed eSIM Go orders looks this far back."""
    return float(_get("ORDERS_UNATTRIBUTED_LOOKBACK_SECONDS", 6 * 3600))


def delayed_notice_after_seconds() -> float:
    """The shopper's eSIM page says "taking longer, we will e-mail you" this long after payment."""
    return float(_get("ORDERS_DELAYED_NOTICE_AFTER_SECONDS", 120))


def reconcile_clock_skew_seconds() -> float:
    return float(_get("ORDERS_RECONCILE_CLOCK_SKEW_SECONDS", 120))


def provision_max_retries() -> int:
    return int(_get("ORDERS_PROVISION_MAX_RETRIES", 8))


def retry_backoff_base_seconds() -> float:
    return float(_get("ORDERS_RETRY_BACKOFF_BASE_SECONDS", 5))


def retry_backoff_max_seconds() -> float:
    return float(_get("ORDERS_RETRY_BACKOFF_MAX_SECONDS", 300))


def sweep_interval_seconds() -> float:
    return float(_get("ORDERS_SWEEP_INTERVAL_SECONDS", 60))


def sweep_after_seconds() -> float:
    """A paid order still undelivered this long after payment is re-enqueued by the sweep."""
    return float(_get("ORDERS_SWEEP_AFTER_SECONDS", 120))


def attention_after_seconds() -> float:
    """A paid order still undelivered this long after payment goes to NEEDS_ATTENTION."""
    return float(_get("ORDERS_ATTENTION_AFTER_SECONDS", 30 * 60))


def usage_cache_seconds() -> int:
    return int(_get("ORDERS_USAGE_CACHE_SECONDS", 300))


def esimgo_down_seconds() -> int:
    """After a failed usage fetch, skip further fetches this long (pages stay fast while eSIM Go is down)."""
    return int(_get("ORDERS_ESIMGO_DOWN_SECONDS", 60))


def magic_link_ttl_minutes() -> int:
    return int(_get("ORDERS_MAGIC_LINK_TTL_MINUTES", 30))


def magic_link_limit_per_email() -> tuple[int, int]:
    """(requests, window seconds) per e-mail address."""
    return tuple(_get("ORDERS_MAGIC_LINK_LIMIT_PER_EMAIL", (3, 15 * 60)))


def magic_link_limit_per_ip() -> tuple[int, int]:
    return tuple(_get("ORDERS_MAGIC_LINK_LIMIT_PER_IP", (10, 60 * 60)))


def magic_link_login_rate_limit_per_minute() -> int:
    """Opening/using sign-in links, per client address."""
    return int(_get("ORDERS_MAGIC_LINK_LOGIN_RATE_LIMIT_PER_MINUTE", 30))


def status_rate_limit_per_minute() -> int:
    """The eSIM page's status JSON, per client address (the page polls it with backoff)."""
    return int(_get("ORDERS_STATUS_RATE_LIMIT_PER_MINUTE", 120))


def topup_max_checks() -> int:
    """At most this many compatibility checks per top-up page (each is one eSIM Go call)."""
    return int(_get("ORDERS_TOPUP_MAX_CHECKS", 8))


def compatibility_cache_seconds() -> int:
    return int(_get("ORDERS_COMPATIBILITY_CACHE_SECONDS", 6 * 3600))


def email_max_retries() -> int:
    return int(_get("ORDERS_EMAIL_MAX_RETRIES", 6))


def callback_max_body_bytes() -> int:
    return int(_get("ORDERS_CALLBACK_MAX_BODY_BYTES", 64 * 1024))


def site_url() -> str:
    return settings.SITE_URL.rstrip("/")
