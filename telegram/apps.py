from django.apps import AppConfig


class TelegramConfig(AppConfig):
    """The storefront as a Telegram Mini App and the shop's bot. Sits above orders: it listens to
    orders' and payments' signals; nothing below imports it."""

    name = "telegram"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self):
        # In ready(), not at module level: both import models, which are loadable only now.
        # receivers connect the signal receivers; tasks registers the Celery tasks that bot.py
        # queues by name, also in web processes, where Celery's autodiscovery never runs.
        from telegram import receivers, tasks  # noqa: F401
