"""Top-ups: bundles eSIM Go says fit an existing eSIM, and starting their purchase.

eSIM Go buys from several networks, so not every bundle can go onto an existing eSIM:
only bundles for which GET /esims/<iccid>/compatible/<bundle> says yes are offered, and the
order is placed with iccids [iccid] + allowReassign false (see orders.provisioning).
Each check is one eSIM Go call: results are cached and at most `topup_max_checks` are made
per page view.
"""

import logging
from dataclasses import dataclass, field

from django.core.cache import cache
from django.db.models import F
from django.db.models.functions import Coalesce

from catalog.models import Bundle, BundleCountry
from integrations.esimgo.client import ESIMGoClient, ESIMGoError
from orders import conf

logger = logging.getLogger(__name__)


@dataclass
class TopupOptions:
    bundles: list = field(default_factory=list)
    unavailable: bool = False  # eSIM Go could not be asked (show "try again later")


def _cache_key(iccid, bundle_name) -> str:
    return f"orders:compatible:{iccid}:{bundle_name}"


def candidate_bundles(base_bundle) -> list[Bundle]:
    """Available bundles for the base bundle's countries, cheapest first, the same bundle first."""
    countries = list(
        BundleCountry.objects.filter(bundle=base_bundle, kind=BundleCountry.Kind.BASE).values_list(
            "country_id", flat=True
        )
    )
    if not countries:
        return [base_bundle] if base_bundle.is_available else []
    queryset = (
        Bundle.objects.filter(
            is_available=True, coverage__country_id__in=countries, coverage__kind=BundleCountry.Kind.BASE
        )
        .annotate(retail=Coalesce(F("price_override_mnt"), F("computed_price_mnt")))
        .distinct()
        .order_by("retail", "duration_days", "name")
    )
    bundles = list(queryset[:100])
    bundles.sort(key=lambda b: b.pk != base_bundle.pk)  # stable: keeps price order for the rest
    return bundles


def compatible_bundles(iccid, base_bundle, *, client=None) -> TopupOptions:
    options = TopupOptions()
    checks = 0
    client = client or ESIMGoClient()
    for bundle in candidate_bundles(base_bundle):
        key = _cache_key(iccid, bundle.name)
        known = cache.get(key)
        if known is None:
            if checks >= conf.topup_max_checks() or options.unavailable:
                continue
            checks += 1
            try:
                known = client.is_compatible(iccid, bundle.name)
            except ESIMGoError as exc:
                logger.warning("compatibility of %s with %s unknown: %s", bundle.name, iccid, exc)
                if exc.transient:
                    options.unavailable = True
                continue
            cache.set(key, known, conf.compatibility_cache_seconds())
        if known:
            options.bundles.append(bundle)
    return options


def is_offered(iccid, base_bundle, bundle_name, *, client=None) -> Bundle | None:
    """The bundle if it is a compatible top-up for this eSIM (re-checked server-side on purchase)."""
    for bundle in compatible_bundles(iccid, base_bundle, client=client).bundles:
        if bundle.name == bundle_name:
            return bundle
    return None
