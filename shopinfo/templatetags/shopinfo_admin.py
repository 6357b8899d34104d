"""The admin front page's warning about business details still at their sample values."""

from django import template
from django.db import DatabaseError
from django.urls import reverse

from shopinfo import business

register = template.Library()


@register.inclusion_tag("shopinfo/admin/placeholders.html")
def business_placeholders():
    try:
        details = business.current()
        labels = business.placeholder_labels(details)
    except DatabaseError:
        labels = []
    return {
        "labels": labels,
        "url": reverse("admin:shopinfo_businessdetails_change", args=[1]),
        "hidden_on_site": business.hides_placeholders(),
    }
