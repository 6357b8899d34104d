"""Settings for the chaos run (bench/chaos.py): production settings (DEBUG off) with the knobs a
short, loopback-only run needs. Everything else comes from the environment exactly as in
production, so the shop, its sandboxes and the Celery workers run the code they always run.
"""

from esimshop.settings import *  # noqa: F401,F403
from esimshop.settings import env

# Plain HTTP on loopback, no TLS proxy in front: secure-only cookies would never come back.
SECURE_SSL_REDIRECT = False
SESSION_COOKIE_SECURE = False
CSRF_COOKIE_SECURE = False
LANGUAGE_COOKIE_SECURE = False
SECURE_HSTS_SECONDS = 0

# The sandbox eSIM Go enforces eSIM Go's 10 req/s per IP unless told otherwise; the shop's
# shared limiter (ESIMGO_RATE_LIMIT_PER_SECOND, env) must stay below it. chaos.py raises both
# together with --esimgo-rate so a short run is not only a rate-limit queue.
SANDBOX_ESIMGO_RATE_LIMIT = env.int("SANDBOX_ESIMGO_RATE_LIMIT", default=10)

# The driver is one loopback address standing in for thousands of shoppers: per-address limits
# on purchases and status polls would measure the limiter, not the money path.
PAYMENTS_PURCHASE_RATE_LIMIT_PER_MINUTE = 10**6
PAYMENTS_STATUS_RATE_LIMIT_PER_MINUTE = 10**6
# Likewise the open-invoice caps: the run leaves many invoices unpaid on purpose, from one address.
PAYMENTS_MAX_OPEN_INVOICES_PER_PHONE = PAYMENTS_MAX_OPEN_INVOICES_PER_EMAIL = 10**6
PAYMENTS_MAX_OPEN_INVOICES_PER_ADDRESS = PAYMENTS_MAX_OPEN_INVOICES_TOTAL = 10**6

# An eSIM Go purchase whose outcome is unknown is looked for, never bought again (issue 10); a
# run of minutes looks for it over 45 s instead of 20 minutes, then hands it to staff.
ORDERS_UNKNOWN_OUTCOME_WINDOW_SECONDS = env.int("ORDERS_UNKNOWN_OUTCOME_WINDOW_SECONDS", default=45)
ORDERS_UNKNOWN_OUTCOME_LOOKUP_INTERVAL_SECONDS = env.int("ORDERS_UNKNOWN_OUTCOME_LOOKUP_INTERVAL_SECONDS", default=5)

# Orders' retry/sweep knobs (orders/conf.py) from the environment, for a run of minutes instead
# of hours. The reconcile wait keeps its safe default (connect + read timeout + 60 s) unless set.
for _name in (
    "ORDERS_RETRY_BACKOFF_BASE_SECONDS",
    "ORDERS_RETRY_BACKOFF_MAX_SECONDS",
    "ORDERS_SWEEP_AFTER_SECONDS",
    "ORDERS_RECONCILE_AFTER_SECONDS",
):
    if env.str(_name, default=""):
        globals()[_name] = env.float(_name)
