"""The one set of model factories for the shop's tests (catalog's live in tests/catalog/factories.py,
re-exported here). tests/orders/factories.py and tests/payments/factories.py re-export these under
their old names so the existing imports keep working; new tests import from here.

- CustomerFactory: a guest shopper, found or created by (phone number, e-mail) like the shop does.
- InvoiceFactory: an invoice as start_purchase leaves it: PENDING and payable (QPay invoice id,
  QR and bank links stored; QPay cannot give them again).
- PaidInvoiceFactory: the same invoice after verification (PAID), the state orders starts from.
- OrderFactory / DeliveredOrderFactory / ESimFactory: what handle_invoice_paid and provisioning
  create (PAID order without eSIM; DELIVERED with one).
"""

import uuid
from datetime import timedelta

import factory
from django.utils import timezone

from orders.models import ESim, Order
from payments.models import Customer, Invoice
from tests.catalog.factories import BundleFactory

__all__ = [
    "BundleFactory",
    "CustomerFactory",
    "DeliveredOrderFactory",
    "ESimFactory",
    "InvoiceFactory",
    "OrderFactory",
    "PaidInvoiceFactory",
]

QR_TEXT = "0002010102122650mn.qpay"


class CustomerFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Customer
        django_get_or_create = ("phone_number", "email")

    phone_number = factory.Sequence(lambda n: f"9{n:07d}"[:8])
    email = factory.Sequence(lambda n: f"shopper{n}@example.mn")


class InvoiceFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Invoice

    id = factory.LazyFunction(uuid.uuid4)
    customer = factory.SubFactory(CustomerFactory)
    bundle = factory.SubFactory(BundleFactory, countries=["JP"])
    amount_mnt = factory.LazyAttribute(lambda o: o.bundle.price_mnt)
    status = Invoice.Status.PENDING
    sender_invoice_no = factory.LazyAttribute(lambda o: f"ESIM{o.id.hex.upper()}")
    qpay_invoice_id = factory.LazyFunction(lambda: str(uuid.uuid4()))
    qr_text = QR_TEXT
    qr_image = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="
    short_url = "https://s.qpay.mn/zNr4bs145B"
    bank_urls = factory.LazyFunction(
        lambda: [
            {
                "name": "Khan bank",
                "description": "Хаан банк",
                "logo": "https://qpay.mn/q/logo/khanbank.png",
                "link": f"khanbank://q?qPay_QRcode={QR_TEXT}",
            },
        ]
    )
    expires_at = factory.LazyFunction(lambda: timezone.now() + timedelta(minutes=30))


class PaidInvoiceFactory(InvoiceFactory):
    status = Invoice.Status.PAID
    language = "en"
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

    invoice = factory.SubFactory(PaidInvoiceFactory)
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
