"""The bot: its webhook inbox (stored raw first, update_id unique), update handling, and the
once-only sending of BotMessage rows.

Sending claims the row with a conditional UPDATE (PENDING → SENDING), so however many workers
run the same task, one sends. 429 → back to PENDING and retried after Telegram's retry_after;
403 → the user blocked the bot: marked, never retried.
"""

import json
import logging
from datetime import timedelta

from django.conf import settings
from django.core.cache import cache
from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone

from esimshop.celery import app as celery_app
from telegram import identity, messages
from telegram.bot_api import BotApi, BotApiError
from telegram.models import BotMessage, InitDataUse, TelegramUpdate, TelegramUser

logger = logging.getLogger(__name__)

SENT, ALREADY, BLOCKED, FAILED = "sent", "already", "blocked", "failed"
# The tasks this module queues, declared under these names in telegram/tasks.py. Looked up by
# name because tasks.py imports this module; TelegramConfig.ready() imports tasks.py, so they are
# registered in every process and .delay still runs inline in in-process (eager) mode.
SEND_MESSAGE_TASK = "telegram.tasks.send_bot_message_task"
PROCESS_UPDATE_TASK = "telegram.tasks.process_update_task"


def _task(name: str):
    return celery_app.tasks[name]


class TransientSendError(Exception):
    def __init__(self, description: str, retry_after: int | None = None):
        super().__init__(description)
        self.retry_after = retry_after


# --- inbox -------------------------------------------------------------------------------------


def parse_update(body: bytes) -> tuple[dict | None, str]:
    """(update, "") or (None, why it is not one)."""
    try:
        update = json.loads(body)
    except ValueError:
        return None, "not JSON"
    if not isinstance(update, dict):
        return None, "not an Update object"
    update_id = update.get("update_id")
    if not isinstance(update_id, int) or isinstance(update_id, bool) or not 0 <= update_id < 2**62:
        return None, "no update_id"
    return update, ""


def _kind(update: dict) -> str:
    message = update.get("message") if isinstance(update.get("message"), dict) else {}
    text = message.get("text") if isinstance(message.get("text"), str) else ""
    if text == "/start" or text.startswith("/start "):
        return "start"
    if isinstance(message.get("contact"), dict):
        return "contact"
    return "other"


def receive_update(body: bytes, update: dict) -> tuple[TelegramUpdate, bool]:
    """Store the raw update (first, before any handling). Returns (row, created); a duplicate is (row, False)."""
    try:
        with transaction.atomic():
            row = TelegramUpdate.objects.create(
                update_id=update["update_id"], body=body.decode("utf-8", errors="replace"), kind=_kind(update)
            )
    except IntegrityError:
        return TelegramUpdate.objects.get(update_id=update["update_id"]), False
    transaction.on_commit(lambda: _task(PROCESS_UPDATE_TASK).delay(row.pk), robust=True)
    return row, True


def process_update(update_pk) -> str:
    """Handle a stored update once (the row lock + processed_at make a second run a no-op)."""
    with transaction.atomic():
        row = TelegramUpdate.objects.select_for_update().get(pk=update_pk)
        if row.processed_at:
            return row.result
        update = json.loads(row.body)
        message = update.get("message") if isinstance(update.get("message"), dict) else {}
        sender = message.get("from") if isinstance(message.get("from"), dict) else {}
        chat = message.get("chat") if isinstance(message.get("chat"), dict) else {}
        result = "ignored"
        if row.kind == "start" and isinstance(sender.get("id"), int) and chat.get("type") == "private":
            user = identity._upsert_user(sender)
            TelegramUser.objects.filter(pk=user.pk).update(blocked_at=None)  # /start again = unblocked
            queue_message(user, BotMessage.Kind.WELCOME, event_key=f"update:{row.update_id}")
            result = "welcomed"
        elif row.kind == "contact":
            result = (
                "contact saved" if identity.save_verified_contact(message) else "contact refused (not the sender's own)"
            )
        row.processed_at, row.result = timezone.now(), result
        row.save(update_fields=["processed_at", "result"])
    return result


# --- outgoing messages -------------------------------------------------------------------------


def queue_message(user: TelegramUser, kind: str, *, event_key: str = "", order=None) -> tuple[BotMessage, bool]:
    """Claim the (user, kind, event) message and send it after commit. A second claim returns the first row."""
    with transaction.atomic():
        message, created = BotMessage.objects.get_or_create(
            telegram_user=user, kind=kind, event_key=event_key[:128], defaults={"order": order}
        )
    if created:
        transaction.on_commit(lambda: _task(SEND_MESSAGE_TASK).delay(message.pk), robust=True)
    return message, created


def notify_order_event(order, kind: str, event_key: str = "") -> BotMessage | None:
    """Orders announced an event for the shopper: tell them in Telegram if they bought there."""
    user = identity.user_for_order(order)
    if user is None:
        return None
    message, _created = queue_message(user, kind, event_key=f"order:{order.pk}:{event_key}", order=order)
    return message


def send_bot_message(message_id) -> str:
    """Send one claimed message. Raises TransientSendError (row back to PENDING) when worth retrying."""
    claimed = BotMessage.objects.filter(pk=message_id, status=BotMessage.Status.PENDING).update(
        status=BotMessage.Status.SENDING, claimed_at=timezone.now(), attempts=F("attempts") + 1
    )
    if not claimed:
        return ALREADY
    message = BotMessage.objects.select_related("telegram_user", "order__bundle", "order__invoice").get(pk=message_id)
    user = message.telegram_user
    if user.blocked_at:
        _finish(message_id, BotMessage.Status.BLOCKED, error="the user has blocked the bot")
        return BLOCKED
    text, markup = messages.render(message)
    try:
        result = BotApi().send_message(user.telegram_id, text, reply_markup=markup)
    except BotApiError as exc:
        if exc.blocked:
            TelegramUser.objects.filter(pk=user.pk, blocked_at__isnull=True).update(blocked_at=timezone.now())
            _finish(message_id, BotMessage.Status.BLOCKED, error=exc.description)
            logger.info("Telegram user %s blocked the bot; message %s not sent", user.pk, message_id)
            return BLOCKED
        if exc.transient:
            BotMessage.objects.filter(pk=message_id, status=BotMessage.Status.SENDING).update(
                status=BotMessage.Status.PENDING, last_error=exc.description[:500]
            )
            raise TransientSendError(exc.description, retry_after=exc.retry_after) from None
        _finish(message_id, BotMessage.Status.FAILED, error=exc.description)
        logger.warning("bot message %s refused by Telegram: %s", message_id, exc.description)
        return FAILED
    message_ref = result.get("message_id") if isinstance(result, dict) else None
    BotMessage.objects.filter(pk=message_id).update(
        status=BotMessage.Status.SENT,
        sent_at=timezone.now(),
        telegram_message_id=message_ref if isinstance(message_ref, int) else None,
    )
    return SENT


def _finish(message_id, status: str, *, error: str = "") -> None:
    BotMessage.objects.filter(pk=message_id).update(status=status, last_error=error[:500])


def mark_failed(message_id, error: str) -> None:
    BotMessage.objects.filter(pk=message_id, status=BotMessage.Status.PENDING).update(
        status=BotMessage.Status.FAILED, last_error=error[:500]
    )


# --- sweep ---------------------------------------------------------------------------------------

STUCK_SENDING_AFTER = timedelta(minutes=10)
PENDING_RESEND_AFTER = timedelta(minutes=2)
GIVE_UP_AFTER = timedelta(days=1)


def sweep_bot_messages(now=None) -> list[int]:
    """Close the gaps on_commit and in-process mode leave: a SENDING row whose worker died goes
    back to PENDING (at worst one duplicate message, as with e-mails); PENDING rows older than a
    few minutes are enqueued again, at most once per window; day-old ones are given up."""
    now = now or timezone.now()
    BotMessage.objects.filter(status=BotMessage.Status.SENDING, claimed_at__lt=now - STUCK_SENDING_AFTER).update(
        status=BotMessage.Status.PENDING
    )
    BotMessage.objects.filter(status=BotMessage.Status.PENDING, created_at__lt=now - GIVE_UP_AFTER).update(
        status=BotMessage.Status.FAILED, last_error="not sent within a day"
    )
    # initData older than the age limit is refused anyway: its replay guard row can go.
    InitDataUse.objects.filter(
        auth_date__lt=now - timedelta(seconds=settings.TELEGRAM_INIT_DATA_MAX_AGE_SECONDS + 3600)
    ).delete()
    requeued = []
    for message_id in BotMessage.objects.filter(
        status=BotMessage.Status.PENDING, created_at__lt=now - PENDING_RESEND_AFTER
    ).values_list("id", flat=True):
        if cache.add(f"telegram:sweep:{message_id}", 1, int(PENDING_RESEND_AFTER.total_seconds())):
            _task(SEND_MESSAGE_TASK).delay(message_id)
            requeued.append(message_id)
    return requeued
