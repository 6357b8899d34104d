"""GET filters of the country and region pages.

Invalid values never fail the page: the form reports them and the list ignores them.
"""

from django import forms
from django.utils.translation import gettext_lazy as _

from catalog.selectors import DEFAULT_SORT, BundleFilters

DATA_CHOICES = [
    ("", _("Any amount")),
    ("upto3", _("Up to 3 GB")),
    ("3to10", _("3–10 GB")),
    ("over10", _("Over 10 GB")),
]
DAYS_CHOICES = [
    ("", _("Any validity")),
    ("upto7", _("Up to 7 days")),
    ("8to15", _("8–15 days")),
    ("16to30", _("16–30 days")),
    ("over30", _("Over 30 days")),
]
UNLIMITED_CHOICES = [
    ("", _("Unlimited or not")),
    ("yes", _("Unlimited only")),
    ("no", _("Fixed data only")),
]
SORT_CHOICES = [
    ("price", _("Cheapest first")),
    ("-price", _("Most expensive first")),
    ("data", _("Most data first")),
    ("days", _("Longest validity first")),
    ("per_gb", _("Cheapest per GB")),
]


class BundleFilterForm(forms.Form):
    data = forms.ChoiceField(label=_("Data"), choices=DATA_CHOICES, required=False)
    days = forms.ChoiceField(label=_("Validity"), choices=DAYS_CHOICES, required=False)
    unlimited = forms.ChoiceField(label=_("Unlimited"), choices=UNLIMITED_CHOICES, required=False)
    sort = forms.ChoiceField(label=_("Sort"), choices=SORT_CHOICES, required=False)

    def to_filters(self) -> BundleFilters:
        """Filters from the valid fields only (call after is_valid(); invalid fields are dropped)."""
        cleaned = getattr(self, "cleaned_data", {})
        unlimited = {"yes": True, "no": False}.get(cleaned.get("unlimited") or "")
        return BundleFilters(
            data=cleaned.get("data") or None,
            days=cleaned.get("days") or None,
            unlimited=unlimited,
            sort=cleaned.get("sort") or DEFAULT_SORT,
        )

    @property
    def is_filtered(self) -> bool:
        cleaned = getattr(self, "cleaned_data", {})
        return any(cleaned.get(name) for name in ("data", "days", "unlimited"))
