"""Storefront pages: home, search, countries A–Z, region, country and bundle pages, and the
language switcher.

Each page runs a fixed number of queries (pinned in tests/catalog/test_views.py) when it is
rendered, and none when it is served from the page cache (catalog/page_cache.py). Cached pages
carry nothing per visitor: no CSRF token, no session; the language switcher is plain links.
"""

from dataclasses import dataclass
from types import SimpleNamespace
from urllib.parse import quote

from django.conf import settings
from django.http import Http404, HttpResponseRedirect
from django.shortcuts import redirect, render
from django.urls import NoReverseMatch, reverse
from django.utils.cache import add_never_cache_headers
from django.utils.http import RFC3986_SUBDELIMS, url_has_allowed_host_and_scheme
from django.utils.translation import get_language, gettext_lazy
from django.utils.translation import gettext as _
from django.views.decorators.http import require_safe

from catalog import networks, page_cache, presentation, search_aliases, selectors
from catalog.forms import BundleFilterForm

FILTER_PARAMS = tuple(BundleFilterForm.base_fields)
GLOBAL_SLUG = search_aliases.GLOBAL_SLUG
# Not a Region row: eSIM Go has no "Global" region on its countries; these plans span regions.
GLOBAL_REGION = SimpleNamespace(name="Global", slug=GLOBAL_SLUG)


@dataclass(frozen=True)
class CountryLink:
    """A country as lists show it, computed once per row (long lists stay cheap to render)."""

    code: str
    name: str
    flag: str
    url: str
    price_label: str


def _country_links(countries) -> list[CountryLink]:
    # catalog:country is "countries/<iso>/" under catalog:countries: one reverse() for the whole list.
    prefix = reverse("catalog:countries")
    from_price = _("from %(price)s")  # translated once per list, not per row
    links = []
    for country in countries:  # selectors.CountryListing, or Country rows (search)
        code = getattr(country, "code", None) or country.iso.code
        price = country.min_price_mnt
        links.append(
            CountryLink(
                code=code,
                name=getattr(country, "name", None) or presentation.country_name(code),
                flag=presentation.country_flag(code),
                url=f"{prefix}{code}/",
                price_label=from_price % {"price": presentation.format_mnt(price)} if price else "",
            )
        )
    return links


def _not_found(request, message):
    return render(request, "404.html", {"message": message}, status=404)


def bundle_url(prefix: str, name: str) -> str:
    """reverse("catalog:bundle", args=[name]) without resolving the pattern once per row."""
    return f"{prefix}{quote(name, safe=RFC3986_SUBDELIMS + '~:@')}/"


def _with_price_per_gb(bundle):
    """Integer MNT per GB, None for unlimited."""
    bundle.price_per_gb_mnt = presentation.price_per_gb_mnt(
        bundle.retail_price_mnt, bundle.data_amount_mb, bundle.unlimited
    )
    return bundle


def _bundle_rows(bundles):
    """Bundles as list cards show them: every text formatted here once per row (cheaper than
    template filters, blocktranslate and {% url %} per row)."""
    prefix = reverse("catalog:bundle", args=["_"])[:-2]
    per_gb = _("%(price)s per GB")
    unlimited_data = _("Unlimited data")
    for bundle in map(_with_price_per_gb, bundles):
        bundle.url = bundle_url(prefix, bundle.name)
        bundle.data_label = presentation.format_data_amount(bundle.data_amount_mb, bundle.unlimited)
        bundle.days_label = presentation.format_days(bundle.duration_days)
        bundle.price_label = presentation.format_mnt(bundle.retail_price_mnt)
        details = [
            per_gb % {"price": presentation.format_mnt(bundle.price_per_gb_mnt)}
            if bundle.price_per_gb_mnt
            else unlimited_data
        ]
        if bundle.speed:
            details.append(presentation.format_speed(bundle.speed))
        covers = getattr(bundle, "covers_count", 0)
        bundle.scope = presentation.plan_scope(covers, getattr(bundle, "regions_count", 0))
        bundle.scope_label = presentation.scope_label(bundle.scope, covers)
        bundle.tier_label = presentation.unlimited_tier_label(bundle.name, bundle.unlimited)
        bundle.details_label = " · ".join(details)
    return bundles


SCOPE_HEADINGS = {
    presentation.LOCAL: gettext_lazy("Plans for this country"),
    presentation.REGIONAL: gettext_lazy("Regional plans (several countries)"),
    presentation.GLOBAL: gettext_lazy("Global plans"),
}


# A long list shows its cheapest plans and folds the rest into a "show N more" <details> (no JS;
# the folded cards are not laid out or painted until opened, which keeps list pages light on a phone).
PLANS_SHOWN = 6


def shown_count(bundles, form) -> int:
    """How many cards show unfolded: all of a filtered list (the shopper already narrowed it)."""
    if form.is_bound and form.is_filtered:
        return len(bundles)
    # Folding one or two cards saves nothing and costs a tap.
    return len(bundles) if len(bundles) <= PLANS_SHOWN + 2 else PLANS_SHOWN


def _folding(bundles, form) -> dict:
    shown = shown_count(bundles, form)
    return {"shown": shown, "folded": len(bundles) - shown}


def group_by_scope(bundles, form=None) -> list[dict]:
    """Local, regional and global plans apart (as the big shops tab them); empty groups left out."""
    groups = []
    for scope in (presentation.LOCAL, presentation.REGIONAL, presentation.GLOBAL):
        members = [b for b in bundles if b.scope == scope]
        if members:
            shown = shown_count(members, form) if form is not None else len(members)
            groups.append(
                {
                    "scope": scope,
                    "heading": SCOPE_HEADINGS[scope],
                    "bundles": members,
                    "shown": shown,
                    "folded": len(members) - shown,
                }
            )
    return groups


def _filtered(request, queryset_for):
    # Bound to the filter parameters only (as the page cache keys them): junk parameters are ignored.
    form = BundleFilterForm(page_cache.query_params(request.GET, FILTER_PARAMS) or None)
    if form.is_bound:
        form.is_valid()  # errors are shown; only valid fields filter
    filters = form.to_filters() if form.is_bound else selectors.BundleFilters()
    return form, _bundle_rows(list(queryset_for(filters)))


def _filtered_page(request, template, context):
    response = render(request, template, context)
    if context["form"].errors:
        # Shown, not stored: invalid values are unbounded, and junk must not fill the cache.
        page_cache.do_not_store(response)
    return response


@page_cache.storefront_page()
def home(request):
    return render(
        request,
        "catalog/home.html",
        {
            "popular": selectors.popular_countries(),
            "regions": selectors.regions_with_countries(),
        },
    )


def search(request):
    query = request.GET.get("q", "").strip()[:100]
    result = selectors.search_countries(query, get_language())
    if result.exact is not None:
        return redirect("catalog:country", iso=result.exact.iso.code)
    regions = [_region_link(r) for r in selectors.search_regions(query)]
    if len(regions) == 1 and not result.countries:
        return redirect(regions[0]["url"])
    return render(
        request,
        "catalog/search.html",
        {
            "query": query,
            "countries": _country_links(result.countries),
            "regions": regions,
        },
    )


def _region_link(region) -> dict:
    if region == GLOBAL_SLUG:
        return {
            "url": reverse("catalog:region", args=[GLOBAL_SLUG]),
            "name": presentation.region_display_name("Global"),
        }
    return {"url": reverse("catalog:region", args=[region.slug]), "name": presentation.region_display_name(region.name)}


@page_cache.storefront_page()
def countries(request):
    return render(
        request,
        "catalog/countries.html",
        {
            "letters": [
                (letter, _country_links(group)) for letter, group in selectors.countries_a_to_z(get_language())
            ],
            "regions": selectors.regions_with_countries(),
        },
    )


@page_cache.storefront_page(params=FILTER_PARAMS)
def region(request, slug):
    if slug == GLOBAL_SLUG:
        return _global(request)
    region = selectors.get_region(slug)
    if region is None:
        return _not_found(request, _("We have no region by that name."))
    form, bundles = _filtered(request, lambda filters: selectors.available_bundles_for_region(region, filters))
    return _filtered_page(
        request,
        "catalog/region.html",
        {
            "region": region,
            "countries": _country_links(selectors.countries_of_region(region, get_language())),
            "bundles": bundles,
            **_folding(bundles, form),
            "form": form,
        },
    )


def _global(request):
    """/regions/global/: plans that work across several regions of the world."""
    form, bundles = _filtered(request, selectors.global_bundles)
    return _filtered_page(
        request,
        "catalog/region.html",
        {
            "region": GLOBAL_REGION,
            "countries": [],
            "bundles": bundles,
            **_folding(bundles, form),
            "form": form,
            "is_global": True,
        },
    )


@page_cache.storefront_page(params=FILTER_PARAMS)
def country(request, iso):
    country = selectors.get_country(iso)
    if country is None:
        return _not_found(request, _("We don't sell eSIMs for that destination. Try searching for it by name."))
    form, bundles = _filtered(request, lambda filters: selectors.available_bundles_for_country(country, filters))
    return _filtered_page(
        request,
        "catalog/country.html",
        {
            "country": country,
            "bundles": bundles,
            "groups": group_by_scope(bundles, form),
            **_folding(bundles, form),
            "form": form,
        },
    )


def _network_labels(found) -> list[str]:
    """Per operator "Unitel (4G / 5G)", as eSIM Go names it; the speed only where it gives one."""
    return [f"{n['name']} ({presentation.format_speed(n['speeds'])})" if n.get("speeds") else n["name"] for n in found]


def _checkout_url(bundle):
    """The payments app's checkout page; None until that app provides it (the page must not fail)."""
    try:
        return reverse("payments:checkout", args=[bundle.name])
    except NoReverseMatch:
        return None


@page_cache.storefront_page()
def bundle_detail(request, name):
    bundle = selectors.get_bundle(name, with_networks=True)
    if bundle is None:
        return _not_found(request, _("We could not find that eSIM plan."))
    coverage = selectors.coverage_for_bundles([bundle.pk])[bundle.pk]
    order = presentation.country_order(get_language())
    coverage.sort(key=lambda c: (order.get(c.iso, (len(order),))[0], c.iso))
    operators = networks.networks_by_country(bundle)
    _with_price_per_gb(bundle)
    # Retired bundles keep their page (HTTP 200, noindex) for shoppers who bought them; no Buy button.
    return render(
        request,
        "catalog/bundle_detail.html",
        {
            "bundle": bundle,
            "title": presentation.plan_name(
                presentation.coverage_label([(c.iso, c.region) for c in coverage]) if coverage else bundle.name,
                bundle.data_amount_mb,
                bundle.unlimited,
                bundle.duration_days,
            ),
            "coverage": coverage,
            "networks": [(c, _network_labels(operators.get(c.iso, ()))) for c in coverage] if operators else None,
            "unlimited_policy": presentation.unlimited_policy(bundle.name, bundle.unlimited),
            "autostart_text": presentation.autostart_explanation(bundle.autostart),
            "checkout_url": _checkout_url(bundle) if bundle.is_available else None,
        },
    )


@require_safe
def switch_language(request, code):
    """GET /lang/<code>/?next=<local path>: remember the shopper's language in Django's language
    cookie (read by esimshop.middleware.ShopLocaleMiddleware) and go back to the page.

    Plain links, not a POST form: pages then carry no CSRF token and can be cached for everyone.
    Changing a display preference is harmless, so a GET (even from another site) is acceptable;
    an off-site `next` is refused (home instead), so the link can't be used as an open redirect.
    """
    if code not in dict(settings.LANGUAGES):
        raise Http404("Unknown language")
    next_url = request.GET.get("next", "")
    if not url_has_allowed_host_and_scheme(
        next_url, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        next_url = reverse("catalog:home")
    response = HttpResponseRedirect(next_url)
    response.set_cookie(
        settings.LANGUAGE_COOKIE_NAME,
        code,
        max_age=settings.LANGUAGE_COOKIE_AGE,
        path=settings.LANGUAGE_COOKIE_PATH,
        domain=settings.LANGUAGE_COOKIE_DOMAIN,
        secure=settings.LANGUAGE_COOKIE_SECURE,
        httponly=settings.LANGUAGE_COOKIE_HTTPONLY,
        samesite=settings.LANGUAGE_COOKIE_SAMESITE,
    )
    add_never_cache_headers(response)  # a redirect that sets a cookie must not be cached by anyone
    return response
