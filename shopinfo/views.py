"""Help and policy pages (/help/...), edited by staff in the admin. Not page-cached: one or two
small queries, and an edit must show at once."""

from django.shortcuts import render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_safe

from shopinfo import business, selectors, text

COMPATIBILITY_SLUG = "compatibility"
CONTACT_SLUG = "contact"  # shows the business details (shopinfo.business) above its text


@require_safe
def index(request):
    return render(request, "shopinfo/index.html", {"pages": selectors.published_pages()})


@require_safe
def page(request, slug):
    help_page = selectors.published_page(slug)
    if help_page is None:
        return render(request, "404.html", {"message": _("We have no help page by that name.")}, status=404)
    details = business.public()
    values = {"refund_days": details.refund_working_days, "email": details.email, "phone": details.phone}
    context = {"page": help_page, "body": text.render(help_page.body, values=values)}
    if slug == CONTACT_SLUG:
        context["details"] = details
    if slug == COMPATIBILITY_SLUG:
        context["devices"] = selectors.devices_by_brand()
    return render(request, "shopinfo/page.html", context)
