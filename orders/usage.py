"""Data left / expiry of an eSIM from eSIM Go (GET /esims/<iccid>/bundles), cached a few minutes.

When eSIM Go is down the page must still render: `get_usage` never raises; it returns
`available=False` with the last known figures (if any), and for a minute stops asking
eSIM Go at all so a list of eSIMs does not wait on one timeout per eSIM.
"""

import logging
from dataclasses import asdict, dataclass, field

from django.core.cache import cache
from django.utils import timezone

from integrations.esimgo.answers import EsimBundle
from integrations.esimgo.client import ESIMGoClient, ESIMGoError
from integrations.esimgo.values import parse_time
from orders import conf

logger = logging.getLogger(__name__)

DOWN_KEY = "orders:esimgo-usage-down"
# Current bundles first: the one in use, then waiting ones, then finished ones.
STATE_ORDER = {"active": 0, "processing": 1, "queued": 2, "depleted": 3, "expired": 4, "lapsed": 5, "revoked": 6}


def _cache_key(iccid) -> str:
    return f"orders:usage:{iccid}"


def _last_known_key(iccid) -> str:
    return f"orders:usage-last:{iccid}"


@dataclass
class BundleUsage:
    name: str
    state: str
    initial_bytes: int | None
    remaining_bytes: int | None
    unlimited: bool
    start_time: str = ""
    end_time: str = ""
    assignment_id: str = ""

    @property
    def used_percent(self) -> int | None:
        if self.unlimited or not self.initial_bytes or self.remaining_bytes is None:
            return None
        used = self.initial_bytes - max(self.remaining_bytes, 0)
        return max(0, min(100, (used * 100) // self.initial_bytes))

    @property
    def state_display(self) -> str:
        from django.utils.translation import gettext as _

        names = {
            "active": _("In use"),
            "processing": _("Being activated"),
            "queued": _("Waiting for first use"),
            "depleted": _("Data used up"),
            "expired": _("Expired"),
            "lapsed": _("Expired unused"),
            "revoked": _("Removed"),
        }
        return names.get(self.state, self.state)

    @property
    def remaining_display(self) -> str:
        from django.utils.translation import gettext as _

        if self.unlimited:
            return _("Unlimited")
        return format_bytes(self.remaining_bytes or 0)

    @property
    def initial_display(self) -> str:
        return format_bytes(self.initial_bytes or 0)

    @property
    def end(self):
        return parse_time(self.end_time)


@dataclass
class Usage:
    available: bool
    bundles: list[BundleUsage] = field(default_factory=list)
    fetched_at: str = ""
    stale: bool = False  # True when showing last known figures because eSIM Go is down

    @property
    def current(self) -> BundleUsage | None:
        return self.bundles[0] if self.bundles else None


def format_bytes(value: int) -> str:
    """Decimal units as eSIM Go counts them (1 GB = 10^9 bytes)."""
    from django.utils.translation import gettext as _

    value = max(int(value or 0), 0)
    if value >= 10**9:
        return _("%(amount)s GB") % {"amount": f"{value / 10**9:.2f}".rstrip("0").rstrip(".")}
    return _("%(amount)s MB") % {"amount": f"{value / 10**6:.0f}"}


def _from_answers(bundles: tuple[EsimBundle, ...]) -> list[BundleUsage]:
    result = [
        BundleUsage(
            name=bundle.name,
            state=assignment.state,
            initial_bytes=assignment.initial_bytes,
            remaining_bytes=assignment.remaining_bytes,
            unlimited=assignment.unlimited,
            start_time=assignment.start_time,
            end_time=assignment.end_time,
            assignment_id=assignment.id,
        )
        for bundle in bundles
        for assignment in bundle.assignments
    ]
    result.sort(key=lambda b: (STATE_ORDER.get(b.state, 9), b.end_time or "~"))
    return result


def _serialise(usage: Usage) -> dict:
    return asdict(usage)


def _deserialise(data: dict) -> Usage:
    return Usage(
        available=data["available"],
        bundles=[BundleUsage(**b) for b in data.get("bundles", [])],
        fetched_at=data.get("fetched_at", ""),
        stale=data.get("stale", False),
    )


def store_usage(iccid, bundles: list[BundleUsage]) -> Usage:
    usage = Usage(available=True, bundles=bundles, fetched_at=timezone.now().isoformat())
    data = _serialise(usage)
    cache.set(_cache_key(iccid), data, conf.usage_cache_seconds())
    cache.set(_last_known_key(iccid), data, 30 * 24 * 3600)
    return usage


def get_usage(iccid, *, refresh=False, client=None) -> Usage:
    if not refresh:
        cached = cache.get(_cache_key(iccid))
        if cached:
            return _deserialise(cached)
        if cache.get(DOWN_KEY):
            return _unavailable(iccid)
    try:
        bundles = (client or ESIMGoClient()).get_esim_bundles(iccid, include_used=True)
    except ESIMGoError as exc:
        logger.warning("usage for %s unavailable: %s", iccid, exc)
        if exc.transient:
            cache.set(DOWN_KEY, True, conf.esimgo_down_seconds())
        return _unavailable(iccid)
    return store_usage(iccid, _from_answers(bundles))


def _unavailable(iccid) -> Usage:
    last = cache.get(_last_known_key(iccid))
    if last:
        usage = _deserialise(last)
        usage.available, usage.stale = False, True
        return usage
    return Usage(available=False)


def apply_callback_bundle(iccid, bundle: dict) -> None:
    """Fold a usage callback's bundle figures into the cached usage (used when a refresh failed)."""
    update = BundleUsage(
        name=str(bundle.get("name") or ""),
        state=str(bundle.get("state") or "active").lower(),
        initial_bytes=bundle.get("initialQuantity"),
        remaining_bytes=bundle.get("remainingQuantity"),
        unlimited=bool(bundle.get("unlimited")),
        start_time=str(bundle.get("startTime") or ""),
        end_time=str(bundle.get("endTime") or ""),
        assignment_id=str(bundle.get("id") or ""),
    )
    current = cache.get(_last_known_key(iccid))
    bundles = _deserialise(current).bundles if current else []
    bundles = [b for b in bundles if not (b.assignment_id and b.assignment_id == update.assignment_id)]
    bundles = [b for b in bundles if not (not update.assignment_id and b.name == update.name and b.state == "active")]
    bundles.insert(0, update)
    store_usage(iccid, bundles)
