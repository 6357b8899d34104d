"""Rows the watchdog and /readyz read. Both live in PostgreSQL, not Redis, so a broker outage
cannot also hide the evidence that the workers stopped."""

from django.db import models
from django.utils import timezone


class Heartbeat(models.Model):
    """One row per Celery queue. Beat sends `ops.tasks.heartbeat` every HEARTBEAT_SECONDS with
    the time it sent it; the worker that runs it writes both times. A fresh `sent_at` proves beat
    is alive; a fresh `ran_at` proves a worker consumes that queue."""

    queue = models.CharField(max_length=64, primary_key=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    ran_at = models.DateTimeField(null=True, blank=True)
    worker = models.CharField(max_length=255, blank=True, help_text="Celery hostname of the worker that ran it.")

    def __str__(self):
        return f"{self.queue}: sent {self.sent_at}, ran {self.ran_at}"


class AlertState(models.Model):
    """One row per alert condition (e.g. "orders_needing_attention"). The watchdog locks the row
    before notifying, so two watchdogs running at once send one e-mail, and a condition that stays
    true is notified again only after ALERT_REPEAT_MINUTES."""

    condition = models.CharField(max_length=64, primary_key=True)
    active = models.BooleanField(default=False)
    summary = models.CharField(max_length=500, blank=True)
    detail = models.TextField(blank=True)
    admin_path = models.CharField(max_length=255, blank=True)
    raised_at = models.DateTimeField(null=True, blank=True)
    notified_at = models.DateTimeField(null=True, blank=True)
    resolved_at = models.DateTimeField(null=True, blank=True)
    notifications = models.PositiveIntegerField(default=0)
    updated_at = models.DateTimeField(default=timezone.now)

    def __str__(self):
        return f"{self.condition}: {'ACTIVE' if self.active else 'clear'}"
