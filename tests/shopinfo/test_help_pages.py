"""Help and policy pages (issue 13): in both languages from one admin row, plain text only,
seeded by a data migration, linked from every page's footer; the device list."""

import pytest
from django.core.management import call_command

from shopinfo import text
from shopinfo.models import Device, HelpPage

pytestmark = pytest.mark.django_db

SEEDED = {"faq", "compatibility", "install", "refund", "terms", "privacy", "contact"}


@pytest.fixture
def seeded():
    """The data migration's rows (a flushed test database may have lost them)."""
    from importlib import import_module

    from django.apps import apps

    import_module("shopinfo.migrations.0002_seed_help_pages_and_devices").seed(apps, None)


def test_the_data_migration_seeds_every_page_and_the_device_list(seeded):
    assert set(HelpPage.objects.values_list("slug", flat=True)) >= SEEDED
    assert Device.objects.filter(brand="Apple").exists() and Device.objects.filter(brand="Samsung").exists()
    for page in HelpPage.objects.all():
        assert page.title_mn and page.title_en and page.body_mn and page.body_en, page.slug


def test_a_page_in_both_languages(client, seeded):
    html = client.get("/help/refund/").content.decode()
    assert "Буцаалтын нөхцөл" in html and "<h2>" in html
    client.cookies["django_language"] = "en"
    assert "Refund policy" in client.get("/help/refund/").content.decode()


def test_compatibility_page_lists_devices_and_the_eid_check(client, seeded):
    Device.objects.create(brand="Google", model_name="Pixel 99", note_en="test")
    html = client.get("/help/compatibility/?lang=en").content.decode()
    assert "Pixel 99" in html and "*#06#" in html and "EID" in html


def test_every_page_links_the_policies_in_its_footer(client, seeded):
    html = client.get("/").content.decode()
    for slug in SEEDED:
        assert f'href="/help/{slug}/"' in html, slug
    assert 'href="/my-esims/"' in html and 'class="skip-link" href="#main"' in html


def test_admin_text_is_never_html():
    html = text.render("## Title <b>\nline <script>alert(1)</script>\n\n- item https://t.me/esimshop\n- two")
    assert "<script>" not in html and "&lt;script&gt;" in html and "<h2>Title &lt;b&gt;</h2>" in html
    assert '<a href="https://t.me/esimshop"' in html and html.count("<li>") == 2


def test_unknown_or_unpublished_page_is_404(client, seeded):
    assert client.get("/help/nope/").status_code == 404
    HelpPage.objects.filter(slug="terms").update(is_published=False)
    assert client.get("/help/terms/").status_code == 404


def test_seo_tags_are_absolute_with_hreflang(client, settings, seeded):
    settings.SITE_URL = "https://esimshop.mn"
    html = client.get("/help/faq/").content.decode()
    assert '<link rel="canonical" href="https://esimshop.mn/help/faq/">' in html
    assert '<link rel="alternate" hreflang="en" href="https://esimshop.mn/help/faq/?lang=en">' in html
    assert (
        'property="og:title" content="Түгээмэл асуулт"' in html and "<title>Түгээмэл асуулт · esimshop</title>" in html
    )
    english = client.get("/help/faq/?lang=en").content.decode()
    assert '<html lang="en">' in english and 'rel="canonical" href="https://esimshop.mn/help/faq/?lang=en"' in english
    call_command("check")  # the shopinfo admin and models are sound
