"""What payments announces to the apps above it (telegram listens), so payments never imports them.

`purchase_started`: a shopper's checkout (or top-up) produced `invoice` in `request`; sent
after the invoice exists, outside any transaction. kwargs: request, invoice.
"""

from django.core.exceptions import ImproperlyConfigured
from django.dispatch import Signal

purchase_started = Signal()

# `invoice_paid`: QPay's check verified the full amount and the invoice is PAID (or staff accepted
# a late payment). Sent inside the transaction that holds the invoice's row lock, so a receiver
# that raises rolls the payment back and a concurrent verification waits for it. orders
# subscribes (it creates the order and schedules provisioning). kwargs: invoice, actor.
invoice_paid = Signal()


def announce_invoice_paid(invoice, *, actor: str) -> None:
    """The one hand-off from payments to whatever delivers. A paid invoice that nobody takes would
    be money with no eSIM, so a missing receiver is a configuration error, never a silent no-op."""
    if not invoice_paid.has_listeners():
        raise ImproperlyConfigured("No app receives payments.signals.invoice_paid (is 'orders' installed?)")
    invoice_paid.send(sender=type(invoice), invoice=invoice, actor=actor)
