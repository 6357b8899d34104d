"""Register the bot's webhook (with its secret token) and its menu button with Telegram.

    manage.py telegram_setup            # setWebhook SITE_URL/telegram/webhook/ + the "Shop" menu button
    manage.py telegram_setup --dry-run  # print what would be sent (the secret masked)

Run once per deploy that changes SITE_URL or TELEGRAM_WEBHOOK_SECRET (docs/telegram.md).
"""

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.urls import reverse
from django.utils import translation
from django.utils.translation import gettext as _

from telegram.bot_api import BotApi, BotApiError
from telegram.messages import mini_app_url


class Command(BaseCommand):
    help = "Register the Telegram webhook (secret token included) and the Mini App menu button."

    def add_arguments(self, parser):
        parser.add_argument("--dry-run", action="store_true")

    def handle(self, *args, dry_run=False, **options):
        if not settings.TELEGRAM_BOT_TOKEN:
            raise CommandError("TELEGRAM_BOT_TOKEN is not set: the Telegram bot is off.")
        if not settings.TELEGRAM_WEBHOOK_SECRET:
            raise CommandError(
                "TELEGRAM_WEBHOOK_SECRET is not set: Telegram's updates could not be told from forgeries."
            )
        webhook = f"{settings.SITE_URL}{reverse('telegram:webhook')}"
        with translation.override(settings.LANGUAGE_CODE):
            label = _("Open the shop")
        self.stdout.write(f"setWebhook url={webhook} secret_token=*** ({len(settings.TELEGRAM_WEBHOOK_SECRET)} chars)")
        self.stdout.write(f"setChatMenuButton web_app url={mini_app_url()} text={label!r}")
        if dry_run:
            return
        api = BotApi()
        try:
            api.set_webhook(webhook, settings.TELEGRAM_WEBHOOK_SECRET)
            api.set_chat_menu_button(label, mini_app_url())
        except BotApiError as exc:
            raise CommandError(f"Telegram refused: {exc.description}") from None
        self.stdout.write(self.style.SUCCESS("Telegram webhook and menu button registered."))
