from django.conf import settings
from django.templatetags.static import static


def telegram(request):
    """Constant per deployment (storefront pages are cached for everyone): whether the Mini App
    script is on the pages and where Telegram's client script comes from."""
    if not settings.TELEGRAM_BOT_TOKEN:
        return {"TELEGRAM_ENABLED": False}
    return {
        "TELEGRAM_ENABLED": True,
        # The sandbox serves a stand-in for Telegram's client (no request leaves the machine).
        "TELEGRAM_WEB_APP_JS": (
            static("sandbox_telegram/telegram-web-app.js")
            if settings.TELEGRAM_SANDBOX
            else settings.TELEGRAM_WEB_APP_JS_URL
        ),
    }
