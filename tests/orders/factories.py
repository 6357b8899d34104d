"""Local factories for orders tests: customers, paid invoices, orders and eSIMs.

Invoices are created directly in the state payments leaves them in (PAID) — these tests are
about what orders does next, not about QPay.
"""
import uuid
from datetime import timedelta

import factory
from django.utils import timezone

from orders.models import ESim, Order
from payments.models import Customer, Invoice
from tests.catalog.factories import BundleFactory


class CustomerFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Customer

    phone_number = factory.Sequence(lambda n: f"9{n:07d}"[:8])
    email = factory.Sequence(lambda n: f"shopper{n}@example.mn")


class InvoiceFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Invoice

    customer = factory.SubFactory(CustomerFactory)
    bundle = factory.SubFactory(BundleFactory, countries=["JP"])
    amount_mnt = factory.LazyAttribute(lambda o: o.bundle.price_mnt)
    status = Invoice.Status.PAID
    language = "en"
    sender_invoice_no = factory.LazyFunction(lambda: f"ESIM{uuid.uuid4().hex.upper()}")
    qpay_invoice_id = factory.LazyFunction(lambda: str(uuid.uuid4()))
    expires_at = factory.LazyFunction(lambda: timezone.now() + timedelta(minutes=30))
    paid_at = factory.LazyFunction(timezone.now)


class ESimFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = ESim

    iccid = factory.Sequence(lambda n: f"8944{n:015d}")
    matching_id = factory.Sequence(lambda n: f"MATCH-{n:05d}-XYZ")
    smdp_address = "rsp.example-smdp.io"
    customer = factory.SubFactory(CustomerFactory)


class OrderFactory(factory.django.DjangoModelFactory):
    """An order as handle_invoice_paid creates it (PAID, no eSIM)."""

    class Meta:
        model = Order

    invoice = factory.SubFactory(InvoiceFactory)
    bundle = factory.LazyAttribute(lambda o: o.invoice.bundle)
    customer = factory.LazyAttribute(lambda o: o.invoice.customer)
    kind = factory.LazyAttribute(lambda o: Order.Kind.TOPUP if o.invoice.topup_iccid else Order.Kind.NEW)
    topup_iccid = factory.LazyAttribute(lambda o: o.invoice.topup_iccid)
    language = "en"


class DeliveredOrderFactory(OrderFactory):
    status = Order.Status.DELIVERED
    esim = factory.LazyAttribute(lambda o: ESimFactory(customer=o.customer))
    esimgo_order_reference = factory.LazyFunction(lambda: str(uuid.uuid4()))
    delivered_at = factory.LazyFunction(timezone.now)
