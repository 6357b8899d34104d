"""The business-details row with the sample values (placeholders until staff replace them), and
the seeded help pages pointed at it: the contact page's sample address block goes (the page now
shows the row), and "3 working days" becomes {refund_days}. A page staff already edited is left
exactly as it is."""
from django.db import migrations

SAMPLES = {
    "company_name": "esimshop",
    "registration_number": "",
    "address_mn": "Улаанбаатар, Монгол Улс",
    "address_en": "Ulaanbaatar, Mongolia",
    "phone": "",
    "email": "support@esimshop.mn",
    "hours_mn": "Даваа–Баасан 09:00–18:00 (Улаанбаатарын цагаар)",
    "hours_en": "Monday–Friday 09:00–18:00 (Ulaanbaatar time)",
}

OLD_CONTACT_MN = """## Холбоо барих
- И-мэйл: support@esimshop.mn
- Ажлын цаг: Даваа–Баасан 09:00–18:00 (Улаанбаатарын цагаар)

## Компани
esimshop, Улаанбаатар, Монгол Улс."""
OLD_CONTACT_EN = """## Contact
- E-mail: support@esimshop.mn
- Hours: Monday–Friday 09:00–18:00 (Ulaanbaatar time)

## Company
esimshop, Ulaanbaatar, Mongolia."""
NEW_CONTACT_MN = "Асуулт, хүсэлтээ дээрх хаягуудын аль нэгээр бичээрэй. Захиалгын дугаараа бичвэл бид илүү хурдан шалгана."
NEW_CONTACT_EN = "Write to us at any of the addresses above. Include your order number and we can check it faster."

DAYS = [("3 ажлын өдрийн", "{refund_days} ажлын өдрийн"), ("3 working days", "{refund_days} working days")]


def forward(apps, schema_editor):
    BusinessDetails = apps.get_model("shopinfo", "BusinessDetails")
    HelpPage = apps.get_model("shopinfo", "HelpPage")
    BusinessDetails.objects.get_or_create(pk=1, defaults=SAMPLES)
    contact = HelpPage.objects.filter(slug="contact", body_mn=OLD_CONTACT_MN, body_en=OLD_CONTACT_EN).first()
    if contact is not None:
        contact.body_mn, contact.body_en = NEW_CONTACT_MN, NEW_CONTACT_EN
        contact.save(update_fields=["body_mn", "body_en"])
    for page in HelpPage.objects.filter(slug__in=["faq", "refund"]):
        body_mn, body_en = page.body_mn, page.body_en
        for old, new in DAYS:
            body_mn, body_en = body_mn.replace(old, new), body_en.replace(old, new)
        if (body_mn, body_en) != (page.body_mn, page.body_en):
            page.body_mn, page.body_en = body_mn, body_en
            page.save(update_fields=["body_mn", "body_en"])


def backward(apps, schema_editor):
    HelpPage = apps.get_model("shopinfo", "HelpPage")
    for page in HelpPage.objects.filter(slug__in=["faq", "refund"]):
        for old, new in DAYS:
            page.body_mn, page.body_en = page.body_mn.replace(new, old), page.body_en.replace(new, old)
        page.save(update_fields=["body_mn", "body_en"])
    HelpPage.objects.filter(slug="contact", body_mn=NEW_CONTACT_MN, body_en=NEW_CONTACT_EN).update(
        body_mn=OLD_CONTACT_MN, body_en=OLD_CONTACT_EN
    )


class Migration(migrations.Migration):
    dependencies = [("shopinfo", "0003_business_details")]
    operations = [migrations.RunPython(forward, backward)]
