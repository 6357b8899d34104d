"""What orders announces to the apps above it (telegram listens), so orders never imports them.

`shopper_event`: something the shopper should hear about happened to an order, sent inside the
transaction that recorded it. kwargs: order, kind ("esim_ready", "usage_80", "usage_100",
"refunded") and event_key (distinguishes repeats, e.g. a usage alert's assignment id).
Receivers must not break the caller: it is sent with send_robust and failures are logged.
"""

import logging

from django.dispatch import Signal

logger = logging.getLogger(__name__)

shopper_event = Signal()

ESIM_READY, USAGE_80, USAGE_100, REFUNDED = "esim_ready", "usage_80", "usage_100", "refunded"


def announce(order, kind: str, event_key: str = "") -> None:
    for receiver, result in shopper_event.send_robust(
        sender=order.__class__, order=order, kind=kind, event_key=event_key
    ):
        if isinstance(result, Exception):
            logger.error("shopper_event receiver %r failed for order %s (%s): %r", receiver, order.pk, kind, result)
