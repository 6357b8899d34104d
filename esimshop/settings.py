"""Settings for esimshop. Everything comes from the environment (see .env.example).

Defaults are the sandbox: SQLite, in-process tasks, local-memory cache and the built-in
sandbox providers, so a fresh checkout runs with no credentials and no internet.
"""
from decimal import Decimal
from pathlib import Path

import environ
from django.core.exceptions import ImproperlyConfigured
from django.utils.translation import gettext_lazy as _

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()
environ.Env.read_env(BASE_DIR / ".env", overwrite=False)

INSECURE_DEFAULT_SECRET = "sandbox-insecure-secret-key-do-not-use-in-production"

DEBUG = env.bool("DEBUG", default=True)
SECRET_KEY = env.str("SECRET_KEY", default=INSECURE_DEFAULT_SECRET)
if not DEBUG and SECRET_KEY == INSECURE_DEFAULT_SECRET:
    raise ImproperlyConfigured("SECRET_KEY must be set when DEBUG=False.")
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
    "axes",
    "sandbox.esimgo",
    "sandbox.qpay",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "esimshop.security.SecurityHeadersMiddleware",
    # Database/Redis down → 503 with Retry-After, not 500 (esimshop/unavailable.py).
    "esimshop.unavailable.ServiceUnavailableMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "esimshop.middleware.ShopLocaleMiddleware",
    "esimshop.middleware.RejectNulPathMiddleware",
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
    DATABASES["default"]["CONN_MAX_AGE"] = env.int("CONN_MAX_AGE", default=60)
    # A kept connection is tested before reuse: after a PostgreSQL restart the first request gets a
    # fresh connection instead of a 500 on the dead one (Django 4.1+).
    DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
    # Connecting to a PostgreSQL that is down must fail fast (a 503), not hang a web thread.
    DATABASES["default"].setdefault("OPTIONS", {}).setdefault("connect_timeout", env.int("DB_CONNECT_TIMEOUT", default=5))
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

# Celery: Redis in production; without REDIS_URL tasks run in-process (eager).
CELERY_BROKER_URL = REDIS_URL or "memory://"
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

# Admin login brute-force protection (django-axes): the axes backend must come first so a
# locked-out username/IP is refused before the password is even checked.
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
AXES_FAILURE_LIMIT = env.int("AXES_FAILURE_LIMIT", default=5)
AXES_COOLOFF_TIME = env.float("AXES_COOLOFF_HOURS", default=1.0)  # hours
# Lock an address that guesses many usernames, and a username guessed from many addresses.
AXES_LOCKOUT_PARAMETERS = ["ip_address", "username"]
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
STATIC_ROOT = BASE_DIR / "staticfiles"

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

# --- Providers -------------------------------------------------------------------------
# With no eSIM Go key the shop talks to its own sandbox providers over real HTTP.
ESIMGO_API_KEY = env.str("ESIMGO_API_KEY", default="")
SANDBOX = env.bool("SANDBOX", default=not ESIMGO_API_KEY)
SANDBOX_ESIMGO_API_KEY = "sandbox-esimgo-key"
ESIMGO_BASE_URL = env.str(
    "ESIMGO_BASE_URL",
    default=f"{SITE_URL}/sandbox/esimgo/v2.4" if SANDBOX else "https://api.esim-go.com/v2.4",
).rstrip("/")
if SANDBOX and not ESIMGO_API_KEY:
    ESIMGO_API_KEY = SANDBOX_ESIMGO_API_KEY
ESIMGO_CONNECT_TIMEOUT = env.float("ESIMGO_CONNECT_TIMEOUT", default=5.0)
ESIMGO_READ_TIMEOUT = env.float("ESIMGO_READ_TIMEOUT", default=30.0)
ESIMGO_MAX_RETRIES = env.int("ESIMGO_MAX_RETRIES", default=3)
# eSIM Go allows 10 req/s per IP in fixed one-second windows; 9 leaves room for window skew.
ESIMGO_RATE_LIMIT_PER_SECOND = env.int("ESIMGO_RATE_LIMIT_PER_SECOND", default=9)
ESIMGO_CATALOGUE_PAGE_SIZE = env.int("ESIMGO_CATALOGUE_PAGE_SIZE", default=1000)
# Where eSIM Go (or the sandbox) POSTs V3 usage callbacks; set the same URL in the eSIM Go portal.
ESIMGO_CALLBACK_URL = env.str("ESIMGO_CALLBACK_URL", default=f"{SITE_URL}/esimgo/callback/")

# Retail pricing: eSIM Go price (decimal, org currency) x rate x (1 + markup), rounded up.
QPAY_USD_TO_MNT_RATE = Decimal(env.str("QPAY_USD_TO_MNT_RATE", default="3450"))
PRICE_MARKUP_PERCENT = Decimal(env.str("PRICE_MARKUP_PERCENT", default="25"))
PRICE_ROUNDING_STEP_MNT = env.int("PRICE_ROUNDING_STEP_MNT", default=100)

# QPay (the payments issue uses these).
QPAY_BASE_URL = env.str(
    "QPAY_BASE_URL", default=f"{SITE_URL}/sandbox/qpay" if SANDBOX else "https://merchant.qpay.mn"
).rstrip("/")
QPAY_CLIENT_ID = env.str("QPAY_CLIENT_ID", default="TEST_MERCHANT" if SANDBOX else "")
QPAY_CLIENT_SECRET = env.str("QPAY_CLIENT_SECRET", default="123456" if SANDBOX else "")
QPAY_INVOICE_CODE = env.str("QPAY_INVOICE_CODE", default="TEST_INVOICE" if SANDBOX else "")
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
# QPay callbacks: authentic ones per invoice (QPay sends one per payment), wrong-token ones per address.
PAYMENTS_CALLBACK_RATE_LIMIT_PER_INVOICE_PER_MINUTE = env.int(
    "PAYMENTS_CALLBACK_RATE_LIMIT_PER_INVOICE_PER_MINUTE", default=120)
PAYMENTS_CALLBACK_BAD_TOKEN_RATE_LIMIT_PER_MINUTE = env.int("PAYMENTS_CALLBACK_BAD_TOKEN_RATE_LIMIT_PER_MINUTE", default=60)

# Staff console: eSIM Go balance warning threshold (organisation currency) and QPay's merchant id
# for the merchant-wide payment list used by reconciliation (empty: QPay's default merchant).
ESIMGO_LOW_BALANCE_THRESHOLD = Decimal(env.str("ESIMGO_LOW_BALANCE_THRESHOLD", default="100"))
QPAY_MERCHANT_ID = env.str("QPAY_MERCHANT_ID", default="")

# E-barimt (VAT receipt) through QPay after each verified payment; off until QPay has enrolled
# the merchant (otherwise QPay answers EBARIMT_NOT_REGISTERED). District and classification
# codes are the accountant's call (reference qpay.md §13); empty = not sent.
EBARIMT_ENABLED = env.bool("EBARIMT_ENABLED", default=False)
EBARIMT_DISTRICT_CODE = env.str("EBARIMT_DISTRICT_CODE", default="")
EBARIMT_CLASSIFICATION_CODE = env.str("EBARIMT_CLASSIFICATION_CODE", default="")

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

# Django's dictConfig plus a record factory that masks secrets, tokens, phone numbers and LPA
# strings in every log record (esimshop/log_redaction.py).
LOGGING_CONFIG = "esimshop.log_redaction.configure_logging"
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="INFO")},
    "loggers": {"django.server": {"level": "WARNING"}},
}

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
# logo hosts (reference qpay.md §11); the sandbox QPay serves its logos locally.
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
