"""Subscriptions to the apps below: payments' purchase_started (link the invoice to the Telegram
shopper) and orders' shopper_event (the bot tells the shopper).

Each receiver runs in its own savepoint, so a failure here rolls back only its own writes and
never the caller's transaction (orders marks an eSIM delivered in the same transaction).
"""

import logging

from django.db import transaction
from django.dispatch import receiver

from orders import signals as order_signals
from payments.signals import purchase_started
from telegram import bot, identity
from telegram.models import BotMessage

logger = logging.getLogger(__name__)

KINDS = {
    order_signals.ESIM_READY: BotMessage.Kind.ESIM_READY,
    order_signals.USAGE_80: BotMessage.Kind.USAGE_80,
    order_signals.USAGE_100: BotMessage.Kind.USAGE_100,
    order_signals.REFUNDED: BotMessage.Kind.REFUNDED,
}


@receiver(purchase_started, dispatch_uid="telegram.link_invoice")
def link_invoice(sender, request, invoice, **kwargs):
    if not identity.enabled():
        return
    try:
        with transaction.atomic():
            identity.link_invoice(request, invoice)
    except Exception:  # noqa: BLE001 - the shopper's checkout goes on; the purchase shows on the web
        logger.exception("could not link invoice %s to its Telegram shopper", invoice.pk)


@receiver(order_signals.shopper_event, dispatch_uid="telegram.notify_order_event")
def notify_order_event(sender, order, kind, event_key="", **kwargs):
    if kind not in KINDS or not identity.enabled():
        return
    with transaction.atomic():
        bot.notify_order_event(order, KINDS[kind], event_key)
