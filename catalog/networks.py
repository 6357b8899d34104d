"""Which networks (operators) a plan uses in each country, for the plan page.

eSIM Go names them only in the per-bundle detail (GET /catalogue/bundle/{name}), one request per
bundle, so the catalogue sync does not fetch them: a few thousand extra requests in one go would
crowd out paid orders. Instead a background run (beat, CATALOG_NETWORKS_INTERVAL_SECONDS) fetches
at most CATALOG_NETWORKS_BATCH bundles that have none yet or older than
CATALOG_NETWORKS_MAX_AGE_DAYS, and only while eSIM Go's shared request budget is idle
(integrations.esimgo.ratelimit.recent_share_used); its calls also count as shopper-side ones, so
they can never use the share kept for provisioning. Each stored bundle drops its own cached plan
pages (page_cache.forget_page); the rest of the storefront is untouched.

A plan page without networks yet simply leaves the section out.
"""

import logging
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.db.models import F, Q
from django.urls import reverse
from django.utils import timezone

from catalog import page_cache
from catalog.models import Bundle, BundleNetworks
from integrations.esimgo import bundle_detail
from integrations.esimgo.client import ESIMGoClient, ESIMGoError, ESIMGoNotFound
from integrations.esimgo.ratelimit import recent_share_used

logger = logging.getLogger(__name__)

# A second at least this full is busy: the run stops and the next one carries on.
BUSY_SHARE = 0.5


@dataclass(frozen=True)
class NetworksRun:
    fetched: int
    failed: int
    left: int  # still due when the run stopped (busy budget, a provider fault, or the batch size)


def due_bundles(limit: int) -> list[Bundle]:
    """Available bundles without networks, or with networks older than the maximum age."""
    stale_before = timezone.now() - timedelta(days=settings.CATALOG_NETWORKS_MAX_AGE_DAYS)
    # Not "changed since": a sync that reprices (exchange rate) touches every bundle, and prices
    # say nothing about networks. A country added to a plan shows without networks until its refresh.
    due = Bundle.objects.filter(is_available=True).filter(
        Q(networks__isnull=True) | Q(networks__fetched_at__lt=stale_before)
    )
    # Never fetched first, then the oldest fetch.
    return list(due.order_by(F("networks__fetched_at").asc(nulls_first=True), "name")[:limit])


def refresh_networks(limit: int | None = None, *, names=None, client=None, is_busy=None) -> NetworksRun:
    """Fetch and store the networks of due bundles (or of the bundles `names`, due or not)."""
    limit = settings.CATALOG_NETWORKS_BATCH if limit is None else limit
    is_busy = is_busy or (lambda: recent_share_used() >= BUSY_SHARE)
    if names is not None:
        bundles = list(Bundle.objects.filter(name__in=list(names)).order_by("name"))
    else:
        bundles = due_bundles(limit)
    own_client = client is None
    client = client or ESIMGoClient(shopper=True)
    fetched = failed = 0
    try:
        for position, bundle in enumerate(bundles):
            if is_busy():
                return NetworksRun(fetched, failed, len(bundles) - position)
            try:
                detail = bundle_detail.fetch_bundle_detail(client, bundle.name)
            except ESIMGoNotFound:
                detail = bundle_detail.BundleDetail(bundle.name, ())  # gone upstream: the next sync retires it
            except ESIMGoError as exc:
                failed += 1
                logger.warning("networks of %s not fetched: %s", bundle.name, exc)
                if exc.transient:  # eSIM Go is struggling: leave the rest to a later run
                    return NetworksRun(fetched, failed, len(bundles) - position - 1)
                continue
            store(bundle, detail)
            fetched += 1
    finally:
        if own_client:
            client.close()
    return NetworksRun(fetched, failed, 0)


def store(bundle: Bundle, detail: bundle_detail.BundleDetail) -> None:
    countries = [
        {"iso": c.iso, "networks": [{"name": n.name, "speeds": list(n.speeds)} for n in c.networks]}
        for c in detail.countries
    ]
    BundleNetworks.objects.update_or_create(
        bundle=bundle, defaults={"countries": countries, "fetched_at": timezone.now()}
    )
    page_cache.forget_page(reverse("catalog:bundle", args=[bundle.name]))


def networks_by_country(bundle: Bundle) -> dict[str, list[dict]]:
    """ISO -> [{"name", "speeds"}] for the plan page; {} when not fetched yet. No query when the
    bundle was read with its networks (selectors.get_bundle(with_networks=True))."""
    try:
        return bundle.networks.by_country()
    except BundleNetworks.DoesNotExist:
        return {}
