"""Settings for esimshop. Everything comes from the environment (see .env.example).

Defaults are production's: DEBUG and SANDBOX off. bin/run and the test setup turn on DEBUG and
the built-in sandbox providers themselves (SQLite, in-process tasks, no credentials, no internet).
With DEBUG=False a configuration that is not safe for real money refuses to start
(esimshop/production_checks.py).
"""

import os
from decimal import Decimal
from pathlib import Path

import environ
from django.core.exceptions import ImproperlyConfigured
from django.utils.translation import gettext_lazy as _

from esimshop import production_checks
from esimshop.production_checks import env_example_names

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()
environ.Env.read_env(BASE_DIR / ".env", overwrite=False)
# `NAME=` (as .env.example writes an unset setting) means "use the default", not an empty value:
# django-environ would otherwise read "" as the value (an empty SECRET_KEY, a False boolean).
for _name in [name for name, value in os.environ.items() if value == "" and name in env_example_names(BASE_DIR)]:
    del os.environ[_name]

# Development only: with DEBUG=False a key shorter than 50 characters or written anywhere in
# the repository (this one, .env.example's) is refused.
INSECURE_DEFAULT_SECRET = "sandbox-insecure-secret-key-do-not-use-in-production"

DEBUG = env.bool("DEBUG", default=False)
SECRET_KEY = env.str("SECRET_KEY", default=INSECURE_DEFAULT_SECRET)
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["127.0.0.1", "localhost", "[::1]", "testserver"])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

# The shop's own public base URL (used for links in e-mails and, by default, QPay callbacks).
SITE_URL = env.str("SITE_URL", default="http://127.0.0.1:8000").rstrip("/")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "rest_framework",
    "drf_spectacular",
    "django_countries",
    "catalog",
    "payments",
    "orders",
    "staff",
    "ops",
    "telegram",
    "shopinfo",
    "axes",
    "sandbox.esimgo",
    "sandbox.qpay",
    "sandbox.telegram",
]

MIDDLEWARE = [
    # First: every later line of the request (and every task it enqueues) carries its request id.
    "esimshop.request_id.RequestIdMiddleware",
    "django.middleware.security.SecurityMiddleware",
    # Static files straight from gunicorn (hashed names, compressed, cached for a year).
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "esimshop.security.SecurityHeadersMiddleware",
    # Database/Redis down → 503 with Retry-After, not 500 (esimshop/unavailable.py).
    "esimshop.unavailable.ServiceUnavailableMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "esimshop.middleware.ShopLocaleMiddleware",
    # After the language is known (the 503 speaks it), before auth or any view: a refused request
    # costs no database or Redis round trip (sessions load lazily).
    "esimshop.overload.OverloadMiddleware",
    "esimshop.middleware.RejectNulPathMiddleware",
    "esimshop.json_limits.JsonBodyLimitMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # Last, as django-axes requires: it turns a locked-out login into a 429 page.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "esimshop.urls"
WSGI_APPLICATION = "esimshop.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.template.context_processors.i18n",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "esimshop.context_processors.shop",
                "telegram.context_processors.telegram",
                "shopinfo.business.context",
            ],
        },
    },
]

DATABASES = {"default": env.db("DATABASE_URL", default=f"sqlite:///{BASE_DIR / 'db.sqlite3'}")}
DATABASES["default"].setdefault("ATOMIC_REQUESTS", False)
if DATABASES["default"]["ENGINE"].endswith("sqlite3"):
    # Threaded dev server + in-process tasks: wait for the write lock instead of failing.
    DATABASES["default"].setdefault("OPTIONS", {})["timeout"] = 20
    # BEGIN IMMEDIATE: a transaction takes the write lock up front, so two concurrent
    # read-then-write transactions queue on the timeout instead of failing "database is locked".
    DATABASES["default"]["OPTIONS"]["transaction_mode"] = "IMMEDIATE"
else:
    # gthread workers: each thread keeps its own connection for CONN_MAX_AGE seconds (at most
    # WEB_CONCURRENCY x GUNICORN_THREADS connections from the web server, mostly idle while a
    # provider answers), and checks it once per request before reuse so a connection the server
    # or a PgBouncer closed is replaced instead of failing the request. With PgBouncer in
    # transaction mode set CONN_MAX_AGE=0 and DISABLE_SERVER_SIDE_CURSORS (docs: README).
    DATABASES["default"]["CONN_MAX_AGE"] = env.int("CONN_MAX_AGE", default=60)
    # A kept connection is tested before reuse: after a PostgreSQL restart the first request gets a
    # fresh connection instead of a 500 on the dead one (Django 4.1+).
    DATABASES["default"]["CONN_HEALTH_CHECKS"] = env.bool("CONN_HEALTH_CHECKS", default=True)
    DATABASES["default"]["DISABLE_SERVER_SIDE_CURSORS"] = env.bool("DISABLE_SERVER_SIDE_CURSORS", default=False)
    # Connecting to a PostgreSQL that is down must fail fast (a 503), not hang a web thread.
    DATABASES["default"].setdefault("OPTIONS", {}).setdefault(
        "connect_timeout", env.int("DB_CONNECT_TIMEOUT", default=5)
    )
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

REDIS_URL = env.str("REDIS_URL", default="")
if REDIS_URL:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": env.str("CACHE_KEY_PREFIX", default="esimshop"),
            # A Redis that is down or hung must cost a request about a second, not a web thread
            # forever: the callers fail open (rate limits) or answer 503.
            "OPTIONS": {
                "socket_connect_timeout": env.float("REDIS_SOCKET_TIMEOUT", default=1.0),
                "socket_timeout": env.float("REDIS_SOCKET_TIMEOUT", default=1.0),
            },
        }
    }
else:
    # Without Redis: local memory, or CACHE_URL (bin/run uses a file cache so that its
    # `manage.py sync_catalog` and the server share one cache, e.g. the storefront's version).
    CACHES = {"default": env.cache_url("CACHE_URL", default="locmemcache://")}
# Rendered storefront pages (catalog/page_cache.py). A catalogue change invalidates them at once
# through a version number in the cache; this timeout only bounds what the version can't see: a
# deploy with new templates (the release step expires them too) and, with a per-process cache,
# a sync run in another process.
STOREFRONT_CACHE_SECONDS = env.int("STOREFRONT_CACHE_SECONDS", default=600 if REDIS_URL else 30)
# After a sync or price change this many popular pages (all languages together) are rendered in
# the background before the cache switches to the new catalogue (catalog/page_warming.py).
STOREFRONT_WARM_MAX_PAGES = env.int("STOREFRONT_WARM_MAX_PAGES", default=1200)

# Overload (esimshop/overload.py): requests one web process works on at once before it answers
# 503 + Retry-After. Keep it a few below GUNICORN_THREADS (Procfile) so callbacks and health
# checks always find a free thread; 0 = no bound.
WEB_MAX_IN_FLIGHT = env.int("WEB_MAX_IN_FLIGHT", default=24)
WEB_OVERLOAD_RETRY_AFTER_SECONDS = env.int("WEB_OVERLOAD_RETRY_AFTER_SECONDS", default=2)

# Celery: Redis in production; without REDIS_URL tasks run in-process (eager).
# "memory://localhost/": a bare "memory://" makes kombu warn "No hostname was supplied" on every run.
CELERY_BROKER_URL = REDIS_URL or "memory://localhost/"
CELERY_RESULT_BACKEND = None
CELERY_TASK_ALWAYS_EAGER = env.bool("CELERY_TASK_ALWAYS_EAGER", default=not REDIS_URL)
CELERY_TASK_EAGER_PROPAGATES = False
# Every task is idempotent (it re-checks state under a row lock), so a message is acknowledged
# after the work and re-delivered when the worker dies mid-way.
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
# Time limits on every task (tasks with longer work set their own): a hung provider call must
# free the worker slot. Soft first (the task can record what it knows), then hard.
CELERY_TASK_SOFT_TIME_LIMIT = env.int("CELERY_TASK_SOFT_TIME_LIMIT", default=120)
CELERY_TASK_TIME_LIMIT = env.int("CELERY_TASK_TIME_LIMIT", default=150)
# The broker may be down at start-up or for a while: keep trying (the platform restarts a
# worker that exits anyway, but a worker that waits recovers sooner).
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_BROKER_CONNECTION_MAX_RETRIES = None
CELERY_BROKER_TRANSPORT_OPTIONS = {"socket_connect_timeout": 2, "socket_timeout": 10}
# Publishing while Redis is down gives up after ~2 s: the web request answers (on_commit is
# robust, the database holds the schedules) instead of hanging on the broker.
CELERY_TASK_PUBLISH_RETRY_POLICY = {"max_retries": 2, "interval_start": 0.2, "interval_step": 0.5, "interval_max": 1}
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_IGNORE_RESULT = True
CELERY_TIMEZONE = "UTC"
CATALOG_SYNC_INTERVAL_HOURS = env.int("CATALOG_SYNC_INTERVAL_HOURS", default=6)
# Plan pages' networks per country: fetched per bundle in idle eSIM Go budget (catalog/networks.py).
CATALOG_NETWORKS_INTERVAL_SECONDS = env.int("CATALOG_NETWORKS_INTERVAL_SECONDS", default=300)
CATALOG_NETWORKS_BATCH = env.int("CATALOG_NETWORKS_BATCH", default=60)
CATALOG_NETWORKS_MAX_AGE_DAYS = env.int("CATALOG_NETWORKS_MAX_AGE_DAYS", default=7)

# How many proxies in front append to X-Forwarded-For (0 = none: the header is ignored). The one
# client-address rule of every rate limit and of django-axes (esimshop/client_address.py).
TRUSTED_PROXY_COUNT = env.int("TRUSTED_PROXY_COUNT", default=0)

# Admin login brute-force protection (django-axes): the axes backend must come first so a
# locked-out username/IP is refused before the password is even checked.
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
AXES_FAILURE_LIMIT = env.int("AXES_FAILURE_LIMIT", default=5)
AXES_COOLOFF_TIME = env.float("AXES_COOLOFF_HOURS", default=1.0)  # hours
# Lock the pair (address, username): a username guessed from elsewhere stays usable for its owner,
# so nobody can lock a known staff login out from their own address.
AXES_LOCKOUT_PARAMETERS = [["ip_address", "username"]]
AXES_RESET_ON_SUCCESS = True
AXES_CLIENT_IP_CALLABLE = "staff.security.client_ip_for_axes"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

# Mongolian first, English second.
LANGUAGE_CODE = "mn"
LANGUAGES = [("mn", _("Mongolian")), ("en", _("English"))]
LOCALE_PATHS = [BASE_DIR / "locale"]
LANGUAGE_COOKIE_AGE = 365 * 24 * 3600
USE_I18N = True
TIME_ZONE = "Asia/Ulaanbaatar"
USE_TZ = True

STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
# Where the release step's collectstatic writes (and whitenoise serves from) with DEBUG=False.
STATIC_ROOT = env.path("STATIC_ROOT", default=str(BASE_DIR / "staticfiles"))
# Production serves what the release step's collectstatic wrote: content-hashed names (so a
# deploy never serves a stale pay.js) with gzip/brotli copies; whitenoise gives hashed files
# "max-age=315360000, immutable". Development serves the source folders as they are.
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"
        if DEBUG
        else "whitenoise.storage.CompressedManifestStaticFilesStorage"
    },
}

REST_FRAMEWORK = {
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "DEFAULT_AUTHENTICATION_CLASSES": [],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.AllowAny"],
    "UNAUTHENTICATED_USER": None,
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "EXCEPTION_HANDLER": "esimshop.api.exception_handler",
    # JSON only (the seed-000 contract): a cross-site HTML form cannot send application/json, so
    # these session-less, csrf_exempt API views can't be driven by another site's form.
    "DEFAULT_PARSER_CLASSES": ["rest_framework.parsers.JSONParser"],
}
SPECTACULAR_SETTINGS = {
    "TITLE": "esimshop API",
    "DESCRIPTION": "Travel eSIMs for shoppers in Mongolia, paid in MNT through QPay.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
}

# Every JSON request body (esimshop/json_limits.py): larger is 413, deeper nesting is 400.
JSON_MAX_BODY_BYTES = env.int("JSON_MAX_BODY_BYTES", default=65536)
JSON_MAX_DEPTH = env.int("JSON_MAX_DEPTH", default=32)

# --- Providers -------------------------------------------------------------------------
# SANDBOX is an explicit opt-in (bin/run and the tests set it): the shop then talks to its own
# sandbox providers over real HTTP, with credentials derived from SECRET_KEY for this
# installation. A provider pointed at the sandbox is always given the sandbox's credentials, so a
# real key never reaches the sandbox (and the sandbox only ever compares its own keys).
SANDBOX = env.bool("SANDBOX", default=False)
# A public demo: SANDBOX on with DEBUG=False, no real credentials; every page says it is a demo.
SANDBOX_PUBLIC_DEMO = env.bool("SANDBOX_PUBLIC_DEMO", default=False)
# Plain-http provider base URLs on loopback hosts (the production-mode test's stand-ins); never
# any other host, and https is required otherwise.
PROVIDERS_ALLOW_LOOPBACK_HTTP = env.bool("PROVIDERS_ALLOW_LOOPBACK_HTTP", default=False)
SANDBOX_ESIMGO_API_KEY = production_checks.sandbox_secret(SECRET_KEY, "esimgo-api-key")
SANDBOX_QPAY_CLIENT_ID = "SANDBOX_MERCHANT"
SANDBOX_QPAY_CLIENT_SECRET = production_checks.sandbox_secret(SECRET_KEY, "qpay-client-secret")
SANDBOX_QPAY_INVOICE_CODE = "SANDBOX_INVOICE"
# The real credentials as the environment gives them (the checks name each missing one).
PROVIDER_CREDENTIALS_GIVEN = {name: env.str(name, default="") for name in production_checks.REAL_CREDENTIALS}
ESIMGO_BASE_URL = env.str(
    "ESIMGO_BASE_URL",
    default=f"{SITE_URL}/sandbox/esimgo/v2.4" if SANDBOX else "https://api.esim-go.com/v2.4",
).rstrip("/")
QPAY_BASE_URL = env.str(
    "QPAY_BASE_URL", default=f"{SITE_URL}/sandbox/qpay" if SANDBOX else "https://merchant.qpay.mn"
).rstrip("/")
if production_checks.is_sandbox_url(ESIMGO_BASE_URL):
    ESIMGO_API_KEY = SANDBOX_ESIMGO_API_KEY
else:
    ESIMGO_API_KEY = PROVIDER_CREDENTIALS_GIVEN["ESIMGO_API_KEY"]
if production_checks.is_sandbox_url(QPAY_BASE_URL):
    QPAY_CLIENT_ID, QPAY_CLIENT_SECRET = SANDBOX_QPAY_CLIENT_ID, SANDBOX_QPAY_CLIENT_SECRET
    QPAY_INVOICE_CODE = SANDBOX_QPAY_INVOICE_CODE
else:
    QPAY_CLIENT_ID = PROVIDER_CREDENTIALS_GIVEN["QPAY_CLIENT_ID"]
    QPAY_CLIENT_SECRET = PROVIDER_CREDENTIALS_GIVEN["QPAY_CLIENT_SECRET"]
    QPAY_INVOICE_CODE = PROVIDER_CREDENTIALS_GIVEN["QPAY_INVOICE_CODE"]
_PROBLEMS = (
    production_checks.configuration_problems(
        production_checks.ProviderSetup(
            debug=DEBUG,
            sandbox=SANDBOX,
            public_demo=SANDBOX_PUBLIC_DEMO,
            secret_key=SECRET_KEY,
            esimgo_base_url=ESIMGO_BASE_URL,
            qpay_base_url=QPAY_BASE_URL,
            credentials=PROVIDER_CREDENTIALS_GIVEN,
            allow_loopback_http=PROVIDERS_ALLOW_LOOPBACK_HTTP,
        ),
        repo_root=BASE_DIR,
    )
    if not DEBUG
    else []
)
if _PROBLEMS:
    raise ImproperlyConfigured("Refusing to start with DEBUG=False:\n- " + "\n- ".join(_PROBLEMS))
ESIMGO_CONNECT_TIMEOUT = env.float("ESIMGO_CONNECT_TIMEOUT", default=5.0)
ESIMGO_READ_TIMEOUT = env.float("ESIMGO_READ_TIMEOUT", default=30.0)
ESIMGO_MAX_RETRIES = env.int("ESIMGO_MAX_RETRIES", default=3)
# eSIM Go allows 10 req/s per IP in fixed one-second windows; 9 leaves room for window skew.
ESIMGO_RATE_LIMIT_PER_SECOND = env.int("ESIMGO_RATE_LIMIT_PER_SECOND", default=9)
# Purchases' eSIM Go validation: reused per bundle for this long, and never more than the budget
# minus this share (percent), which stays for provisioning paid orders (catalog/ratelimit.py).
ESIMGO_VALIDATION_CACHE_SECONDS = env.int("ESIMGO_VALIDATION_CACHE_SECONDS", default=60)
ESIMGO_PROVISIONING_RESERVED_PERCENT = env.int("ESIMGO_PROVISIONING_RESERVED_PERCENT", default=34)
ESIMGO_CATALOGUE_PAGE_SIZE = env.int("ESIMGO_CATALOGUE_PAGE_SIZE", default=1000)
# Where eSIM Go (or the sandbox) POSTs V3 usage callbacks; set the same URL in the eSIM Go portal.
ESIMGO_CALLBACK_URL = env.str("ESIMGO_CALLBACK_URL", default=f"{SITE_URL}/esimgo/callback/")

# Retail pricing: eSIM Go price (decimal, org currency) x rate x (1 + markup), rounded up.
QPAY_USD_TO_MNT_RATE = Decimal(env.str("QPAY_USD_TO_MNT_RATE", default="3450"))
PRICE_MARKUP_PERCENT = Decimal(env.str("PRICE_MARKUP_PERCENT", default="25"))
PRICE_ROUNDING_STEP_MNT = env.int("PRICE_ROUNDING_STEP_MNT", default=100)

# QPay (base URL and credentials above).
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
# QPay's access token; reconciliation reports itself incomplete if neither gives one).
ESIMGO_LOW_BALANCE_THRESHOLD = Decimal(env.str("ESIMGO_LOW_BALANCE_THRESHOLD", default="100"))
QPAY_MERCHANT_ID = env.str("QPAY_MERCHANT_ID", default="")

# E-barimt (VAT receipt) through QPay after each verified payment; off until QPay has enrolled
# the merchant (otherwise QPay answers EBARIMT_NOT_REGISTERED). District and classification
# codes are the accountant's call (docs/providers/qpay.md, E-barimt); empty = not sent.
EBARIMT_ENABLED = env.bool("EBARIMT_ENABLED", default=False)
EBARIMT_DISTRICT_CODE = env.str("EBARIMT_DISTRICT_CODE", default="")
EBARIMT_CLASSIFICATION_CODE = env.str("EBARIMT_CLASSIFICATION_CODE", default="")

# --- Telegram Mini App and bot (telegram/, docs/telegram.md) ----------------------------------
# Off when TELEGRAM_BOT_TOKEN is unset; the sandbox runs it against its own Bot API with a
# sandbox token, so the whole flow works offline. In production a token needs a webhook secret.
SANDBOX_TELEGRAM_BOT_TOKEN = "123456789:SANDBOX-bot-token-not-a-real-one"
SANDBOX_TELEGRAM_WEBHOOK_SECRET = "sandbox-webhook-secret"
# (`or`: an empty line in .env, as `cp .env.example .env` leaves it, means "the default".)
# The sandbox token only with DEBUG on: DEBUG=False never runs a bot nobody configured.
TELEGRAM_BOT_TOKEN = env.str("TELEGRAM_BOT_TOKEN", default="") or (
    SANDBOX_TELEGRAM_BOT_TOKEN if SANDBOX and DEBUG else ""
)
# The built-in sandbox Bot API and its stand-in client script (sandbox/telegram/).
TELEGRAM_SANDBOX = SANDBOX and TELEGRAM_BOT_TOKEN == SANDBOX_TELEGRAM_BOT_TOKEN
TELEGRAM_WEBHOOK_SECRET = env.str("TELEGRAM_WEBHOOK_SECRET", default="") or (
    SANDBOX_TELEGRAM_WEBHOOK_SECRET if TELEGRAM_SANDBOX else ""
)
TELEGRAM_BOT_API_BASE_URL = (
    env.str("TELEGRAM_BOT_API_BASE_URL", default="")
    or (f"{SITE_URL}/sandbox/telegram" if TELEGRAM_SANDBOX else "https://api.telegram.org")
).rstrip("/")
TELEGRAM_INIT_DATA_MAX_AGE_SECONDS = env.int("TELEGRAM_INIT_DATA_MAX_AGE_SECONDS", default=3600)
TELEGRAM_SEND_MAX_RETRIES = env.int("TELEGRAM_SEND_MAX_RETRIES", default=8)
# Telegram's client script. Not on npm under an official name, and Telegram asks Mini Apps to
# load it from telegram.org, so that one exact URL is allowed in script-src (below); the sandbox
# serves its own stand-in instead (no request leaves the machine).
TELEGRAM_WEB_APP_JS_URL = "https://telegram.org/js/telegram-web-app.js"
TELEGRAM_ENABLED = bool(TELEGRAM_BOT_TOKEN)
if TELEGRAM_ENABLED and not DEBUG:
    if TELEGRAM_BOT_TOKEN == SANDBOX_TELEGRAM_BOT_TOKEN:
        raise ImproperlyConfigured(
            "TELEGRAM_BOT_TOKEN is the sandbox token; set the real one or unset it (DEBUG=False)."
        )
    if len(TELEGRAM_WEBHOOK_SECRET) < 32:
        raise ImproperlyConfigured(
            "TELEGRAM_WEBHOOK_SECRET (32+ characters of A-Z a-z 0-9 _ -) must be set "
            "when TELEGRAM_BOT_TOKEN is set and DEBUG=False."
        )
    if not TELEGRAM_BOT_API_BASE_URL.startswith("https://"):
        raise ImproperlyConfigured("TELEGRAM_BOT_API_BASE_URL must be an https:// URL when DEBUG=False.")

EMAIL_CONFIG = env.email_url("EMAIL_URL", default="consolemail://")
vars().update(EMAIL_CONFIG)
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default="esimshop <no-reply@esimshop.mn>")
STAFF_ALERT_EMAILS = env.list("STAFF_ALERT_EMAILS", default=["staff@esimshop.mn"])
# Retry-After of the 503 answered while the database or Redis is down.
UNAVAILABLE_RETRY_AFTER_SECONDS = env.int("UNAVAILABLE_RETRY_AFTER_SECONDS", default=10)
# The payment-check sweep's period (payments/schedules.py): a lost broker message or a Redis
# restart delays a payment check by at most this long.
PAYMENTS_SWEEP_INTERVAL_SECONDS = env.int("PAYMENTS_SWEEP_INTERVAL_SECONDS", default=60)
# Orders: how long a purchase whose outcome is unknown is looked for in eSIM Go's order list
# before staff decide (it is never bought again automatically), and how often it is looked for.
ORDERS_UNKNOWN_OUTCOME_WINDOW_SECONDS = env.int("ORDERS_UNKNOWN_OUTCOME_WINDOW_SECONDS", default=20 * 60)
ORDERS_UNKNOWN_OUTCOME_LOOKUP_INTERVAL_SECONDS = env.int("ORDERS_UNKNOWN_OUTCOME_LOOKUP_INTERVAL_SECONDS", default=60)

# --- Operations (issue 12): logs, error reports, metrics, readiness, alerts, daily report ------
# One JSON object per line (structlog, esimshop/logs.py) from web and Celery; "console" for
# readable development lines (bin/run). A record factory masks secrets, tokens, phone numbers and
# LPA strings in every record (esimshop/log_redaction.py), and the formatter masks bound values.
LOG_FORMAT = env.str("LOG_FORMAT", default="json")
if LOG_FORMAT not in ("json", "console"):
    raise ImproperlyConfigured(f"LOG_FORMAT must be json or console, not {LOG_FORMAT!r}.")
LOGGING_CONFIG = "esimshop.log_redaction.configure_logging"
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"structured": {"()": "esimshop.logs.structured_formatter", "log_format": LOG_FORMAT}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "structured"}},
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="INFO")},
    "loggers": {"django.server": {"level": "WARNING"}},
}
# The worker logs through LOGGING above (JSON) instead of replacing the root logger's handlers.
CELERY_WORKER_HIJACK_ROOT_LOGGER = False

# Sentry: off unless SENTRY_DSN; release = SENTRY_RELEASE or the git revision of this checkout.
SENTRY_DSN = env.str("SENTRY_DSN", default="")
SENTRY_ENVIRONMENT = env.str("SENTRY_ENVIRONMENT", default="production" if not DEBUG else "development")
SENTRY_TRACES_SAMPLE_RATE = env.float("SENTRY_TRACES_SAMPLE_RATE", default=0.0)
if SENTRY_DSN:
    from esimshop import sentry as _sentry

    SENTRY_RELEASE = env.str("SENTRY_RELEASE", default="") or _sentry.git_revision(BASE_DIR)
    _sentry.init(
        dsn=SENTRY_DSN,
        release=SENTRY_RELEASE,
        environment=SENTRY_ENVIRONMENT,
        traces_sample_rate=SENTRY_TRACES_SAMPLE_RATE,
    )
else:
    SENTRY_RELEASE = env.str("SENTRY_RELEASE", default="")

# /metrics (Prometheus): a bearer token (METRICS_TOKEN) or a client address in METRICS_ALLOWED_IPS.
# Neither set: /metrics answers 404. PROMETHEUS_MULTIPROC_DIR (read by prometheus_client itself)
# must be set for gunicorn and Celery workers alike in production.
METRICS_TOKEN = env.str("METRICS_TOKEN", default="")
METRICS_ALLOWED_IPS = env.list("METRICS_ALLOWED_IPS", default=[])

# Heartbeats: beat sends one task per queue every HEARTBEAT_SECONDS (ops/heartbeats.py).
HEARTBEAT_SECONDS = env.int("HEARTBEAT_SECONDS", default=20)
HEARTBEAT_QUEUES = env.list("HEARTBEAT_QUEUES", default=["celery", "provisioning"])
WORKER_HEARTBEAT_MAX_AGE_SECONDS = env.int("WORKER_HEARTBEAT_MAX_AGE_SECONDS", default=60)
# /readyz: each check's own deadline, and how long one answer is reused (per process).
READYZ_CHECK_TIMEOUT_SECONDS = env.float("READYZ_CHECK_TIMEOUT_SECONDS", default=3.0)
READYZ_CACHE_SECONDS = env.float("READYZ_CACHE_SECONDS", default=5.0)

# Alerts (`manage.py watchdog`, every minute from a systemd timer): e-mail to STAFF_ALERT_EMAILS
# and a JSON POST to ALERT_WEBHOOK_URL if set; a condition still true is re-sent after
# ALERT_REPEAT_MINUTES; a paid order without an eSIM alerts after UNDELIVERED_ALERT_MINUTES.
ALERT_WEBHOOK_URL = env.str("ALERT_WEBHOOK_URL", default="")
ALERT_WEBHOOK_TIMEOUT_SECONDS = env.float("ALERT_WEBHOOK_TIMEOUT_SECONDS", default=5.0)
ALERT_REPEAT_MINUTES = env.int("ALERT_REPEAT_MINUTES", default=60)
UNDELIVERED_ALERT_MINUTES = env.int("UNDELIVERED_ALERT_MINUTES", default=10)
# Daily report e-mail, sent by beat at this hour UTC (0 = 08:00 in Ulaanbaatar).
DAILY_REPORT_HOUR_UTC = env.int("DAILY_REPORT_HOUR_UTC", default=0)
# --- end of operations settings --------------------------------------------------------------

if not DEBUG:
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=True)
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    LANGUAGE_COOKIE_SECURE = True
    SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=31536000)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = True
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"

# Content-Security-Policy (esimshop/security.py): no inline scripts or styles anywhere, every
# script/style is a static file. Images: our own, data: URIs (QPay's QR PNG) and QPay's bank
# logo hosts (docs/providers/qpay.md, Bank apps); the sandbox QPay serves its logos locally.
CONTENT_SECURITY_POLICY = {
    "default-src": ["'self'"],
    "script-src": ["'self'"],
    "style-src": ["'self'"],
    "img-src": ["'self'", "data:", "https://qpay.mn", "https://s3.qpay.mn"],
    "font-src": ["'self'"],
    "connect-src": ["'self'"],
    "object-src": ["'none'"],
    "base-uri": ["'none'"],
    "form-action": ["'self'"],
    "frame-ancestors": ["'none'"],
}
if TELEGRAM_ENABLED and not TELEGRAM_SANDBOX:
    # Only Telegram's own client script, by its exact URL (telegram/static/telegram/miniapp.js loads it).
    CONTENT_SECURITY_POLICY["script-src"] = [*CONTENT_SECURITY_POLICY["script-src"], TELEGRAM_WEB_APP_JS_URL]
