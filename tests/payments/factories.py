"""Payments test factories: a customer and an invoice as start_purchase leaves it (PENDING,
payable: QPay invoice id, QR and bank links stored)."""
import uuid
from datetime import timedelta

import factory
from django.utils import timezone

from payments.models import Customer, Invoice
from tests.catalog.factories import BundleFactory


class CustomerFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Customer
        django_get_or_create = ("phone_number", "email")

    phone_number = factory.Sequence(lambda n: f"8{n:07d}"[:8])
    email = factory.Sequence(lambda n: f"buyer{n}@example.mn")


def _invoice_id():
    return uuid.uuid4()


class InvoiceFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Invoice

    id = factory.LazyFunction(_invoice_id)
    customer = factory.SubFactory(CustomerFactory)
    bundle = factory.SubFactory(BundleFactory, countries=["JP"])
    amount_mnt = factory.LazyAttribute(lambda o: o.bundle.price_mnt)
    status = Invoice.Status.PENDING
    sender_invoice_no = factory.LazyAttribute(lambda o: f"ESIM{o.id.hex.upper()}")
    qpay_invoice_id = factory.LazyFunction(lambda: str(uuid.uuid4()))
    qr_text = "0002010102122650mn.qpay"
    qr_image = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="
    short_url = "https://s.qpay.mn/zNr4bs145B"
    bank_urls = factory.LazyFunction(lambda: [
        {"name": "Khan bank", "description": "Хаан банк", "logo": "https://qpay.mn/q/logo/khanbank.png",
         "link": "khanbank://q?qPay_QRcode=0002010102122650mn.qpay"},
    ])
    expires_at = factory.LazyFunction(lambda: timezone.now() + timedelta(minutes=30))
