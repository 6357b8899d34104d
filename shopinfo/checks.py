"""`manage.py migrate` (every release runs it) and `manage.py check --database default` warn while
business details are still the shipped samples (shopinfo.business).

A Warning, never an Error, with DEBUG on or off: migrate runs database checks before it migrates,
so an Error would stop the very first release from creating the tables the admin needs to enter
the real values (and an already running shop from taking a security fix until someone finds the
company's register number). Production is not silent for all that: the admin's front page lists
the placeholders, and the site leaves them out rather than show a sample phone or e-mail.
"""

from django.core.checks import Tags, Warning, register
from django.db import DatabaseError


@register(Tags.database)
def business_details_check(app_configs=None, databases=None, **kwargs):
    if not databases:
        return []  # a database check runs only when asked to (migrate, check --database)
    from shopinfo import business
    from shopinfo.models import BusinessDetails

    try:
        details = BusinessDetails.objects.filter(pk=1).first()
    except DatabaseError:  # before the first migrate: nothing to check yet
        return []
    if details is None:
        return []
    labels = business.placeholder_labels(details)
    if not labels:
        return []
    return [
        Warning(
            f"Business details still at their sample values: {', '.join(labels)}.",
            hint=(
                "Set them in the admin: Help, policies and devices > Business details (docs/deploy.md, "
                "Business details). Until then the site leaves them out (DEBUG off)."
            ),
            obj="shopinfo.BusinessDetails",
            id="shopinfo.W001",
        )
    ]
