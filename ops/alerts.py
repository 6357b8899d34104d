"""Deduplicated staff alerts: one notification when a condition starts, a reminder every
ALERT_REPEAT_MINUTES while it lasts, one "resolved" when it clears.

State is a row per condition (ops.models.AlertState), locked while deciding and notifying, so two
watchdogs running at once (a timer overlap, a manual run) send one e-mail, not two. If every
channel fails the transaction rolls back and the next run tries again; if one channel worked the
notification counts as sent (the other's failure is logged).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import timedelta

import requests
from django.conf import settings
from django.core.mail import EmailMessage
from django.db import transaction
from django.utils import timezone

from ops.models import AlertState

logger = logging.getLogger(__name__)

RAISED, REMINDER, RESOLVED = "ALERT", "STILL FAILING", "RESOLVED"


@dataclass
class Condition:
    key: str  # stable name, the AlertState primary key
    active: bool
    summary: str  # one line, also the e-mail subject
    detail: str = ""  # a few lines: what, since when, examples
    admin_path: str = ""  # the admin page that shows it


@dataclass
class Notification:
    kind: str  # RAISED | REMINDER | RESOLVED
    condition: Condition
    state: AlertState

    @property
    def url(self) -> str:
        path = self.condition.admin_path or self.state.admin_path
        return f"{settings.SITE_URL}{path}" if path else ""

    @property
    def subject(self) -> str:
        summary = self.state.summary if self.kind == RESOLVED else self.condition.summary
        return f"[esimshop] {self.kind}: {summary}"[:250]

    def text(self) -> str:
        lines = [self.subject.removeprefix("[esimshop] "), ""]
        if self.kind == RESOLVED:
            lines.append(
                f"Cleared at {timezone.localtime(self.state.resolved_at):%Y-%m-%d %H:%M %Z}; "
                f"it started at {timezone.localtime(self.state.raised_at):%Y-%m-%d %H:%M %Z}."
            )
        else:
            lines.append(self.condition.detail or self.condition.summary)
            lines += ["", f"Since: {timezone.localtime(self.state.raised_at):%Y-%m-%d %H:%M %Z}"]
        if self.url:
            lines += ["", f"Open: {self.url}"]
        lines += [
            "",
            f"Condition: {self.condition.key}. While it lasts this alert repeats every "
            f"{settings.ALERT_REPEAT_MINUTES} minutes; you will get a RESOLVED message when it clears.",
            "-- esimshop watchdog",
        ]
        return "\n".join(lines) + "\n"


def _decide(state: AlertState, condition: Condition, now) -> str | None:
    if condition.active and not state.active:
        return RAISED
    if condition.active and (
        state.notified_at is None or now - state.notified_at >= timedelta(minutes=settings.ALERT_REPEAT_MINUTES)
    ):
        return REMINDER
    if not condition.active and state.active:
        return RESOLVED
    return None


def _send_email(note: Notification) -> bool:
    recipients = [a for a in settings.STAFF_ALERT_EMAILS if a]
    if not recipients:
        return False
    try:
        EmailMessage(note.subject, note.text(), settings.DEFAULT_FROM_EMAIL, recipients).send(fail_silently=False)
    except Exception as exc:  # noqa: BLE001 - SMTP of any kind; the webhook may still get through
        logger.warning("alert %s: e-mail failed: %s", note.condition.key, exc)
        return False
    return True


def _send_webhook(note: Notification) -> bool:
    url = settings.ALERT_WEBHOOK_URL
    if not url:
        return False
    payload = {
        "status": note.kind.lower().replace(" ", "_"),
        "condition": note.condition.key,
        "summary": note.condition.summary if note.kind != RESOLVED else note.state.summary,
        "url": note.url,
        "text": note.text(),
    }
    try:
        response = requests.post(url, json=payload, timeout=settings.ALERT_WEBHOOK_TIMEOUT_SECONDS)
        response.raise_for_status()
    except requests.RequestException as exc:
        logger.warning("alert %s: webhook failed: %s", note.condition.key, type(exc).__name__)
        return False
    return True


def deliver(note: Notification) -> bool:
    sent_email = _send_email(note)
    sent_hook = _send_webhook(note)
    return sent_email or sent_hook


class NotDelivered(Exception):
    pass


def process(condition: Condition, *, now=None, send=deliver) -> Notification | None:
    """Update the condition's state and notify if it changed (or is due a reminder)."""
    now = now or timezone.now()
    AlertState.objects.get_or_create(condition=condition.key)
    try:
        with transaction.atomic():
            state = AlertState.objects.select_for_update().get(condition=condition.key)
            kind = _decide(state, condition, now)
            if kind is None:
                if condition.active and condition.detail != state.detail:
                    AlertState.objects.filter(pk=state.pk).update(
                        detail=condition.detail, summary=condition.summary, updated_at=now
                    )
                return None
            if kind == RAISED:
                state.raised_at, state.resolved_at = now, None
            if kind == RESOLVED:
                state.resolved_at = now
            else:
                state.summary, state.detail = condition.summary[:500], condition.detail
                state.admin_path = condition.admin_path[:255]
            state.active = condition.active
            state.notified_at, state.updated_at = now, now
            state.notifications += 1
            note = Notification(kind, condition, state)
            if not send(note):
                raise NotDelivered(condition.key)
            state.save()
    except NotDelivered:
        logger.error("alert %s (%s) could not be delivered by any channel; will retry", condition.key, kind)
        return None
    logger.warning("alert %s: %s", condition.key, kind, extra={"alert": condition.key, "summary": condition.summary})
    return note


def process_all(conditions, *, now=None, send=deliver) -> list[Notification]:
    notes = []
    for condition in conditions:
        try:
            note = process(condition, now=now, send=send)
        except Exception:  # noqa: BLE001 - one condition's fault must not silence the others
            logger.exception("alert %s: processing failed", condition.key)
            continue
        if note:
            notes.append(note)
    return notes
