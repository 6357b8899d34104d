"""Business details (company, contact, refund promise): edited in the admin, and a production shop
never silently shows the shipped sample values (admin banner, migrate's warning, left off the site)."""

from importlib import import_module

import pytest
from django.apps import apps
from django.core.checks import Warning as CheckWarning
from django.core.management import call_command

from shopinfo import business
from shopinfo.checks import business_details_check
from shopinfo.models import BusinessDetails, HelpPage

pytestmark = pytest.mark.django_db

REAL = {
    "company_name": "Аялал Дата ХХК",
    "registration_number": "6543210",
    "address_mn": "Сүхбаатар дүүрэг, 1-р хороо, Улаанбаатар",
    "address_en": "Sukhbaatar district, Ulaanbaatar",
    "phone": "+976 7700 1234",
    "email": "help@ayalal.mn",
    "hours_mn": "Өдөр бүр 09:00–21:00",
    "hours_en": "Every day 09:00–21:00",
    "refund_working_days": 5,
    "refund_days_confirmed": True,
}


@pytest.fixture
def seeded():
    """The data migrations' rows (a flushed test database may have lost them)."""
    import_module("shopinfo.migrations.0002_seed_help_pages_and_devices").seed(apps, None)
    import_module("shopinfo.migrations.0004_seed_business_details").forward(apps, None)


def set_real_values():
    details = BusinessDetails.objects.get(pk=1)
    for name, value in REAL.items():
        setattr(details, name, value)
    details.save()


def test_the_shipped_samples_are_placeholders(seeded):
    assert business.placeholders(BusinessDetails.objects.get(pk=1)) == [
        "company_name",
        "registration_number",
        "address_mn",
        "address_en",
        "phone",
        "email",
        "hours_mn",
        "hours_en",
        "refund_working_days",
    ]


def test_migrate_and_check_warn_while_placeholders_remain(seeded):
    [warning] = business_details_check(databases=["default"])
    assert isinstance(warning, CheckWarning) and warning.id == "shopinfo.W001"
    assert "register number" in warning.msg and "refund working days" in warning.msg
    assert business_details_check(databases=None) == []  # a database check only when asked
    set_real_values()
    assert business_details_check(databases=["default"]) == []
    call_command("check", "--tag", "database", "--database", "default", "--fail-level", "WARNING")


def test_the_admin_front_page_lists_the_placeholders(admin_client, seeded, settings):
    settings.DEBUG = False
    html = admin_client.get("/admin/").content.decode()
    assert 'id="business-placeholders"' in html
    assert "register number" in html and "/admin/shopinfo/businessdetails/1/change/" in html
    set_real_values()
    assert 'id="business-placeholders"' not in admin_client.get("/admin/").content.decode()


def test_with_debug_off_the_contact_page_leaves_samples_out(client, seeded, settings):
    settings.DEBUG = False
    html = client.get("/help/contact/").content.decode()
    assert "support@esimshop.mn" not in html
    assert 'id="contact-pending"' in html  # says so instead of showing a sample address
    settings.DEBUG = True
    assert "support@esimshop.mn" in client.get("/help/contact/").content.decode()


def test_values_set_in_the_admin_show_on_the_site_at_once(admin_client, client, seeded, settings):
    settings.DEBUG = False
    form = {name: value for name, value in REAL.items() if name != "refund_days_confirmed"}
    response = admin_client.post(
        "/admin/shopinfo/businessdetails/1/change/",
        {**form, "refund_days_confirmed": "on", "messenger_url": "https://m.me/ayalal", "telegram_url": ""},
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    contact = client.get("/help/contact/").content.decode()
    assert 'href="tel:+97677001234"' in contact and "help@ayalal.mn" in contact
    assert "6543210" in contact and "https://m.me/ayalal" in contact
    assert 'id="contact-pending"' not in contact
    refund = client.get("/help/refund/").content.decode()
    assert "5 ажлын өдрийн" in refund and "{refund_days}" not in refund


def test_the_migration_leaves_edited_pages_alone(seeded):
    HelpPage.objects.filter(slug="contact").update(body_en="Call Bat on 9911 2233.")
    import_module("shopinfo.migrations.0004_seed_business_details").forward(apps, None)
    assert HelpPage.objects.get(slug="contact").body_en == "Call Bat on 9911 2233."
    assert "{refund_days} working days" in HelpPage.objects.get(slug="refund").body_en


def test_there_is_only_ever_one_row(admin_client, seeded):
    assert admin_client.get("/admin/shopinfo/businessdetails/add/").status_code == 403
    assert admin_client.get("/admin/shopinfo/businessdetails/1/delete/").status_code == 403
