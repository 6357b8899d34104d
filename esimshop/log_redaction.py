"""No secret, token, full phone number or eSIM activation code in any log line.

Our own code logs ids, never these values. This is the net under everything else: Django's
request warnings ("Gone: /my-esims/login/<token>/"), urllib3's DEBUG request lines (the
sandbox's callback URL carries ?token=), gunicorn's access log, Celery, and exception text
(requests puts URLs into its error messages).

It is a LogRecord factory, so a record is cleaned once, when it is created, before any handler or
filter sees it — including handlers added later (gunicorn's, pytest's caplog). Django installs it
through settings.LOGGING_CONFIG = "esimshop.log_redaction.configure_logging".
"""

import logging
import logging.config
import re
import traceback

from django.conf import settings

REDACTED = "[redacted]"

PATTERNS = [
    # Query parameters that are credentials (QPay callback token, OAuth-ish names).
    (
        re.compile(
            r"(?i)([?&;](?:token|access_token|refresh_token|api_key|apikey|secret|password|signature)=)[^&\s\"'<>]+"
        ),
        r"\1" + REDACTED,
    ),
    # Magic sign-in links: the token is a path segment.
    (re.compile(r"(/my-esims/login/)[^/\s\"'?<>]+"), r"\1" + REDACTED),
    # Capability URLs: the payment page and the eSIM page (and its status/top-up), plain or
    # URL-encoded (the sandbox bank's ?return=%2Fpay%2F<token>%2F).
    (re.compile(r"(/(?:pay|esims)/)[A-Za-z0-9_\-]{40,}"), r"\1" + REDACTED),
    (re.compile(r"(?i)(%2F(?:pay|esims)%2F)[A-Za-z0-9_\-]{40,}"), r"\1" + REDACTED),
    # LPA activation strings (LPA:1$smdp$matchingId) and the escaped form inside JSON/URLs.
    (re.compile(r"(?i)LPA(?::|%3A)1(?:\$|%24)[^\s\"'<>&]+"), "LPA:1$" + REDACTED),
    (re.compile(r"(?i)\b(matching_?id[\"']?\s*[:=]\s*[\"']?)[A-Za-z0-9\-]{6,}"), r"\1" + REDACTED),
    # HTTP credentials.
    (re.compile(r"(?i)\b(Bearer|Basic)\s+[A-Za-z0-9._~+/=\-]{8,}"), r"\1 " + REDACTED),
    (re.compile(r"(?i)(X-API-Key[\"']?\s*[:=]\s*[\"']?)[^\s\"',}]+"), r"\1" + REDACTED),
    # Mongolian phone numbers (8 digits, optional +976): keep the last two digits.
    (re.compile(r"(?<![\w.])(?:\+?976[ -]?)?[5-9]\d{5}(\d{2})(?![\w.])"), r"******\1"),
]

# Settings whose values are secrets: masked wherever they appear (values under 8 characters are
# left alone: too likely to occur by chance, and a real secret is never that short).
SECRET_SETTINGS = (
    "SECRET_KEY",
    "QPAY_CLIENT_SECRET",
    "ESIMGO_API_KEY",
    "EMAIL_HOST_PASSWORD",
    "TELEGRAM_BOT_TOKEN",
    "TELEGRAM_WEBHOOK_SECRET",
)

_secrets_cache: tuple[tuple, re.Pattern | None] = ((), None)


def _secret_pattern() -> re.Pattern | None:
    global _secrets_cache
    if not settings.configured:
        return None
    values = tuple(
        sorted(
            {str(v) for v in (getattr(settings, name) for name in SECRET_SETTINGS) if v and len(str(v)) >= 8},
            key=len,
            reverse=True,
        )
    )
    if values != _secrets_cache[0]:
        _secrets_cache = (values, re.compile("|".join(map(re.escape, values))) if values else None)
    return _secrets_cache[1]


def redact(text: str) -> str:
    for pattern, replacement in PATTERNS:
        text = pattern.sub(replacement, text)
    secrets = _secret_pattern()
    return secrets.sub(REDACTED, text) if secrets else text


def _is_console_mail(record: logging.LogRecord) -> bool:
    """A Celery worker turns its stdout into records of "celery.redirected"; with the console
    e-mail backend (development: EMAIL_URL=consolemail://) that stdout IS the inbox, and a
    masked magic link would be useless. Production sends mail over SMTP, so this never applies there."""
    return (
        record.name == "celery.redirected"
        and settings.configured
        and settings.EMAIL_BACKEND.endswith("console.EmailBackend")
    )


def _redact_record(record: logging.LogRecord) -> None:
    if _is_console_mail(record):
        return
    try:
        message = record.getMessage()
    except Exception:  # noqa: BLE001 - a malformed record is the logging module's business
        return
    cleaned = redact(message)
    if cleaned != message:
        record.msg, record.args = cleaned, ()
    if record.exc_info and record.exc_info[0] is not None and not record.exc_text:
        # Formatters reuse exc_text when set, so the traceback is only ever written cleaned.
        record.exc_text = redact(_exception_text(record))
    if record.stack_info:
        record.stack_info = redact(record.stack_info)


def _exception_text(record: logging.LogRecord) -> str:
    if record.name == "django.template":
        # "Exception while resolving variable ..." (DEBUG): VariableDoesNotExist's message embeds
        # the repr of the whole template context, which on the eSIM page holds the activation
        # code. Keep the exception type and the missing key; the frames are Django's own.
        exc = record.exc_info[1]
        return f"{type(exc).__name__}: " + re.sub(r"(?s)(\[[^\]]*\]) in .*", r"\1", str(exc))[:300]
    return "".join(traceback.format_exception(*record.exc_info)).rstrip("\n")


def install() -> None:
    current = logging.getLogRecordFactory()
    if getattr(current, "esimshop_redacting", False):
        return

    def factory(*args, **kwargs):
        record = current(*args, **kwargs)
        _redact_record(record)
        return record

    factory.esimshop_redacting = True
    logging.setLogRecordFactory(factory)


def configure_logging(config: dict) -> None:
    """settings.LOGGING_CONFIG: Django's usual dictConfig, plus the redacting record factory."""
    logging.config.dictConfig(config)
    install()
