"""Operations (issue 12): logs, error reports, metrics, heartbeats, readiness, alerts, the daily
report and the worker's exit after an unrecoverable error."""

from django.core.exceptions import ImproperlyConfigured

from esimshop.settings_parts.base import BASE_DIR, DEBUG, env

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
# A worker whose consumer crashed exits this many seconds later if its shutdown hangs
# (esimshop/worker_exit.py), for the supervisor to restart it.
WORKER_UNRECOVERABLE_EXIT_SECONDS = env.float("WORKER_UNRECOVERABLE_EXIT_SECONDS", default=10.0)
