"""Settings of the outage suite's shop: production settings (DEBUG off, PostgreSQL, Redis, real
Celery worker and beat, CONN_MAX_AGE=60 with health checks) with these time windows shortened so
a run takes minutes, not hours. Everything else comes from the environment as in production.

    payment-check sweep            PAYMENTS_SWEEP_INTERVAL_SECONDS           60 s   -> 3 s
    check lease (re-enqueue)       PAYMENTS_CHECK_LEASE_SECONDS              90 s   -> 8 s
    payment checks after creation  PAYMENTS_CHECK_OFFSETS_SECONDS  60/180/600/1800 -> 5/10/20/40 s
    orders sweep period / after    ORDERS_SWEEP_INTERVAL/AFTER_SECONDS       60/120 -> 3/6 s
    settle before a look-up        ORDERS_RECONCILE_AFTER_SECONDS            95 s   -> 5 s
    unknown-outcome window         ORDERS_UNKNOWN_OUTCOME_WINDOW_SECONDS     20 min -> 30 s
    between look-ups               ORDERS_UNKNOWN_OUTCOME_LOOKUP_INTERVAL    60 s   -> 3 s
    provisioning retry backoff     ORDERS_RETRY_BACKOFF_BASE/MAX_SECONDS     5/300  -> 1/4 s
    NEEDS_ATTENTION after payment  ORDERS_ATTENTION_AFTER_SECONDS            30 min -> 150 s
    provider read timeouts         QPAY_/ESIMGO_READ_TIMEOUT (env)           20/30  -> 3 s
"""

from esimshop.settings import *  # noqa: F401,F403

# Plain HTTP on loopback, no TLS proxy in front: secure-only cookies would never come back.
SECURE_SSL_REDIRECT = False
SESSION_COOKIE_SECURE = False
CSRF_COOKIE_SECURE = False
LANGUAGE_COOKIE_SECURE = False
SECURE_HSTS_SECONDS = 0

# One loopback driver stands in for every shopper: per-address limits would measure the limiter.
PAYMENTS_PURCHASE_RATE_LIMIT_PER_MINUTE = 10**6
PAYMENTS_STATUS_RATE_LIMIT_PER_MINUTE = 10**6
# The driver is one address standing in for every shopper: lift the open-invoice caps (issue 9).
PAYMENTS_MAX_OPEN_INVOICES_PER_PHONE = PAYMENTS_MAX_OPEN_INVOICES_PER_EMAIL = 10**6
PAYMENTS_MAX_OPEN_INVOICES_PER_ADDRESS = PAYMENTS_MAX_OPEN_INVOICES_TOTAL = 10**6
PAYMENTS_PAY_PAGE_RATE_LIMIT_PER_MINUTE = 10**6

PAYMENTS_SWEEP_INTERVAL_SECONDS = 3
PAYMENTS_CHECK_LEASE_SECONDS = 8
PAYMENTS_CHECK_OFFSETS_SECONDS = (5, 10, 20, 40)
ORDERS_SWEEP_INTERVAL_SECONDS = 3
ORDERS_SWEEP_AFTER_SECONDS = 6
ORDERS_RECONCILE_AFTER_SECONDS = 5
ORDERS_UNKNOWN_OUTCOME_WINDOW_SECONDS = 30
ORDERS_UNKNOWN_OUTCOME_LOOKUP_INTERVAL_SECONDS = 3
ORDERS_RETRY_BACKOFF_BASE_SECONDS = 1
ORDERS_RETRY_BACKOFF_MAX_SECONDS = 4
ORDERS_ATTENTION_AFTER_SECONDS = 150
