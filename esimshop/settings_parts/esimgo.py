"""eSIM Go client knobs (the base URL and key are in settings.py, next to the production checks)."""

from decimal import Decimal

from esimshop.settings_parts.base import SITE_URL, env

ESIMGO_CONNECT_TIMEOUT = env.float("ESIMGO_CONNECT_TIMEOUT", default=5.0)
ESIMGO_READ_TIMEOUT = env.float("ESIMGO_READ_TIMEOUT", default=30.0)
ESIMGO_MAX_RETRIES = env.int("ESIMGO_MAX_RETRIES", default=3)
# eSIM Go allows 10 req/s per IP in fixed one-second windows; 9 leaves room for window skew.
ESIMGO_RATE_LIMIT_PER_SECOND = env.int("ESIMGO_RATE_LIMIT_PER_SECOND", default=9)
# Purchases' eSIM Go validation: reused per bundle for this long, and never more than the budget
# minus this share (percent), which stays for provisioning paid orders (integrations/esimgo/ratelimit.py).
ESIMGO_VALIDATION_CACHE_SECONDS = env.int("ESIMGO_VALIDATION_CACHE_SECONDS", default=60)
ESIMGO_PROVISIONING_RESERVED_PERCENT = env.int("ESIMGO_PROVISIONING_RESERVED_PERCENT", default=34)
ESIMGO_CATALOGUE_PAGE_SIZE = env.int("ESIMGO_CATALOGUE_PAGE_SIZE", default=1000)
# Where eSIM Go (or the sandbox) POSTs V3 usage callbacks; set the same URL in the eSIM Go portal.
ESIMGO_CALLBACK_URL = env.str("ESIMGO_CALLBACK_URL", default=f"{SITE_URL}/esimgo/callback/")
# Staff console: warn when the eSIM Go balance (organisation currency) is below this.
ESIMGO_LOW_BALANCE_THRESHOLD = Decimal(env.str("ESIMGO_LOW_BALANCE_THRESHOLD", default="100"))
