"""The Telegram Mini App and bot (telegram/, docs/telegram.md)."""

from django.core.exceptions import ImproperlyConfigured

from esimshop.settings_parts.base import DEBUG, SANDBOX, SITE_URL, env

# Off when TELEGRAM_BOT_TOKEN is unset; the sandbox runs it against its own Bot API with a
# sandbox token, so the whole flow works offline. In production a token needs a webhook secret.
SANDBOX_TELEGRAM_BOT_TOKEN = "123456789:SANDBOX-bot-token-not-a-real-one"  # noqa: S105 - refused with DEBUG=False
SANDBOX_TELEGRAM_WEBHOOK_SECRET = "sandbox-webhook-secret"  # noqa: S105 - the sandbox's, refused with DEBUG=False
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
# load it from telegram.org, so that one exact URL is allowed in script-src (settings.py); the sandbox
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
