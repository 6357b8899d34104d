"""Pricing, the QPay client, purchase limits, payment-check schedules and e-barimt."""

from decimal import Decimal

from esimshop.settings_parts.base import SITE_URL, env

# Retail pricing: eSIM Go price (decimal, org currency) x rate x (1 + markup), rounded up.
QPAY_USD_TO_MNT_RATE = Decimal(env.str("QPAY_USD_TO_MNT_RATE", default="3450"))
PRICE_MARKUP_PERCENT = Decimal(env.str("PRICE_MARKUP_PERCENT", default="25"))
PRICE_ROUNDING_STEP_MNT = env.int("PRICE_ROUNDING_STEP_MNT", default=100)

# QPay (base URL and credentials: settings.py).
QPAY_CALLBACK_PUBLIC_BASE_URL = env.str("QPAY_CALLBACK_PUBLIC_BASE_URL", default=SITE_URL).rstrip("/")
QPAY_CONNECT_TIMEOUT = env.float("QPAY_CONNECT_TIMEOUT", default=5.0)
QPAY_READ_TIMEOUT = env.float("QPAY_READ_TIMEOUT", default=20.0)
QPAY_MAX_RETRIES = env.int("QPAY_MAX_RETRIES", default=2)
QPAY_INVOICE_TTL_MINUTES = env.int("QPAY_INVOICE_TTL_MINUTES", default=30)
# Refuse a purchase when eSIM Go's validated order total moved this much from our stored price.
ESIMGO_PRICE_TOLERANCE_PERCENT = Decimal(env.str("ESIMGO_PRICE_TOLERANCE_PERCENT", default="10"))
PAYMENTS_STATUS_RATE_LIMIT_PER_MINUTE = env.int("PAYMENTS_STATUS_RATE_LIMIT_PER_MINUTE", default=60)
# Per client address (API and checkout form together): each purchase costs a QPay invoice.
PAYMENTS_PURCHASE_RATE_LIMIT_PER_MINUTE = env.int("PAYMENTS_PURCHASE_RATE_LIMIT_PER_MINUTE", default=30)
# The payment page per client address (each view may ask QPay about a waiting invoice).
PAYMENTS_PAY_PAGE_RATE_LIMIT_PER_MINUTE = env.int("PAYMENTS_PAY_PAGE_RATE_LIMIT_PER_MINUTE", default=60)
# Open (unpaid, unexpired) invoices: each is a real QPay invoice, so strangers can't pile them up.
PAYMENTS_MAX_OPEN_INVOICES_PER_PHONE = env.int("PAYMENTS_MAX_OPEN_INVOICES_PER_PHONE", default=3)
PAYMENTS_MAX_OPEN_INVOICES_PER_EMAIL = env.int("PAYMENTS_MAX_OPEN_INVOICES_PER_EMAIL", default=3)
PAYMENTS_MAX_OPEN_INVOICES_PER_ADDRESS = env.int("PAYMENTS_MAX_OPEN_INVOICES_PER_ADDRESS", default=10)
PAYMENTS_MAX_OPEN_INVOICES_TOTAL = env.int("PAYMENTS_MAX_OPEN_INVOICES_TOTAL", default=1000)
# QPay payment/check calls per invoice asked for by shoppers' polling (status API, payment page);
# with the scheduled checks (1, 3, 10, 30 min) and callbacks an invoice costs at most this + 4 +
# one per authentic callback. Polling asks at most once a minute anyway (a 30-minute invoice: 30).
PAYMENTS_MAX_POLL_CHECKS_PER_INVOICE = env.int("PAYMENTS_MAX_POLL_CHECKS_PER_INVOICE", default=30)
# QPay callbacks: authentic ones per invoice (QPay sends one per payment), wrong-token ones per address.
PAYMENTS_CALLBACK_RATE_LIMIT_PER_INVOICE_PER_MINUTE = env.int(
    "PAYMENTS_CALLBACK_RATE_LIMIT_PER_INVOICE_PER_MINUTE", default=120
)
PAYMENTS_CALLBACK_BAD_TOKEN_RATE_LIMIT_PER_MINUTE = env.int(
    "PAYMENTS_CALLBACK_BAD_TOKEN_RATE_LIMIT_PER_MINUTE", default=60
)

# Staff console: eSIM Go balance warning threshold (organisation currency) and QPay's merchant id
# for the merchant-wide payment list used by reconciliation (empty: the `merchant_id` claim of

# Payment checks kept in the database (payments/schedules.py). The sweep's period: a lost broker
# message or a Redis restart delays a payment check by at most this long.
PAYMENTS_SWEEP_INTERVAL_SECONDS = env.int("PAYMENTS_SWEEP_INTERVAL_SECONDS", default=60)
# Checks this many seconds after an invoice is created (then one just before it expires).
PAYMENTS_CHECK_OFFSETS_SECONDS = tuple(
    env.list("PAYMENTS_CHECK_OFFSETS_SECONDS", cast=int, default=[60, 180, 600, 1800])
)
# Late checks this many seconds after an invoice expired or was cancelled (money that arrives
# after the shop gave up is seen the same day).
PAYMENTS_LATE_CHECK_OFFSETS_SECONDS = tuple(
    env.list("PAYMENTS_LATE_CHECK_OFFSETS_SECONDS", cast=int, default=[3600, 6 * 3600])
)
# How long a check the sweep enqueued may take before it is enqueued again; unset = two sweep
# periods, at least 90 s (a check task's hard time limit).
PAYMENTS_CHECK_LEASE_SECONDS = env.int("PAYMENTS_CHECK_LEASE_SECONDS", default=None)

# QPay's merchant id for the merchant-wide payment list used by reconciliation (empty: the
# `merchant_id` claim of QPay's access token; reconciliation reports itself incomplete if neither
# gives one).
QPAY_MERCHANT_ID = env.str("QPAY_MERCHANT_ID", default="")

# E-barimt (VAT receipt) through QPay after each verified payment; off until QPay has enrolled
# the merchant (otherwise QPay answers EBARIMT_NOT_REGISTERED). District and classification
# codes are the accountant's call (docs/providers/qpay.md, E-barimt); empty = not sent.
EBARIMT_ENABLED = env.bool("EBARIMT_ENABLED", default=False)
EBARIMT_DISTRICT_CODE = env.str("EBARIMT_DISTRICT_CODE", default="")
EBARIMT_CLASSIFICATION_CODE = env.str("EBARIMT_CLASSIFICATION_CODE", default="")
