"""What the sandbox Telegram Bot API was asked to do (every call recorded) and where its webhook points."""

from django.db import models


class SandboxBotCall(models.Model):
    method = models.CharField(max_length=64, db_index=True)
    payload = models.JSONField(default=dict)
    chat_id = models.BigIntegerField(null=True, blank=True, db_index=True)
    text = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["id"]

    def __str__(self):
        return f"{self.method} {self.chat_id or ''}".strip()


class SandboxWebhook(models.Model):
    """The last setWebhook (one row, pk=1)."""

    url = models.URLField(max_length=500)
    secret_token = models.CharField(max_length=256, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self):
        return f"webhook {self.url}"


class SandboxUpdateCounter(models.Model):
    """update_id sequence for the updates the sandbox posts (one row, pk=1)."""

    last_update_id = models.BigIntegerField(default=100000)

    def __str__(self):
        return f"last update {self.last_update_id}"
