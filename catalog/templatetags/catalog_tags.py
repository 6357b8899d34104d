"""Template filters for shop pages: {% load catalog_tags %} then `{{ 12500|mnt }}` -> 12,500₮."""

from django import template

from catalog import presentation

register = template.Library()


@register.filter
def mnt(value):
    """Integer MNT as shoppers read it: 12,500₮ ('' for non-numbers)."""
    return presentation.format_mnt(value)


@register.filter
def data_amount(bundle):
    """A bundle's data: '1 GB', '500 MB' or 'Unlimited'."""
    return presentation.format_data_amount(bundle.data_amount_mb, bundle.unlimited)


@register.filter
def days(value):
    return presentation.format_days(int(value))


@register.filter
def speed(value):
    return presentation.format_speed(value)


@register.filter
def flag(iso):
    """Emoji flag of an ISO code or django-countries Country."""
    return presentation.country_flag(getattr(iso, "code", iso) or "")


@register.filter
def country_name(iso):
    """Translated country name of an ISO code."""
    return presentation.country_name(getattr(iso, "code", iso) or "")


@register.filter
def region_name(region):
    return presentation.region_display_name(getattr(region, "name", region) or "")
