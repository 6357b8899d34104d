"""Telegram shoppers, the initData each Mini App session used, the bot's raw update inbox, which
purchases were made inside Telegram, and every bot message (claimed in the DB before sending).

Once-only facts are constraints: one row per Telegram user id, per initData hash, per update_id,
per invoice, per (user, message kind, event).
"""

from django.db import models
from django.utils.translation import gettext_lazy as _


class TelegramUser(models.Model):
    """A Telegram account, known only from initData we validated or updates Telegram sent us."""

    telegram_id = models.BigIntegerField(unique=True)
    first_name = models.CharField(max_length=255, blank=True)
    last_name = models.CharField(max_length=255, blank=True)
    username = models.CharField(max_length=64, blank=True)
    language_code = models.CharField(max_length=16, blank=True)
    # From a contact the user shared with the bot (requestContact): contact.user_id == from.id.
    phone_number = models.CharField(max_length=32, blank=True)
    phone_verified_at = models.DateTimeField(null=True, blank=True)
    # The bot answered 403 "blocked by the user": no more messages until they /start again.
    blocked_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = _("Telegram user")

    def __str__(self):
        name = f"@{self.username}" if self.username else self.first_name
        return f"{name} ({self.telegram_id})"

    @property
    def language(self) -> str:
        """The bot's language for this shopper: English if Telegram says so, else Mongolian."""
        return "en" if (self.language_code or "").lower().startswith("en") else "mn"


class InitDataUse(models.Model):
    """One validated initData (by its hash): a second session presenting it is a replay."""

    hash = models.CharField(max_length=64, unique=True)
    telegram_user = models.ForeignKey(TelegramUser, on_delete=models.CASCADE, related_name="init_data_uses")
    auth_date = models.DateTimeField()
    used_at = models.DateTimeField(auto_now_add=True)

    def __str__(self):
        return f"initData {self.hash[:12]}… of {self.telegram_user_id}"


class TelegramUpdate(models.Model):
    """Raw inbox of the bot's webhook, written before any handling; update_id makes duplicates collide."""

    update_id = models.BigIntegerField(unique=True)
    body = models.TextField()
    kind = models.CharField(max_length=32, blank=True, help_text='"start", "contact", "other".')
    received_at = models.DateTimeField(auto_now_add=True, db_index=True)
    processed_at = models.DateTimeField(null=True, blank=True)
    result = models.CharField(max_length=255, blank=True)

    class Meta:
        ordering = ["-received_at"]

    def __str__(self):
        return f"update {self.update_id} {self.kind}"


class TelegramPurchase(models.Model):
    """An invoice started inside the Mini App by this Telegram user (owned here, not by payments)."""

    invoice = models.OneToOneField("payments.Invoice", on_delete=models.CASCADE, related_name="telegram_purchase")
    telegram_user = models.ForeignKey(TelegramUser, on_delete=models.PROTECT, related_name="purchases")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = _("Telegram purchase")

    def __str__(self):
        return f"invoice {self.invoice_id} via Telegram {self.telegram_user_id}"


class BotMessage(models.Model):
    """One bot message per (user, kind, event), claimed PENDING → SENDING by one worker."""

    class Kind(models.TextChoices):
        WELCOME = "welcome", "/start answer"
        ESIM_READY = "esim_ready", "eSIM ready"
        USAGE_80 = "usage_80", "80 % used"
        USAGE_100 = "usage_100", "100 % used"
        REFUNDED = "refunded", "refund notice"

    class Status(models.TextChoices):
        PENDING = "PENDING", "pending"
        SENDING = "SENDING", "being sent (claimed by a worker)"
        SENT = "SENT", "sent"
        FAILED = "FAILED", "failed (retries exhausted or refused)"
        BLOCKED = "BLOCKED", "not sent: the user blocked the bot"

    telegram_user = models.ForeignKey(TelegramUser, on_delete=models.CASCADE, related_name="messages")
    order = models.ForeignKey(
        "orders.Order", null=True, blank=True, on_delete=models.CASCADE, related_name="telegram_messages"
    )
    kind = models.CharField(max_length=16, choices=Kind.choices)
    event_key = models.CharField(max_length=128, blank=True, default="")
    status = models.CharField(max_length=8, choices=Status.choices, default=Status.PENDING, db_index=True)
    attempts = models.PositiveIntegerField(default=0)
    last_error = models.CharField(max_length=500, blank=True)
    telegram_message_id = models.BigIntegerField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    claimed_at = models.DateTimeField(null=True, blank=True)
    sent_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["created_at", "id"]
        constraints = [
            models.UniqueConstraint(fields=["telegram_user", "kind", "event_key"], name="uniq_bot_message_per_event"),
        ]

    def __str__(self):
        return f"{self.kind} to {self.telegram_user_id} {self.status}"
