"""Catalogue sync: eSIM Go `GET /catalogue` → Region, Country, Bundle, BundleCountry.

All or nothing: every page is fetched and checked here before anything is written, then
catalog/sync_apply.py applies everything in one transaction (bulk and minimal writes). A provider
fault or a malformed page leaves the catalogue in its last good state (no bundle wrongly retired)
and the next run simply starts over.
"""

import hashlib
import json
import logging
import re
import time
import uuid
from contextlib import contextmanager
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

import requests
from django.conf import settings
from django.core.cache import cache
from django.db import IntegrityError, transaction

from catalog.models import Bundle
from catalog.pricing import retail_price_mnt
from catalog.sync_apply import (
    SYNCED_FIELDS,  # noqa: F401 - bench/sync_catalog.py imports it from here
    apply_catalogue,
    refresh_country_stats,  # noqa: F401 - bench/warm_pages.py imports it from here
)
from integrations.esimgo import answers as esimgo_answers
from integrations.esimgo import client as esimgo

logger = logging.getLogger(__name__)

SYNC_LOCK_KEY = "catalog:sync-lock"
SYNC_LOCK_SECONDS = 30 * 60  # longer than any sync; expires if a worker dies holding it
ISO_RE = re.compile(r"^[A-Z]{2}$")
PRICE_QUANTUM = Decimal("0.0001")  # Bundle.price has 4 decimal places


class CatalogueSyncError(Exception):
    """The sync stopped and changed nothing; the message says why, for a person to read."""


class SyncAlreadyRunning(CatalogueSyncError):
    pass


@dataclass(frozen=True)
class SyncResult:
    created: int
    updated: int
    unchanged: int
    retired: int
    pages: int
    fetched: int
    seconds: float

    def summary(self) -> str:
        return (
            f"created {self.created}, updated {self.updated}, unchanged {self.unchanged}, "
            f"retired {self.retired} in {self.seconds:.2f}s"
        )


@dataclass
class UpstreamBundle:
    fields: dict  # Bundle field values (SYNCED_FIELDS)
    base: dict  # iso -> region name, countries the bundle is sold for
    roaming: dict  # iso -> region name, extra countries via roamingEnabled (base excluded)
    source_hash: str


# ---------------------------------------------------------------- entry point


def sync_catalog(progress=None) -> SyncResult:
    """Fetch the whole catalogue, then apply it. `progress(pages, page_count, fetched)` after each page."""
    started = time.monotonic()
    with sync_lock():
        bundles, pages, fetched = fetch_catalogue(progress)
        try:
            with transaction.atomic():
                if not bundles and Bundle.objects.filter(is_available=True).exists():
                    raise CatalogueSyncError(
                        f"eSIM Go returned an empty catalogue; refusing to retire every bundle.{_KEPT}"
                    )
                counts = apply_catalogue(bundles)
        except IntegrityError as exc:  # only if a sync ran without the lock (e.g. two dev processes, no Redis)
            raise CatalogueSyncError(
                f"Another process changed the catalogue during the sync; run it again.{_KEPT}"
            ) from exc
    return SyncResult(**counts, pages=pages, fetched=fetched, seconds=time.monotonic() - started)


@contextmanager
def sync_lock():
    """Two syncs never overlap (beat + a manual run): a cache lock shared by all processes."""
    token = uuid.uuid4().hex
    if not cache.add(SYNC_LOCK_KEY, token, SYNC_LOCK_SECONDS):
        raise SyncAlreadyRunning("Another catalogue sync is running; nothing was changed.")
    try:
        yield
    finally:
        if cache.get(SYNC_LOCK_KEY) == token:
            cache.delete(SYNC_LOCK_KEY)


# ---------------------------------------------------------------- fetch (no writes)


def fetch_catalogue(progress=None) -> tuple[dict, int, int]:
    """Every page, parsed and checked; returns ({name: UpstreamBundle}, pages, bundles fetched)."""
    client = esimgo.ESIMGoClient()
    bundles, pages, fetched, page_count, rows = {}, 0, 0, None, 0
    try:
        for page in client.iter_catalogue(per_page=settings.ESIMGO_CATALOGUE_PAGE_SIZE):
            for raw in page.bundles:
                item = _parse(raw)
                bundles[item.fields["name"]] = item  # a name repeated across pages: the latest wins
            pages += 1
            fetched += len(page.bundles)
            page_count = page.page_count or page_count
            rows = max(rows, page.rows or 0)
            if progress:
                progress(pages, page_count, fetched)
    except esimgo.ESIMGoError as exc:
        raise CatalogueSyncError(_describe(exc, pages + 1)) from exc
    except requests.RequestException as exc:  # the client should wrap these; belt and braces
        raise CatalogueSyncError(
            f"eSIM Go could not be reached on page {pages + 1} ({exc.__class__.__name__}).{_KEPT}"
        ) from exc

    if page_count and pages < page_count:
        raise CatalogueSyncError(f"eSIM Go announced {page_count} pages but only {pages} arrived.{_KEPT}")
    if len(bundles) < rows:
        raise CatalogueSyncError(
            f"eSIM Go announced {rows} bundles but only {len(bundles)} distinct ones arrived "
            f"(the catalogue changed while it was being read?).{_KEPT}"
        )
    return bundles, pages, fetched


_KEPT = " Nothing was changed; the catalogue keeps its last good state."


def _describe(exc, page_no) -> str:
    where = f"on page {page_no}"
    if isinstance(exc, esimgo.ESIMGoAuthError):
        what = f"eSIM Go refused the API key {where} (HTTP {exc.status}); check ESIMGO_API_KEY."
    elif isinstance(exc, esimgo.ESIMGoRateLimited):
        after = f"; retry after {exc.retry_after}s" if exc.retry_after else ""
        what = f"eSIM Go kept rate-limiting the sync {where} (HTTP 429){after}."
    elif isinstance(exc, esimgo.ESIMGoMalformedResponse):
        what = f"eSIM Go returned a malformed catalogue page {where}: {exc}."
    elif isinstance(exc, esimgo.ESIMGoUnavailable):
        status = f"HTTP {exc.status}" if exc.status else "timeout or connection error"
        what = f"eSIM Go is unavailable {where} ({status}) after retries."
    else:
        what = f"eSIM Go error {where}: {exc}."
    return what + _KEPT


def _parse(bundle: esimgo_answers.CatalogueBundle) -> UpstreamBundle:
    """A parsed catalogue bundle (integrations.esimgo.answers) → what we store; strict on bad values."""
    name = bundle.name
    try:
        price = bundle.price.quantize(PRICE_QUANTUM)
    except InvalidOperation as exc:  # more digits than Bundle.price can hold
        raise CatalogueSyncError(f"Malformed bundle {name!r} ({exc!r}).{_KEPT}") from exc
    fields = {
        "name": name,
        "description": bundle.description[:512],
        "groups": list(bundle.groups),
        "data_amount_mb": bundle.data_amount_mb,
        "duration_days": bundle.duration_days,
        "unlimited": bundle.unlimited,
        "speed": list(bundle.speed),
        "autostart": bundle.autostart,
        "image_url": _fit(bundle.image_url, 512),
        "billing_type": bundle.billing_type[:32],
        "price": price,
        "currency": bundle.currency or "USD",
    }
    base = _coverage(bundle.countries)
    roaming = {iso: region for iso, region in _coverage(bundle.roaming).items() if iso not in base}

    problem = _implausible(fields)
    if problem:
        raise CatalogueSyncError(f"Bundle {name[:140]!r}: {problem}.{_KEPT}")
    fields["computed_price_mnt"] = retail_price_mnt(price)
    digest = json.dumps(
        {**fields, "price": str(price), "base": sorted(base), "roaming": sorted(roaming)}, sort_keys=True
    )
    return UpstreamBundle(fields, base, roaming, hashlib.sha256(digest.encode()).hexdigest())


def _implausible(fields) -> str:
    """Values the database (or the pricing) cannot take; one bad bundle stops the whole sync."""
    if not fields["name"] or len(fields["name"]) > 128:
        return "name missing or longer than 128 characters"
    if fields["duration_days"] < 0 or fields["data_amount_mb"] < -1:
        return "negative duration or data amount"
    if not 0 <= fields["price"] < 10**8:
        return f"price {fields['price']} out of range"
    if fields["currency"] != "USD":
        return f"priced in {fields['currency']}, but retail prices are computed from USD (QPAY_USD_TO_MNT_RATE)"
    return ""


def _fit(value, max_length) -> str:
    value = str(value or "")
    return value if len(value) <= max_length else ""  # a truncated URL is worse than none


def _coverage(entries: tuple[esimgo_answers.Country, ...]) -> dict:
    """Countries → {ISO: region}; entries without a usable ISO code are skipped."""
    result = {}
    for entry in entries:
        if ISO_RE.match(entry.iso):
            result.setdefault(entry.iso, entry.region[:64])
        else:
            logger.warning("catalogue sync: skipping country entry without ISO code: %r", entry)
    return result
