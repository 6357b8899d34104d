"""A shopper on a phone, in real Chromium: find Mongolia, open a plan, check out, pay in the
sandbox bank app, watch the payment page turn to paid and land on the eSIM page by itself,
scan-check the QR (decoded here, equal to the order's LPA string), then open My eSIMs on
another device through the magic link from the e-mail and see the eSIM with its data left."""

import io
import re
import threading

import pytest
import zxingcpp
from django.core import mail
from PIL import Image
from playwright.sync_api import expect

from orders.models import Order
from payments.models import Invoice
from tests.browser.conftest import PHONE, Watch, wait_for

pytestmark = [pytest.mark.slow]

BUNDLE = "esim_1GB_7D_MN_V2"
EMAIL = "traveller@example.mn"
TOKEN = r"[A-Za-z0-9_\-]{43}"  # the pay and eSIM pages' capability (secrets.token_urlsafe(32))


def decode_qr(png: bytes) -> list[str]:
    return [result.text for result in zxingcpp.read_barcodes(Image.open(io.BytesIO(png)).convert("L"))]


@pytest.fixture
def esimgo_answers(monkeypatch):
    """eSIM Go's answer to the purchase waits until the test has seen the payment page show
    "paid, preparing your eSIM" (in life it takes seconds; here eager tasks would otherwise finish
    before the page's next 3-second poll). Call .set() to let it answer; it answers by itself after 30 s."""
    from integrations.esimgo.client import ESIMGoClient

    release, real = threading.Event(), ESIMGoClient.create_order

    def create_order(self, bundle_name, *, validate=False, **kwargs):
        if not validate:
            release.wait(timeout=30)
        return real(self, bundle_name, validate=validate, **kwargs)

    monkeypatch.setattr(ESIMGoClient, "create_order", create_order)
    yield release
    release.set()


def test_shopper_buys_pays_and_scans_on_a_phone(shop, browser, screens, esimgo_answers):
    base = shop.url
    watch = Watch(base)
    phone = watch.attach(browser.new_context(**PHONE))
    page = phone.new_page()

    # 1. Home → search "Mongolia" → the country page (an exact match goes straight there).
    page.goto(base + "/")
    screens(page, "01-home")
    page.fill("input[name=q]", "Mongolia")
    page.press("input[name=q]", "Enter")
    page.wait_for_url(f"{base}/countries/MN/")
    screens(page, "02-country-mongolia", full_page=True)

    # 2. A plan → Buy.
    page.click(f"main a[href='/bundles/{BUNDLE}/']")
    page.wait_for_url(f"{base}/bundles/{BUNDLE}/")
    screens(page, "03-bundle")
    page.click(f"main a[href*='/checkout/{BUNDLE}/']")
    page.wait_for_url(f"{base}/checkout/{BUNDLE}/")

    # 3. Checkout → the payment page with QPay's QR (a data: URI image) and the bank links.
    page.fill("input[name=phone_number]", "99112233")
    page.fill("input[name=email]", EMAIL)
    page.check("input[name=device_confirmed]")
    screens(page, "04-checkout")
    page.click("form[method=post] button[type=submit]")
    page.wait_for_url(re.compile(rf"{re.escape(base)}/pay/{TOKEN}/$"))
    invoice_id = Invoice.objects.get(access_token=page.url.rstrip("/").rsplit("/", 1)[-1]).pk
    page.wait_for_load_state("load")
    assert page.eval_on_selector("img.qr", "img => img.complete && img.naturalWidth > 0 && img.src.startsWith('data:')")
    logos = page.eval_on_selector_all(".banks img", "imgs => imgs.map(i => [i.src, i.complete && i.naturalWidth > 0])")
    assert logos and all(src.startswith(base + "/static/") and loaded for src, loaded in logos), logos
    assert page.get_attribute("#pay", "data-status") == "PENDING"
    screens(page, "05-payment", full_page=True)
    page.evaluate("window.__sameDocument = true")  # gone if the page is ever reloaded

    # 4. The sandbox bank app (another app on the phone: another tab) → pay in full.
    bank = phone.new_page()
    bank.goto(base + page.get_attribute(".sandbox-pay a", "href"))
    screens(bank, "06-bank-app")
    bank.click("button[name=action][value=full]")

    # 5. Back on the payment page: it turns to paid by itself, then (once eSIM Go has answered)
    # goes to the eSIM page by itself.
    page.bring_to_front()
    expect(page.locator("#pay")).to_have_attribute("data-status", "PAID", timeout=15000)
    assert "status-paid" in page.get_attribute("#pay-status", "class")
    assert page.is_hidden("#pay-options")  # the QR and bank links are gone once paid
    assert page.evaluate("window.__sameDocument === true")  # not reloaded
    screens(page, "07-payment-paid")
    esimgo_answers.set()
    esim_page = re.compile(rf"{re.escape(base)}/esims/{TOKEN}/$")
    page.wait_for_url(esim_page, timeout=20000)
    page.wait_for_load_state("load")
    screens(page, "08-esim-page", full_page=True)
    bank.wait_for_load_state("load")
    assert "CLOSED" in bank.inner_text("main")
    screens(bank, "09-bank-app-paid", full_page=True)
    bank.close()

    # 6. The QR on the eSIM page decodes to exactly the order's LPA string.
    order = Order.objects.select_related("esim").get(invoice_id=invoice_id)
    assert order.status == Order.Status.DELIVERED
    assert page.url == base + order.get_absolute_url()
    lpa = f"LPA:1${order.esim.smdp_address.split('://')[-1].rstrip('/')}${order.esim.matching_id}"
    qr_png = screens(page.locator("figure.qr svg"), "10-esim-qr").read_bytes()
    assert decode_qr(qr_png) == [lpa]
    assert page.inner_text("#lpa") == lpa

    # 7. My eSIMs on another device: ask for a link, open it from the e-mail, sign in.
    other = watch.attach(browser.new_context(**PHONE))
    reader = other.new_page()
    reader.goto(base + "/my-esims/")
    assert order.esim.iccid not in reader.inner_text("main")  # nothing to see without signing in
    reader.fill("input[name=email]", EMAIL)
    reader.click("main form[method=post] button[type=submit]")
    reader.wait_for_selector("[role=status]")
    screens(reader, "11-my-esims-link-sent")
    message = wait_for(
        lambda: next((m for m in mail.outbox if "/my-esims/login/" in m.body), None), what="the magic-link e-mail"
    )
    assert message.to == [EMAIL]
    link = re.search(re.escape(base) + r"/my-esims/login/[A-Za-z0-9_\-]+/", message.body).group(0)
    reader.goto(link)
    screens(reader, "12-magic-link")
    reader.click("main form[method=post] button[type=submit]")
    reader.wait_for_url(base + "/my-esims/")
    card = reader.locator(".esim-card", has_text=order.esim.iccid)
    assert card.count() == 1
    assert re.search(r"\d+(\.\d+)? ?(MB|GB|МБ|ГБ)", card.inner_text()), card.inner_text()
    screens(reader, "13-my-esims", full_page=True)

    watch.assert_clean()
