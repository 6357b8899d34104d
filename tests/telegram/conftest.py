import pytest

BOT_TOKEN = "7000000001:AAtest-bot-token-for-the-test-suite"
WEBHOOK_SECRET = "test-webhook-secret-0123456789abcdef"
BOT_API = "https://api.telegram.org"


@pytest.fixture(autouse=True)
def _telegram_settings(settings):
    settings.SITE_URL = "https://shop.example.mn"
    settings.TELEGRAM_BOT_TOKEN = BOT_TOKEN
    settings.TELEGRAM_WEBHOOK_SECRET = WEBHOOK_SECRET
    settings.TELEGRAM_BOT_API_BASE_URL = BOT_API
    settings.TELEGRAM_INIT_DATA_MAX_AGE_SECONDS = 3600
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    settings.STAFF_ALERT_EMAILS = ["staff@example.mn"]


@pytest.fixture
def send_url():
    return f"{BOT_API}/bot{BOT_TOKEN}/sendMessage"
