"""Money states on a phone, in real Chromium, with the sandbox bank app (issue 13):

* short payment: the page says what arrived and what is missing, offers only the remainder
  (a new QPay invoice for the rest); paying it completes the purchase and clears the staff flag;
* late payment (after expiry): acknowledged, says what happens next; "start again" keeps the
  phone number and e-mail;
* double payment: the status API reports the real amount and the eSIM page says the extra is
  refunded.
"""

import re
from datetime import timedelta

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from payments.models import Invoice
from tests.browser.conftest import PHONE, Watch

# The payment page URL carries the invoice's access token (secrets.token_urlsafe(32)), not its id.
PAY_TOKEN = r"[A-Za-z0-9_-]{40,}"

pytestmark = [pytest.mark.slow]

BUNDLE = "esim_1GB_7D_MN_V2"
EMAIL = "traveller@example.mn"
PHONE_NUMBER = "99112233"


def digits(text: str) -> str:
    return re.sub(r"\D", "", text)


def start_payment(page, base) -> Invoice:
    """Checkout → the payment page; returns the invoice."""
    page.goto(f"{base}/checkout/{BUNDLE}/")
    page.fill("input[name=phone_number]", PHONE_NUMBER)
    page.fill("input[name=email]", EMAIL)
    confirm = page.locator("input[name=device_confirmed]")
    if confirm.count():
        confirm.check()
    page.click("form[method=post] button[type=submit]")
    page.wait_for_url(re.compile(rf"{re.escape(base)}/pay/{PAY_TOKEN}/$"))
    return Invoice.objects.get(access_token=page.url.rstrip("/").rsplit("/", 1)[-1])


def pay_in_bank_app(context, base, page, action):
    bank = context.new_page()
    bank.goto(base + page.get_attribute(".sandbox-pay a", "href"))
    bank.click(f"button[name=action][value={action}]")
    bank.wait_for_load_state("load")
    bank.close()


def test_short_payment_offers_only_the_remainder(shop, browser, screens):
    base = shop.url
    watch = Watch(base)
    context = watch.attach(browser.new_context(**PHONE))
    page = context.new_page()
    invoice = start_payment(page, base)
    price = invoice.amount_mnt
    half = price // 2

    pay_in_bank_app(context, base, page, "short")
    # The page notices by itself (pay.js polls and reloads into the short-payment state).
    expect(page.locator("#money-short")).to_be_visible(timeout=15000)
    text = page.inner_text("#money-short")
    assert f"{half:,}" in text and f"{price - half:,}" in text, text
    assert page.is_hidden("#pay-options") if page.locator("#pay-options").count() else True  # no full-price QR
    invoice.refresh_from_db()
    assert invoice.needs_staff_attention
    screens(page, "01-short-payment", full_page=True)

    page.click("#pay-remainder")
    page.wait_for_load_state("load")
    expect(page.locator("#pay-options")).to_be_visible()
    assert f"{price - half:,}" in page.inner_text("#money-short")
    screens(page, "02-remainder-invoice", full_page=True)
    remainder = invoice.remainders.get()
    assert remainder.amount_mnt == price - half
    assert remainder.qpay_invoice_id in page.get_attribute(".sandbox-pay a", "href")  # only the rest is offered

    pay_in_bank_app(context, base, page, "full")
    page.wait_for_url(re.compile(rf"{re.escape(base)}/esims/{PAY_TOKEN}/$"), timeout=20000)
    invoice.refresh_from_db()
    assert invoice.status == Invoice.Status.PAID and int(invoice.paid_amount) == price
    assert not invoice.needs_staff_attention  # the flag clears once the total is complete
    assert digits(page.inner_text("#receipt-paid")) == str(price)
    screens(page, "03-paid-after-remainder", full_page=True)
    watch.assert_clean()


def test_late_payment_is_acknowledged_and_start_again_keeps_the_details(shop, browser, screens):
    base = shop.url
    watch = Watch(base)
    context = watch.attach(browser.new_context(**PHONE))
    page = context.new_page()
    invoice = start_payment(page, base)
    bank_href = page.get_attribute(".sandbox-pay a", "href")

    # The request runs out (the payment page expires it lazily and cancels it at QPay).
    Invoice.objects.filter(pk=invoice.pk).update(expires_at=timezone.now() - timedelta(minutes=1))
    page.reload()
    expect(page.locator("#pay")).to_have_attribute("data-status", "EXPIRED")
    screens(page, "01-expired")

    # The shopper pays anyway from the bank app, after the cancel.
    bank = context.new_page()
    bank.goto(base + bank_href)
    bank.click("button[name=action][value=after_cancel]")
    bank.wait_for_load_state("load")
    bank.close()
    page.reload()
    late = page.locator("#money-late")
    expect(late).to_be_visible()
    assert f"{invoice.amount_mnt:,}" in late.inner_text()
    assert "Keep this page open" not in page.inner_text("main")
    assert page.locator("#pay-restart").count() == 0  # paid: not invited to pay again
    screens(page, "02-late-payment", full_page=True)

    # A request that expired unpaid: "start again" keeps the phone number and e-mail.
    other = start_payment(page, base)
    Invoice.objects.filter(pk=other.pk).update(expires_at=timezone.now() - timedelta(minutes=1))
    page.reload()
    page.click("#pay-restart")
    page.wait_for_url(f"{base}/checkout/{BUNDLE}/")
    assert page.input_value("input[name=phone_number]") == PHONE_NUMBER
    assert page.input_value("input[name=email]") == EMAIL
    screens(page, "03-start-again")
    watch.assert_clean()


def test_double_payment_reports_the_real_amount(shop, browser, screens):
    base = shop.url
    watch = Watch(base)
    context = watch.attach(browser.new_context(**PHONE))
    page = context.new_page()
    invoice = start_payment(page, base)
    bank_href = page.get_attribute(".sandbox-pay a", "href")
    pay_in_bank_app(context, base, page, "full")
    page.wait_for_url(re.compile(rf"{re.escape(base)}/esims/{PAY_TOKEN}/$"), timeout=20000)

    bank = context.new_page()
    bank.goto(base + bank_href)
    bank.click("button[name=action][value=full]")  # "pay again": the second payment
    bank.wait_for_load_state("load")
    bank.close()

    status = page.request.get(
        f"{base}/api/customer/transactions/{invoice.pk}/status?token={invoice.access_token}"
    ).json()
    assert status["paidAmount"] == 2 * invoice.amount_mnt and status["extraAmount"] == invoice.amount_mnt
    page.reload()
    over = page.locator("#money-over")
    expect(over).to_be_visible()
    assert f"{invoice.amount_mnt:,}" in over.inner_text() and f"{2 * invoice.amount_mnt:,}" in over.inner_text()
    screens(page, "01-double-payment", full_page=True)
    watch.assert_clean()
