"""Purchases made inside the Mini App belong to the Telegram account; My eSIMs there lists them
on any device; a web purchase with the same phone + e-mail is never merged into it."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.test import Client
from django.utils import timezone

from payments import purchase
from telegram import init_data
from telegram.models import TelegramPurchase, TelegramUser
from tests.catalog.factories import BundleFactory
from tests.orders.factories import CustomerFactory, DeliveredOrderFactory, InvoiceFactory
from tests.telegram.conftest import BOT_TOKEN

USER = {"id": 5550004, "first_name": "Nomin", "language_code": "en"}


def telegram_client(user=USER):
    client = Client()
    client.cookies["django_language"] = "en"
    raw = init_data.signed_for_user(user, BOT_TOKEN, query_id=f"q{user['id']}{timezone.now().timestamp()}")
    assert client.post("/telegram/session/", {"init_data": raw}).status_code == 200
    return client


@pytest.fixture
def bundle(db):
    return BundleFactory(name="esim_1GB_7D_JP_V2", countries=["JP"], price=Decimal("4.5"), computed_price_mnt=19500)


def checkout(client, bundle, invoice, monkeypatch):
    monkeypatch.setattr(purchase, "start_purchase", lambda **kwargs: invoice)
    return client.post(
        f"/checkout/{bundle.name}/",
        {"phone_number": "99112233", "email": "nomin@example.mn", "device_confirmed": "on", "amount": bundle.price_mnt},
    )


@pytest.mark.django_db
def test_a_checkout_inside_telegram_links_the_new_invoice_to_the_telegram_user(bundle, monkeypatch):
    client = telegram_client()
    invoice = InvoiceFactory(bundle=bundle, status="PENDING")  # created now, after the session was bound
    response = checkout(client, bundle, invoice, monkeypatch)
    assert response.status_code == 302 and response["Location"] == f"/pay/{invoice.access_token}/"
    link = TelegramPurchase.objects.get()
    assert (link.invoice_id, link.telegram_user.telegram_id) == (invoice.pk, USER["id"])


@pytest.mark.django_db
def test_an_open_web_invoice_handed_back_for_the_same_phone_and_email_is_not_taken_over(bundle, monkeypatch):
    web_invoice = InvoiceFactory(bundle=bundle, status="PENDING")
    type(web_invoice).objects.filter(pk=web_invoice.pk).update(created_at=timezone.now() - timedelta(minutes=5))
    web_invoice.refresh_from_db()
    client = telegram_client()
    assert checkout(client, bundle, web_invoice, monkeypatch).status_code == 302
    assert TelegramPurchase.objects.count() == 0


@pytest.mark.django_db
def test_a_web_checkout_links_nothing(bundle, monkeypatch, client):
    invoice = InvoiceFactory(bundle=bundle, status="PENDING")
    assert checkout(client, bundle, invoice, monkeypatch).status_code == 302
    assert TelegramPurchase.objects.count() == 0


@pytest.mark.django_db
def test_my_esims_inside_telegram_lists_that_accounts_purchases_on_any_device(bundle):
    customer = CustomerFactory(phone_number="99112233", email="nomin@example.mn")
    telegram_order = DeliveredOrderFactory(invoice=InvoiceFactory(customer=customer, bundle=bundle))
    web_order = DeliveredOrderFactory(invoice=InvoiceFactory(customer=customer, bundle=bundle))  # same phone+e-mail
    someone_else = DeliveredOrderFactory()
    client = telegram_client()  # bound first, so the user row exists
    user = TelegramUser.objects.get(telegram_id=USER["id"])
    TelegramPurchase.objects.create(invoice=telegram_order.invoice, telegram_user=user)
    TelegramPurchase.objects.create(
        invoice=someone_else.invoice, telegram_user=TelegramUser.objects.create(telegram_id=1, first_name="x")
    )
    html = client.get("/telegram/my-esims/").content.decode()
    assert telegram_order.esim.iccid in html
    assert web_order.esim.iccid not in html  # not merged by phone + e-mail
    assert someone_else.esim.iccid not in html
    # Another phone of the same Telegram user (a new Mini App session) sees the same list.
    other_device = telegram_client()
    assert telegram_order.esim.iccid in other_device.get("/telegram/my-esims/").content.decode()


@pytest.mark.django_db
def test_my_esims_outside_telegram_is_403_and_lists_nothing(client):
    order = DeliveredOrderFactory()
    response = client.get("/telegram/my-esims/")
    assert response.status_code == 403
    assert order.esim.iccid not in response.content.decode()


@pytest.mark.django_db
def test_contact_json_gives_the_verified_phone_for_checkout(client):
    refused = client.get("/telegram/contact.json")
    assert refused.status_code == 403 and refused.json()["code"] == "telegram_not_signed_in"
    telegram = telegram_client()
    assert telegram.get("/telegram/contact.json").json() == {"phone": ""}
    TelegramUser.objects.filter(telegram_id=USER["id"]).update(
        phone_number="97699112233", phone_verified_at=timezone.now()
    )
    assert telegram.get("/telegram/contact.json").json() == {"phone": "99112233"}


@pytest.mark.django_db
def test_admin_order_list_shows_which_orders_came_through_telegram(admin_client, bundle):
    telegram_order = DeliveredOrderFactory(invoice=InvoiceFactory(bundle=bundle))
    web_order = DeliveredOrderFactory(invoice=InvoiceFactory(bundle=bundle))
    user = TelegramUser.objects.create(telegram_id=77, first_name="T")
    TelegramPurchase.objects.create(invoice=telegram_order.invoice, telegram_user=user)
    only_telegram = admin_client.get("/admin/orders/order/?channel=telegram").content.decode()
    assert str(telegram_order.public_id) in only_telegram and str(web_order.public_id) not in only_telegram
    only_web = admin_client.get("/admin/orders/order/?channel=web").content.decode()
    assert str(web_order.public_id) in only_web and str(telegram_order.public_id) not in only_web
