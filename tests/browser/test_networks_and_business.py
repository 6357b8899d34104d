"""The plan page's networks per country (fetched from the sandbox eSIM Go's per-bundle detail over
real HTTP), and business details: the admin warns while they are samples, the site leaves the
samples out, and the values staff set show on the contact page. Real Chromium, phone viewport,
axe-core 0 critical / 0 serious on the new states."""

import re
import secrets

import pytest
from django.contrib.auth.models import User
from playwright.sync_api import expect

from catalog.networks import refresh_networks
from shopinfo.models import BusinessDetails, HelpPage
from tests.browser.axe import BLOCKING, audit, summary
from tests.browser.conftest import PHONE, Watch

pytestmark = [pytest.mark.slow]

LOCAL = "esim_1GB_7D_MN_V2"
REGIONAL = "esim_1GB_7D_RAS_V2"  # Asia: about 35 countries


def blocking(page) -> list[dict]:
    found = [v for v in audit(page) if v["impact"] in BLOCKING]
    widths = page.evaluate("[document.documentElement.scrollWidth, window.innerWidth]")
    if widths[0] > widths[1]:
        found.append({"id": "horizontal-overflow", "impact": "serious", "help": str(widths)})
    return found


def test_plan_page_shows_networks_per_country(shop, browser, screens):
    base = shop.url
    run = refresh_networks(names=[LOCAL, REGIONAL])
    assert (run.fetched, run.failed) == (2, 0), run
    watch = Watch(base)
    page = watch.attach(browser.new_context(**PHONE, bypass_csp=True)).new_page()

    page.goto(f"{base}/bundles/{LOCAL}/")
    table = page.locator("table.networks")
    expect(table).to_be_visible()
    expect(table.locator("thead")).to_contain_text("Сүлжээ")
    row = table.locator("tbody tr", has_text="Монгол")
    expect(row.locator("td")).to_have_text("Unitel (4G / 5G), Mobicom (4G / 5G)")
    screens(page, "01-local-networks-mn", full_page=True)
    assert blocking(page) == [], summary(blocking(page))

    page.goto(f"{base}/bundles/{REGIONAL}/?lang=en")
    rows = page.locator("table.networks tbody tr")
    assert rows.count() > 30
    expect(page.locator("table.networks thead")).to_contain_text("Networks")
    expect(rows.filter(has_text="Japan").locator("td")).to_contain_text("NTT Docomo")
    screens(page, "02-regional-networks-en", full_page=True)
    assert blocking(page) == [], summary(blocking(page))
    watch.assert_clean()


def test_business_details_placeholders_warned_then_set_in_admin(shop, browser, screens):
    base = shop.url
    BusinessDetails.objects.update_or_create(
        pk=1, defaults={"company_name": "esimshop", "email": "support@esimshop.mn", "refund_days_confirmed": False}
    )
    for slug, title, body in (
        ("contact", "Contact us", "Include your order number."),
        ("refund", "Refund policy", "## How and when\nWithin {refund_days} working days."),
    ):
        HelpPage.objects.update_or_create(
            slug=slug, defaults={"title_mn": title, "title_en": title, "body_mn": body, "body_en": body}
        )
    watch = Watch(base)
    shopper = watch.attach(browser.new_context(**PHONE, bypass_csp=True)).new_page()
    shopper.goto(f"{base}/help/contact/")  # the live server runs with DEBUG off, as production
    expect(shopper.locator("#contact-pending")).to_be_visible()
    assert "support@esimshop.mn" not in shopper.content()
    screens(shopper, "01-contact-samples-left-out", full_page=True)
    assert blocking(shopper) == [], summary(blocking(shopper))

    password = secrets.token_urlsafe(16)
    User.objects.create_superuser("owner", password=password)
    desk = watch.attach(browser.new_context(viewport={"width": 1280, "height": 900})).new_page()
    desk.goto(base + "/admin/")
    desk.fill("input[name=username]", "owner")
    desk.fill("input[name=password]", password)
    desk.click("input[type=submit]")
    banner = desk.locator("#business-placeholders")
    expect(banner).to_be_visible()
    expect(banner).to_contain_text("register number")
    screens(desk, "02-admin-banner")
    banner.locator("a").click()
    desk.wait_for_url(re.compile(r"/admin/shopinfo/businessdetails/1/change/$"))
    for name, value in {
        "company_name": "Аялал Дата ХХК",
        "registration_number": "6543210",
        "address_mn": "Сүхбаатар дүүрэг, Улаанбаатар",
        "address_en": "Sukhbaatar district, Ulaanbaatar",
        "phone": "+976 7700 1234",
        "email": "help@ayalal.mn",
        "telegram_url": "https://t.me/ayalal_help",
        "hours_mn": "Өдөр бүр 09:00–21:00",
        "hours_en": "Every day 09:00–21:00",
        "refund_working_days": "5",
    }.items():
        desk.fill(f"[name={name}]", value)
    desk.check("[name=refund_days_confirmed]")
    screens(desk, "03-admin-edit", full_page=True)
    desk.click("input[name=_save]")
    desk.wait_for_url(re.compile(r"/admin/shopinfo/businessdetails/$"))
    desk.goto(base + "/admin/")
    expect(desk.locator("#business-placeholders")).to_have_count(0)

    shopper.goto(f"{base}/help/contact/?lang=en")
    expect(shopper.locator("a[href='tel:+97677001234']")).to_be_visible()
    expect(shopper.locator("main")).to_contain_text("Sukhbaatar district, Ulaanbaatar")
    expect(shopper.locator("#contact-pending")).to_have_count(0)
    screens(shopper, "04-contact-set-en", full_page=True)
    assert blocking(shopper) == [], summary(blocking(shopper))
    shopper.goto(f"{base}/help/refund/?lang=en")
    expect(shopper.locator("main")).to_contain_text("Within 5 working days")
    watch.assert_clean()
