"""Orders: provisioning and its retries, unknown purchase outcomes, sweeps, e-mails, magic links,
usage and top-ups (read by orders/conf.py)."""

from esimshop.settings_parts.base import env
from esimshop.settings_parts.esimgo import ESIMGO_CONNECT_TIMEOUT, ESIMGO_READ_TIMEOUT

# How long an unanswered eSIM Go purchase may still be in flight: until then nobody may look it up
# and conclude "absent" (that would buy twice). Default: connect + read timeout, the shared
# request budget's longest wait (30 s) and a margin.
ORDERS_RECONCILE_AFTER_SECONDS = env.float(
    "ORDERS_RECONCILE_AFTER_SECONDS", default=ESIMGO_CONNECT_TIMEOUT + ESIMGO_READ_TIMEOUT + 60.0
)
ORDERS_RECONCILE_CLOCK_SKEW_SECONDS = env.int("ORDERS_RECONCILE_CLOCK_SKEW_SECONDS", default=120)
# How long a purchase whose outcome is unknown is looked for in eSIM Go's order list before staff
# decide (it is never bought again automatically), and how often it is looked for.
ORDERS_UNKNOWN_OUTCOME_WINDOW_SECONDS = env.int("ORDERS_UNKNOWN_OUTCOME_WINDOW_SECONDS", default=20 * 60)
ORDERS_UNKNOWN_OUTCOME_LOOKUP_INTERVAL_SECONDS = env.int("ORDERS_UNKNOWN_OUTCOME_LOOKUP_INTERVAL_SECONDS", default=60)
# eSIM Go orders nobody claimed: checked this often (beat), this far back.
ORDERS_UNATTRIBUTED_CHECK_INTERVAL_SECONDS = env.int("ORDERS_UNATTRIBUTED_CHECK_INTERVAL_SECONDS", default=3600)
ORDERS_UNATTRIBUTED_LOOKBACK_SECONDS = env.int("ORDERS_UNATTRIBUTED_LOOKBACK_SECONDS", default=6 * 3600)
# Provisioning retries (exponential backoff between base and max).
ORDERS_PROVISION_MAX_RETRIES = env.int("ORDERS_PROVISION_MAX_RETRIES", default=8)
ORDERS_RETRY_BACKOFF_BASE_SECONDS = env.int("ORDERS_RETRY_BACKOFF_BASE_SECONDS", default=5)
ORDERS_RETRY_BACKOFF_MAX_SECONDS = env.int("ORDERS_RETRY_BACKOFF_MAX_SECONDS", default=300)
# The sweep of undelivered paid orders: its period, when it re-enqueues an order, and when an
# order still undelivered goes to NEEDS_ATTENTION.
ORDERS_SWEEP_INTERVAL_SECONDS = env.int("ORDERS_SWEEP_INTERVAL_SECONDS", default=60)
ORDERS_SWEEP_AFTER_SECONDS = env.int("ORDERS_SWEEP_AFTER_SECONDS", default=120)
ORDERS_ATTENTION_AFTER_SECONDS = env.int("ORDERS_ATTENTION_AFTER_SECONDS", default=30 * 60)
# The shopper's eSIM page says "taking longer, we will e-mail you" this long after payment.
ORDERS_DELAYED_NOTICE_AFTER_SECONDS = env.int("ORDERS_DELAYED_NOTICE_AFTER_SECONDS", default=120)
ORDERS_EMAIL_MAX_RETRIES = env.int("ORDERS_EMAIL_MAX_RETRIES", default=6)
# Usage shown on the eSIM page: cached this long; after a failed fetch, none for ESIMGO_DOWN seconds.
ORDERS_USAGE_CACHE_SECONDS = env.int("ORDERS_USAGE_CACHE_SECONDS", default=300)
ORDERS_ESIMGO_DOWN_SECONDS = env.int("ORDERS_ESIMGO_DOWN_SECONDS", default=60)
# Top-ups: compatibility checks per top-up page (each one eSIM Go call), and how long one is reused.
ORDERS_TOPUP_MAX_CHECKS = env.int("ORDERS_TOPUP_MAX_CHECKS", default=8)
ORDERS_COMPATIBILITY_CACHE_SECONDS = env.int("ORDERS_COMPATIBILITY_CACHE_SECONDS", default=6 * 3600)
# "My eSIMs" sign-in links: lifetime, and requests as (count, window seconds) per e-mail and per address.
ORDERS_MAGIC_LINK_TTL_MINUTES = env.int("ORDERS_MAGIC_LINK_TTL_MINUTES", default=30)
ORDERS_MAGIC_LINK_LIMIT_PER_EMAIL = tuple(env.list("ORDERS_MAGIC_LINK_LIMIT_PER_EMAIL", cast=int, default=[3, 15 * 60]))
ORDERS_MAGIC_LINK_LIMIT_PER_IP = tuple(env.list("ORDERS_MAGIC_LINK_LIMIT_PER_IP", cast=int, default=[10, 60 * 60]))
# Per client address per minute: opening sign-in links, and the eSIM page's status JSON.
ORDERS_MAGIC_LINK_LOGIN_RATE_LIMIT_PER_MINUTE = env.int("ORDERS_MAGIC_LINK_LOGIN_RATE_LIMIT_PER_MINUTE", default=30)
ORDERS_STATUS_RATE_LIMIT_PER_MINUTE = env.int("ORDERS_STATUS_RATE_LIMIT_PER_MINUTE", default=120)
# eSIM Go usage callbacks larger than this are refused.
ORDERS_CALLBACK_MAX_BODY_BYTES = env.int("ORDERS_CALLBACK_MAX_BODY_BYTES", default=64 * 1024)
