"""The business's own values (company, contact, refund promise) and which are still placeholders.

The shop ships with sample values so a fresh install and the sandbox show complete pages; a real
business must replace them in the admin. A value is a placeholder while it is empty (where the
site needs one) or still equal to its sample, and the refund promise until staff tick that the
business agreed to it. Placeholders are:
- listed on the admin's front page (templates/admin/index.html) and by a system check that
  `manage.py migrate` runs on every release (shopinfo/checks.py);
- left off the site when DEBUG is off: a shopper never gets a sample phone number or e-mail as if
  it were ours. The refund promise keeps its number (the payment pages must state one).
"""

from django.conf import settings
from django.core.cache import cache
from django.db import DatabaseError
from django.utils.functional import SimpleLazyObject
from django.utils.translation import get_language

from shopinfo.models import BusinessDetails

CACHE_KEY = BusinessDetails.CACHE_KEY
CACHE_SECONDS = 300

# The values the first migration stores (shopinfo/migrations/0004_seed_business_details.py copies them).
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
# Shown on the contact page; a placeholder in any of these is reported (messenger/telegram are optional).
REQUIRED = ("company_name", "registration_number", "address_mn", "address_en", "phone", "email")
REPORTED = (*REQUIRED, "hours_mn", "hours_en")


def current() -> BusinessDetails:
    """The one row (an unsaved default if the table is empty), cached: the payment page reads it."""
    details = cache.get(CACHE_KEY)
    if details is None:
        details = BusinessDetails.objects.filter(pk=1).first() or BusinessDetails(pk=1, **SAMPLES)
        cache.set(CACHE_KEY, details, CACHE_SECONDS)
    return details


def placeholders(details: BusinessDetails) -> list[str]:
    """Field names whose value is empty-but-needed or still the shipped sample."""
    found = [
        name
        for name in REPORTED
        if not getattr(details, name).strip() or getattr(details, name).strip() == SAMPLES.get(name, "\0")
    ]
    if not details.refund_days_confirmed:
        found.append("refund_working_days")
    return found


def placeholder_labels(details: BusinessDetails) -> list[str]:
    return [str(BusinessDetails._meta.get_field(name).verbose_name) for name in placeholders(details)]


def hides_placeholders() -> bool:
    return not settings.DEBUG


class PublicDetails:
    """What the site may show: with DEBUG off a placeholder reads as empty (the template leaves it out)."""

    def __init__(self, details: BusinessDetails):
        self._details = details
        self._hidden = set(placeholders(details)) - {"refund_working_days"} if hides_placeholders() else set()

    def __getattr__(self, name):
        if name in ("address", "hours"):  # the shopper's language, Mongolian when there is no English
            english = (get_language() or "mn").startswith("en")
            own = f"{name}_{'en' if english else 'mn'}"
            name = own if getattr(self._details, own) else f"{name}_mn"
        return "" if name in self._hidden else getattr(self._details, name)

    @property
    def has_contact(self) -> bool:
        return any((self.phone, self.email, self.messenger_url, self.telegram_url))


def public() -> PublicDetails:
    try:
        return PublicDetails(current())
    except DatabaseError:  # before migrate: the samples, never a 500
        return PublicDetails(BusinessDetails(pk=1, **SAMPLES))


def context(request) -> dict:
    """Template context processor: `business`, read only when a template uses it."""
    return {"business": SimpleLazyObject(public)}
