"""No shopper gets a cold storefront page: after a catalogue change the popular pages are
rendered in the background under the NEXT catalogue version, and only then does the version
switch over to them (catalog/page_cache.py keys every page by version).

Until the switch, visitors keep getting the previous version's pages (at most one warming run
old: a price shown there is re-checked at checkout anyway, the server's price is the price).
After the switch the popular pages are already in the cache, so no visitor renders one cold.

Popular pages = the home page, the A-Z country list, every region and sellable country page,
and the plan pages of the popular destinations (the home page's tiles), in every language,
bounded by STOREFRONT_WARM_MAX_PAGES. Filtered lists (?duration=7 ...) are not warmed: their
first visitor renders them.

Who calls what:
  catalogue_changed()   - the sync and staff edits, inside their transaction (or
  refresh_storefront()    from an on_commit callback, as the price override does): after
                          commit, warm in the background (Celery), or just bump the version in
                          in-process mode (bin/run, where there is no background to warm in);
  warm_and_switch()     - the Celery task, and `manage.py expire_storefront_cache` on release
                          (so the first visitor after a deploy gets a warm page too).

Every committed change also moves a change counter. A warming run switches only if neither the
version nor that counter moved while it rendered: otherwise its pages may predate a later
change, so they are left unused and the later change's own warming run switches instead.
"""

import logging
from dataclasses import dataclass
from urllib.parse import urlsplit

from django.conf import settings
from django.core.cache import cache
from django.db import transaction
from django.test import Client  # a full request through the middleware stack, no socket
from django.urls import reverse

from catalog import page_cache, selectors
from catalog.models import Bundle, BundleCountry
from catalog.search_aliases import GLOBAL_SLUG
from esimshop.celery import app as celery_app

logger = logging.getLogger(__name__)

CHANGES_KEY = "catalog:changes"
# The Celery task that runs warm_and_switch() (catalog/tasks.py declares it under this name).
WARM_TASK = "catalog.tasks.warm_storefront_task"


@dataclass
class WarmResult:
    version: int
    rendered: int
    failed: list[str]  # "<language> <path> <status>" of pages rendered but not stored
    switched: bool


def catalogue_changed() -> None:
    """Call inside the transaction that changed what storefront pages show."""
    transaction.on_commit(refresh_storefront, robust=True)


def _changes() -> int:
    return cache.get(CHANGES_KEY) or 0


def _count_change() -> None:
    try:
        cache.incr(CHANGES_KEY)
    except ValueError:
        cache.add(CHANGES_KEY, 1, timeout=None)


def refresh_storefront() -> None:
    """What catalogue_changed() runs after commit; call it directly from an on_commit callback."""
    _count_change()
    if settings.CELERY_TASK_ALWAYS_EAGER:
        page_cache.bump_catalogue_version()
        return
    try:
        # By name: catalog.tasks imports this module, never the other way round.
        celery_app.send_task(WARM_TASK)
    except Exception as exc:  # noqa: BLE001 - no broker: show the new catalogue cold rather than never
        logger.error("storefront warming not queued (%s); expiring the cached pages instead", exc)
        page_cache.bump_catalogue_version()


def popular_paths() -> list[str]:
    """Most visited first, so STOREFRONT_WARM_MAX_PAGES cuts the long tail, not the home page:
    home, A-Z, regions and Global, the popular destinations, their own plans (BASE coverage: a regional plan
    that merely includes the country is on the region's page), then every other country."""
    popular = [country.iso.code for country in selectors.popular_countries()]
    paths = [reverse("catalog:home"), reverse("catalog:countries")]
    paths += [
        reverse("catalog:region", args=[slug])
        for slug in [*selectors.regions_with_countries().values_list("slug", flat=True), GLOBAL_SLUG]
    ]
    paths += [reverse("catalog:country", args=[iso]) for iso in popular]
    names = (
        Bundle.objects.filter(
            is_available=True, coverage__country__iso__in=popular, coverage__kind=BundleCountry.Kind.BASE
        )
        .order_by("name")
        .values_list("name", flat=True)
        .distinct()
    )
    paths += [reverse("catalog:bundle", args=[name]) for name in names]
    paths += [
        reverse("catalog:country", args=[iso])
        for iso in selectors.sellable_countries().exclude(iso__in=popular).order_by("iso").values_list("iso", flat=True)
    ]
    return list(dict.fromkeys(paths))


def warm_and_switch(max_pages: int | None = None) -> WarmResult:
    """Render the popular pages under a new version, then make it the live one."""
    limit = settings.STOREFRONT_WARM_MAX_PAGES if max_pages is None else max_pages
    started_from, changes = page_cache.catalogue_version(), _changes()
    target = page_cache.new_epoch()
    site = urlsplit(settings.SITE_URL)
    client = Client(HTTP_HOST=site.netloc or "127.0.0.1")
    paths = popular_paths()[: max(limit // len(settings.LANGUAGES), 1)]
    rendered, failed = 0, []
    token = page_cache.rendering_version.set(target)
    try:
        for path in paths:
            for language, _name in settings.LANGUAGES:
                client.cookies[settings.LANGUAGE_COOKIE_NAME] = language
                response = client.get(path, secure=site.scheme == "https")
                if response.status_code == 200 and response.headers.get(page_cache.CACHE_STATUS_HEADER) == "miss":
                    rendered += 1
                else:
                    failed.append(f"{language} {path} {response.status_code}")
    finally:
        page_cache.rendering_version.reset(token)
    switched = page_cache.catalogue_version() == started_from and _changes() == changes
    if switched:
        cache.set(page_cache.VERSION_KEY, target, timeout=None)
    logger.info(
        "storefront warmed: %s pages rendered, %s not stored%s, version %s%s",
        rendered,
        len(failed),
        f" ({', '.join(failed[:5])})" if failed else "",
        target,
        "" if switched else " (not switched: the catalogue changed meanwhile)",
    )
    return WarmResult(target, rendered, failed, switched)
