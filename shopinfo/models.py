"""Help and policy pages and the eSIM device list: content staff edit in the admin, no deploy.

Both languages live on one row (title_mn/title_en, body_mn/body_en) so a page is never
published in one language only. Bodies are plain text (shopinfo.text renders them: blank
line = paragraph, "## " = heading, "- " = list item, URLs become links); no HTML from the
admin reaches a page.
"""

from django.core.cache import cache
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models, transaction
from django.urls import reverse
from django.utils.translation import get_language


class HelpPage(models.Model):
    slug = models.SlugField(max_length=48, unique=True, help_text="The address: /help/<slug>/.")
    title_mn = models.CharField(max_length=120)
    title_en = models.CharField(max_length=120)
    summary_mn = models.CharField(max_length=200, blank=True, help_text="Search engines' description (Mongolian).")
    summary_en = models.CharField(max_length=200, blank=True, help_text="Search engines' description (English).")
    body_mn = models.TextField(help_text='Plain text: blank line = new paragraph, "## " = heading, "- " = list item.')
    body_en = models.TextField()
    in_footer = models.BooleanField(default=True, help_text="Linked from every page's footer.")
    sort_order = models.PositiveSmallIntegerField(default=100)
    is_published = models.BooleanField(default=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["sort_order", "slug"]

    def __str__(self):
        return self.slug

    def get_absolute_url(self):
        return reverse("shopinfo:page", args=[self.slug])

    def _in_language(self, field: str) -> str:
        english = (get_language() or "mn").startswith("en")
        return getattr(self, f"{field}_en" if english else f"{field}_mn") or getattr(self, f"{field}_mn")

    @property
    def title(self) -> str:
        return self._in_language("title")

    @property
    def summary(self) -> str:
        return self._in_language("summary")

    @property
    def body(self) -> str:
        return self._in_language("body")


class Device(models.Model):
    """A phone model known to take an eSIM (the compatibility list shoppers check before paying)."""

    class Brand(models.TextChoices):
        APPLE = "Apple", "Apple"
        SAMSUNG = "Samsung", "Samsung"
        GOOGLE = "Google", "Google Pixel"
        OTHER = "Other", "Other"

    brand = models.CharField(max_length=16, choices=Brand.choices)
    model_name = models.CharField(max_length=80, help_text='As shoppers know it, e.g. "iPhone 12 and newer".')
    note_mn = models.CharField(max_length=200, blank=True)
    note_en = models.CharField(max_length=200, blank=True)
    sort_order = models.PositiveSmallIntegerField(default=100)
    is_listed = models.BooleanField(default=True)

    class Meta:
        ordering = ["brand", "sort_order", "model_name"]
        constraints = [models.UniqueConstraint(fields=["brand", "model_name"], name="uniq_device_brand_model")]

    def __str__(self):
        return f"{self.brand} {self.model_name}"

    @property
    def note(self) -> str:
        english = (get_language() or "mn").startswith("en")
        return (self.note_en if english else self.note_mn) or self.note_mn


class BusinessDetails(models.Model):
    """The company behind the shop and its refund promise: one row (pk 1), edited in the admin.

    The contact page shows these, the payment and eSIM pages quote `refund_working_days`, and help
    page bodies may say {refund_days}, {email} or {phone}. Values still equal to the shipped
    samples are placeholders (shopinfo.business): listed in the admin and by `manage.py migrate`'s
    checks, and left off the site when DEBUG is off.
    """

    company_name = models.CharField(max_length=120, blank=True, help_text="Legal name, as registered.")
    registration_number = models.CharField(
        max_length=32, blank=True, verbose_name="register number", help_text="Company register number (РД)."
    )
    address_mn = models.CharField(max_length=200, blank=True, verbose_name="address (Mongolian)")
    address_en = models.CharField(max_length=200, blank=True, verbose_name="address (English)")
    phone = models.CharField(max_length=32, blank=True, help_text='As shoppers dial it, e.g. "+976 7700 0000".')
    email = models.EmailField(blank=True, verbose_name="e-mail")
    messenger_url = models.URLField(blank=True, help_text="https://m.me/<page>; empty = not shown.")
    telegram_url = models.URLField(blank=True, help_text="https://t.me/<name>; empty = not shown.")
    hours_mn = models.CharField(max_length=120, blank=True, verbose_name="hours (Mongolian)")
    hours_en = models.CharField(max_length=120, blank=True, verbose_name="hours (English)")
    refund_working_days = models.PositiveSmallIntegerField(
        default=3,
        validators=[MinValueValidator(1), MaxValueValidator(30)],
        help_text="The refund promise the payment, eSIM and refund pages make: within N working days.",
    )
    refund_days_confirmed = models.BooleanField(
        default=False, help_text="Tick once the business has agreed to the refund promise above."
    )
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = "business details"
        verbose_name_plural = "business details"

    CACHE_KEY = "shopinfo:business:v1"  # shopinfo.business caches the row; every save drops it

    def __str__(self):
        return "Business details"

    def save(self, *args, **kwargs):
        super().save(*args, **kwargs)
        # Now, and again after commit: a page read between the two may have cached the old row.
        cache.delete(self.CACHE_KEY)
        transaction.on_commit(lambda: cache.delete(self.CACHE_KEY))

    def _in_language(self, field: str) -> str:
        english = (get_language() or "mn").startswith("en")
        return getattr(self, f"{field}_en" if english else f"{field}_mn") or getattr(self, f"{field}_mn")

    @property
    def address(self) -> str:
        return self._in_language("address")

    @property
    def hours(self) -> str:
        return self._in_language("hours")
