"""What orders does when payments announces something (payments.signals)."""

from django.dispatch import receiver

from orders import services
from payments.signals import invoice_paid


@receiver(invoice_paid, dispatch_uid="orders.handle_invoice_paid")
def create_order_for_paid_invoice(sender, *, invoice, actor, **kwargs):
    # Looked up on the module at call time so one place (orders.services) owns the behaviour.
    services.handle_invoice_paid(invoice, actor=actor)
