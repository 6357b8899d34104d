"""A finance staff member, in real Chromium, logs into the admin, finds a shopper's order by phone
number and refunds it through QPay (the sandbox, over HTTP); the shopper's eSIM page then says
so. The purchase itself is made over HTTP like the shopper test's (card payment in the sandbox
bank app: QPay refunds card payments through its API, bank-app ones only by hand)."""

import importlib
import re
import secrets

import pytest
import requests
from django.contrib.auth.models import Group, User

from orders.models import Order
from payments.models import Refund
from sandbox.qpay.models import SandboxPayment
from tests.browser.conftest import PHONE, Watch, wait_for

pytestmark = [pytest.mark.slow]

BUNDLE = "esim_1GB_7D_MN_V2"
SHOPPER_PHONE = "88997766"


def bought_and_paid_by_card(base) -> Order:
    bought = requests.post(
        f"{base}/api/customer/transactions/purchase",
        json={
            "phoneNumber": SHOPPER_PHONE,
            "email": "refund-me@example.mn",
            "amount": _price(base),
            "packageCode": BUNDLE,
        },
        timeout=30,
    )
    assert bought.status_code == 201, bought.text
    purchase = bought.json()
    bank = requests.Session()
    page = bank.get(purchase["qr_link"], timeout=30).text
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page).group(1)
    paid = bank.post(
        purchase["qr_link"],
        data={"csrfmiddlewaretoken": token, "action": "full", "payment_type": "CARD"},
        headers={"Referer": purchase["qr_link"]},
        timeout=60,
    )
    assert paid.status_code == 200
    return wait_for(
        lambda: (
            Order.objects.filter(invoice_id=purchase["internalInvoiceId"], status="DELIVERED")
            .select_related("esim", "invoice")
            .first()
        ),
        what="the order to be delivered",
    )


def finance_group() -> Group:
    """The group comes from a data migration; an earlier transactional test's flush may have
    emptied it, so the migration's (re-runnable) function creates it again if needed."""
    from django.apps import apps

    migration = importlib.import_module("staff.migrations.0002_support_and_finance_groups")
    migration.create_groups(apps, None)
    return Group.objects.get(name="finance")


def _price(base) -> int:
    from catalog.models import Bundle

    return Bundle.objects.get(name=BUNDLE).price_mnt


def test_finance_staff_refunds_the_order_in_admin(shop, browser, screens):
    base = shop.url
    order = bought_and_paid_by_card(base)
    password = secrets.token_urlsafe(16)
    staff = User.objects.create_user("finance-anna", password=password, is_staff=True)
    staff.groups.add(finance_group())

    watch = Watch(base)
    desk = watch.attach(browser.new_context(viewport={"width": 1280, "height": 900}))
    desk.add_cookies([{"name": "django_language", "value": "en", "url": base}])
    page = desk.new_page()

    # 1. Log in.
    page.goto(base + "/admin/")
    page.wait_for_url(re.compile(r"/admin/login/"))
    page.fill("input[name=username]", "finance-anna")
    page.fill("input[name=password]", password)
    screens(page, "01-admin-login")
    page.click("input[type=submit]")
    page.wait_for_url(base + "/admin/")
    screens(page, "02-admin-index", full_page=True)

    # 2. Find the order by the shopper's phone number.
    page.goto(base + "/admin/orders/order/")
    page.fill("#searchbar", SHOPPER_PHONE)
    page.press("#searchbar", "Enter")
    page.wait_for_url(re.compile(r"\?q="))
    rows = page.locator("#result_list tbody tr")
    assert rows.count() == 1
    screens(page, "03-orders-search")
    rows.first.locator("th a, td a").first.click()
    page.wait_for_url(re.compile(rf"/admin/orders/order/{order.pk}/change/"))
    screens(page, "04-order", full_page=True)

    # 3. Refund… → the form (card payment: through QPay, the whole amount) → Refund.
    page.click("#staff-actions a:has-text('Refund')")
    page.wait_for_url(re.compile(rf"/admin/payments/invoice/{order.invoice_id}/refund/"))
    assert page.is_checked("input[name=method][value=QPAY_API]")
    assert page.input_value("input[name=amount_mnt]") == str(order.invoice.amount_mnt)
    screens(page, "05-refund-form", full_page=True)
    page.click("input[type=submit]")
    page.wait_for_url(re.compile(rf"/admin/payments/invoice/{order.invoice_id}/change/"))
    assert page.locator("ul.messagelist li").count() >= 1
    screens(page, "06-refunded", full_page=True)

    # The money went back through the sandbox QPay; the order is refunded.
    refund = Refund.objects.get(invoice_id=order.invoice_id)
    assert (refund.status, refund.method, refund.amount_mnt) == ("SUCCEEDED", "QPAY_API", order.invoice.amount_mnt)
    assert refund.requested_by_username == "finance-anna"
    order.refresh_from_db()
    assert order.status == Order.Status.REFUNDED
    assert SandboxPayment.objects.get(invoice__invoice_id=order.invoice.qpay_invoice_id).status == "REFUNDED"

    # 4. The shopper's eSIM page says so.
    phone = watch.attach(browser.new_context(**PHONE)).new_page()
    phone.goto(base + order.get_absolute_url())
    assert phone.locator(".state-refunded").count() == 1
    assert phone.locator("figure.qr").count() == 0
    screens(phone, "07-shopper-sees-refund")

    watch.assert_clean()
