"""Thin Celery wrappers around telegram.bot. Every task may run twice: the services make that harmless."""

import logging
import random

from celery import shared_task
from django.conf import settings

from telegram import bot

logger = logging.getLogger(__name__)

BACKOFF_BASE_SECONDS = 5
BACKOFF_MAX_SECONDS = 600


def backoff(retries: int) -> float:
    delay = min(BACKOFF_MAX_SECONDS, BACKOFF_BASE_SECONDS * (2**retries))
    return delay + random.uniform(0, delay * 0.2)


def retry_countdown(exc: bot.TransientSendError, retries: int) -> float:
    """Telegram's retry_after when it gave one (sending earlier only earns another 429), else backoff."""
    if exc.retry_after is not None:
        return float(exc.retry_after) + 1
    return backoff(retries)


@shared_task(
    name="telegram.tasks.send_bot_message_task",
    bind=True,
    acks_late=True,
    max_retries=None,
    ignore_result=True,
    time_limit=60,
    soft_time_limit=45,
)
def send_bot_message_task(self, message_id):
    try:
        return bot.send_bot_message(message_id)
    except bot.TransientSendError as exc:
        if self.request.retries >= settings.TELEGRAM_SEND_MAX_RETRIES:
            bot.mark_failed(message_id, f"retries exhausted: {exc}")
            return bot.FAILED
        if self.request.is_eager:
            # In-process mode would retry at once (ignoring retry_after); leave it PENDING.
            logger.warning("bot message %s: %s (left pending)", message_id, exc)
            return "retry_later"
        raise self.retry(exc=exc, countdown=retry_countdown(exc, self.request.retries))


@shared_task(
    name="telegram.tasks.process_update_task",
    bind=True,
    acks_late=True,
    max_retries=3,
    ignore_result=True,
    time_limit=60,
    soft_time_limit=45,
)
def process_update_task(self, update_pk):
    return bot.process_update(update_pk)


@shared_task(name="telegram.tasks.sweep_bot_messages_task", ignore_result=True, time_limit=120, soft_time_limit=100)
def sweep_bot_messages_task():
    requeued = bot.sweep_bot_messages()
    if requeued:
        logger.info("telegram sweep: re-enqueued %d bot messages", len(requeued))


# Scheduled in esimshop/beat.py (every 120 s).
