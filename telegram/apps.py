from django.apps import AppConfig


class TelegramConfig(AppConfig):
    """The storefront as a Telegram Mini App and the shop's bot. Sits above orders: it listens to
    orders' and payments' signals; nothing below imports it."""

    name = "telegram"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self):
        from telegram import receivers  # noqa: F401 - connects the signal receivers
