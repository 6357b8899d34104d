"""Order writes. First version: the entry point payments calls when an invoice becomes PAID.

The full implementation (Order creation, provisioning, e-mails) lands with orders/models.py;
until then this only logs, so payments can import and call it already.
"""
import logging

logger = logging.getLogger(__name__)


def handle_invoice_paid(invoice, actor):
    """Called by payments inside the transaction that marks `invoice` PAID (row locked)."""
    logger.info("invoice %s paid (actor=%s); orders not wired yet", getattr(invoice, "pk", None), actor)
    return None
