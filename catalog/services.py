"""Catalogue sync: eSIM Go `GET /catalogue` → Region, Country, Bundle, BundleCountry.

All or nothing: every page is fetched before anything is written, then everything is applied in
one transaction. A provider fault or a malformed page leaves the catalogue in its last good state
(no bundle wrongly retired) and the next run simply starts over.

Writes are bulk and minimal: each bundle carries a hash of what we store for it (payload plus
retail price), so a re-sync with nothing changed performs no INSERT/UPDATE/DELETE at all, and the
number of queries grows with the number of batches, not of bundles.
"""

import hashlib
import json
import logging
import re
import time
import uuid
from collections import defaultdict
from contextlib import contextmanager
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from itertools import islice

import requests
from django.conf import settings
from django.core.cache import cache
from django.db import IntegrityError, connection, transaction
from django.db.models import Count, Min
from django.db.models.functions import Coalesce
from django.utils import timezone
from django.utils.text import slugify

from catalog.models import Bundle, BundleCountry, Country, Region
from catalog.page_warming import catalogue_changed
from catalog.pricing import retail_price_mnt
from integrations.esimgo import answers as esimgo_answers
from integrations.esimgo import client as esimgo

logger = logging.getLogger(__name__)

BATCH_SIZE = 500
SYNC_LOCK_KEY = "catalog:sync-lock"
SYNC_LOCK_SECONDS = 30 * 60  # longer than any sync; expires if a worker dies holding it
ISO_RE = re.compile(r"^[A-Z]{2}$")
PRICE_QUANTUM = Decimal("0.0001")  # Bundle.price has 4 decimal places
# Fields a sync rewrites on a changed bundle; never name, price_override_mnt or first_seen_at.
SYNCED_FIELDS = [
    "description",
    "groups",
    "data_amount_mb",
    "duration_days",
    "unlimited",
    "speed",
    "autostart",
    "image_url",
    "billing_type",
    "price",
    "currency",
    "computed_price_mnt",
]


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
                counts = _apply(bundles)
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


# ---------------------------------------------------------------- apply (one transaction)


def _apply(upstream: dict) -> dict:
    now = timezone.now()
    existing = {
        name: (pk, h, avail)
        for pk, name, h, avail in Bundle.objects.values_list("id", "name", "source_hash", "is_available")
    }
    to_retire = [pk for name, (pk, _, avail) in existing.items() if avail and name not in upstream]
    if not upstream and to_retire:
        raise CatalogueSyncError(f"eSIM Go returned an empty catalogue; refusing to retire every bundle.{_KEPT}")

    countries_written = _upsert_countries(upstream.values())
    new = [b for name, b in upstream.items() if name not in existing]
    changed = {
        existing[name][0]: b
        for name, b in upstream.items()
        if name in existing and (existing[name][1] != b.source_hash or not existing[name][2])
    }

    _insert_bundles(new, now)
    _update_changed(changed, now)
    _rewrite_coverage({**_ids_of(new), **changed})
    for ids in _batches(to_retire):
        Bundle.objects.filter(id__in=ids).update(is_available=False, retired_at=now, updated_at=now)
    stats_written = refresh_country_stats()
    if new or changed or to_retire or countries_written or stats_written:
        # Cached storefront pages show the old catalogue until the new one's are warm (after commit).
        catalogue_changed()
    return {
        "created": len(new),
        "updated": len(changed),
        "retired": len(to_retire),
        "unchanged": len(upstream) - len(new) - len(changed),
    }


def _update_changed(changed: dict, now):
    """bulk_update grouped by the columns that really differ: a repricing rewrites 4 columns, not 16
    (Django builds a CASE expression per column and row, which dominates the cost of an update)."""
    groups = defaultdict(list)
    for ids in _batches(list(changed)):
        for row in Bundle.objects.filter(id__in=ids).values("id", "is_available", *SYNCED_FIELDS):
            b = changed[row["id"]]
            columns = tuple(f for f in SYNCED_FIELDS if row[f] != b.fields[f])
            if not row["is_available"]:
                columns += ("is_available", "retired_at")
            groups[columns].append(
                Bundle(
                    id=row["id"],
                    **b.fields,
                    source_hash=b.source_hash,
                    is_available=True,
                    retired_at=None,
                    updated_at=now,
                )
            )
    for columns, bundles in groups.items():
        Bundle.objects.bulk_update(bundles, [*columns, "source_hash", "updated_at"], batch_size=BATCH_SIZE)


def _upsert_countries(bundles) -> int:
    """Create missing regions/countries; move a country to another region only if upstream says so.

    Returns how many rows it created or moved."""
    wanted = {}  # iso -> region name (first non-empty wins)
    for b in bundles:
        for iso, region in (*b.base.items(), *b.roaming.items()):
            if not wanted.get(iso):
                wanted[iso] = region
    regions = dict(Region.objects.values_list("name", "id"))
    missing = sorted({r for r in wanted.values() if r and r not in regions})
    if missing:
        slugs = set(Region.objects.values_list("slug", flat=True))
        Region.objects.bulk_create([Region(name=r, slug=_unique_slug(r, slugs)) for r in missing])
        regions = dict(Region.objects.values_list("name", "id"))

    current = dict(Country.objects.values_list("iso", "region_id"))
    added = [Country(iso=iso, region_id=regions.get(r)) for iso, r in wanted.items() if iso not in current]
    Country.objects.bulk_create(added, batch_size=BATCH_SIZE, ignore_conflicts=True)
    moved = [
        Country(iso=iso, region_id=regions[r])
        for iso, r in wanted.items()
        if iso in current and r and current[iso] != regions[r]
    ]
    Country.objects.bulk_update(moved, ["region"], batch_size=BATCH_SIZE)
    return len(missing) + len(added) + len(moved)


def _unique_slug(name, taken) -> str:
    base = slugify(name)[:56] or "region"
    slug, n = base, 1
    while slug in taken:
        n += 1
        slug = f"{base}-{n}"
    taken.add(slug)
    return slug


def _insert_bundles(new, now) -> None:
    """INSERT new bundles with executemany: every column's value prepared by its own field
    (get_db_prep_save, as bulk_create does), defaults and auto_now(_add) timestamps included, but
    without a model instance per row and an SQL compilation per batch, which made bulk_create
    cost more than the database work (profiled: a third of a 5,000-bundle first sync on SQLite,
    where a batch holds only ~50 rows). No signals either way."""
    meta = Bundle._meta
    fields = [f for f in meta.concrete_fields if not f.primary_key]
    shared = {  # the same for every new row: defaults and the sync's timestamp
        f.name: now if getattr(f, "auto_now", False) or getattr(f, "auto_now_add", False) else f.get_default()
        for f in fields
    }
    prepared_shared = {f.name: f.get_db_prep_save(shared[f.name], connection) for f in fields}
    rows = []
    for b in new:
        values = {**b.fields, "source_hash": b.source_hash}
        rows.append(
            [
                f.get_db_prep_save(values[f.name], connection) if f.name in values else prepared_shared[f.name]
                for f in fields
            ]
        )
    quote = connection.ops.quote_name
    sql = (
        f"INSERT INTO {quote(meta.db_table)} ({', '.join(quote(f.column) for f in fields)}) "  # noqa: S608 - quoted model column names; values are bound parameters
        f"VALUES ({', '.join(['%s'] * len(fields))})"
    )
    with connection.cursor() as cursor:
        for batch in _batches(rows, 5000):
            cursor.executemany(sql, batch)


def _ids_of(new) -> dict:
    """{pk: UpstreamBundle} for the rows just inserted (executemany returns no ids)."""
    by_name = {b.fields["name"]: b for b in new}
    ids = {}
    for names in _batches(list(by_name)):
        ids.update({pk: by_name[n] for pk, n in Bundle.objects.filter(name__in=names).values_list("id", "name")})
    return ids


def _rewrite_coverage(bundles: dict):
    """Make BundleCountry rows of these bundles match upstream, touching only rows that differ."""
    wanted = {
        (pk, iso): kind
        for pk, b in bundles.items()
        for kind, isos in ((BundleCountry.Kind.BASE, b.base), (BundleCountry.Kind.ROAMING, b.roaming))
        for iso in isos
    }
    stale = []
    for ids in _batches(list(bundles)):
        for row_id, pk, iso, kind in BundleCountry.objects.filter(bundle_id__in=ids).values_list(
            "id", "bundle_id", "country_id", "kind"
        ):
            if wanted.get((pk, iso)) == kind:
                del wanted[(pk, iso)]  # already right
            else:
                stale.append(row_id)
    for ids in _batches(stale):
        BundleCountry.objects.filter(id__in=ids).delete()
    _insert_coverage([(pk, iso, kind) for (pk, iso), kind in wanted.items()])


def _insert_coverage(rows):
    """INSERT (bundle_id, country_id, kind) rows with executemany. A first sync writes ~3 rows per
    bundle; bulk_create would build a model instance and prepare three values through the ORM for
    each, which cost more than the database work itself (profiled: ~half of a 5,000-bundle first
    sync). Three plain values per row need none of that; bulk_create sends no signals either."""
    meta = BundleCountry._meta
    quote = connection.ops.quote_name
    columns = ", ".join(quote(meta.get_field(name).column) for name in ("bundle", "country", "kind"))
    sql = f"INSERT INTO {quote(meta.db_table)} ({columns}) VALUES (%s, %s, %s)"  # noqa: S608 - quoted model column names; values are bound parameters
    with connection.cursor() as cursor:
        for batch in _batches(rows, 5000):
            cursor.executemany(sql, batch)


def refresh_country_stats() -> int:
    """Recompute Country.bundle_count / min_price_mnt from available bundles; write only changed rows."""
    stats = {
        row["country_id"]: (row["n"], row["low"])
        for row in BundleCountry.objects.filter(bundle__is_available=True)
        .values("country_id")
        .annotate(n=Count("bundle_id"), low=Min(Coalesce("bundle__price_override_mnt", "bundle__computed_price_mnt")))
    }
    changed = [
        Country(iso=iso, bundle_count=stats.get(iso, (0, None))[0], min_price_mnt=stats.get(iso, (0, None))[1])
        for iso, count, low in Country.objects.values_list("iso", "bundle_count", "min_price_mnt")
        if (count, low) != stats.get(iso, (0, None))
    ]
    Country.objects.bulk_update(changed, ["bundle_count", "min_price_mnt"], batch_size=BATCH_SIZE)
    return len(changed)


def _batches(items, size=BATCH_SIZE):
    it = iter(items)
    while chunk := list(islice(it, size)):
        yield chunk
