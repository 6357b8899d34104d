"""Settings for esimshop. Everything comes from the environment (see .env.example).

Defaults are production's: DEBUG and SANDBOX off. bin/run and the test setup turn on DEBUG and
the built-in sandbox providers themselves (SQLite, in-process tasks, no credentials, no internet).
With DEBUG=False a configuration that is not safe for real money refuses to start
(esimshop/production_checks.py).

The knobs are grouped in esimshop/settings_parts/ (its docstring lists the parts); this module
imports them all, so DJANGO_SETTINGS_MODULE=esimshop.settings is the whole configuration.
"""

from django.core.exceptions import ImproperlyConfigured
from django.utils.translation import gettext_lazy as _

from esimshop import production_checks
from esimshop.settings_parts.base import *  # noqa: F403 - DEBUG, SANDBOX, SITE_URL, REDIS_URL
from esimshop.settings_parts.base import BASE_DIR, DEBUG, REDIS_URL, SANDBOX, SITE_URL, env
from esimshop.settings_parts.esimgo import *  # noqa: F403
from esimshop.settings_parts.operations import *  # noqa: F403
from esimshop.settings_parts.orders import *  # noqa: F403
from esimshop.settings_parts.payments import *  # noqa: F403
from esimshop.settings_parts.sandbox import *  # noqa: F403
from esimshop.settings_parts.telegram import *  # noqa: F403
from esimshop.settings_parts.telegram import TELEGRAM_ENABLED, TELEGRAM_SANDBOX, TELEGRAM_WEB_APP_JS_URL

# Development only: with DEBUG=False a key shorter than 50 characters or written anywhere in
# the repository (this one, .env.example's) is refused.
INSECURE_DEFAULT_SECRET = "sandbox-insecure-secret-key-do-not-use-in-production"

SECRET_KEY = env.str("SECRET_KEY", default=INSECURE_DEFAULT_SECRET)
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["127.0.0.1", "localhost", "[::1]", "testserver"])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

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
    # Inside the language (its messages speak it), outside everything that may answer an error:
    # every JSON error leaves in the one shape (esimshop/api_errors.py).
    "esimshop.api_errors.ErrorShapeMiddleware",
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
    "EXCEPTION_HANDLER": "esimshop.api_errors.exception_handler",
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

# --- Providers (SANDBOX itself: settings_parts/base.py; their other knobs: settings_parts/) ------
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

EMAIL_CONFIG = env.email_url("EMAIL_URL", default="consolemail://")
vars().update(EMAIL_CONFIG)
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default="esimshop <no-reply@esimshop.mn>")
STAFF_ALERT_EMAILS = env.list("STAFF_ALERT_EMAILS", default=["staff@esimshop.mn"])
# Retry-After of the 503 answered while the database or Redis is down.
UNAVAILABLE_RETRY_AFTER_SECONDS = env.int("UNAVAILABLE_RETRY_AFTER_SECONDS", default=10)

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

# Permissions-Policy of every response (esimshop/security.py): no camera, microphone, location,
# payment API or USB for any page.
PERMISSIONS_POLICY = env.str(
    "PERMISSIONS_POLICY", default="camera=(), microphone=(), geolocation=(), payment=(), usb=()"
)

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
