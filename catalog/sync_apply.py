"""Catalogue sync, the write half: a fetched catalogue (catalog/services.py) → Region, Country,
Bundle, BundleCountry, in bulk and minimal.

Each bundle carries a hash of what we store for it (payload plus retail price), so a re-sync with
nothing changed performs no INSERT/UPDATE/DELETE at all, and the number of queries grows with the
number of batches, not of bundles.
"""

from collections import defaultdict
from itertools import islice

from django.db import connection
from django.db.models import Count, Min
from django.db.models.functions import Coalesce
from django.utils import timezone
from django.utils.text import slugify

from catalog.models import Bundle, BundleCountry, Country, Region
from catalog.page_warming import catalogue_changed

BATCH_SIZE = 500
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


def apply_catalogue(upstream: dict) -> dict:
    """{name: UpstreamBundle} → the database; returns the counts for SyncResult. Run it inside the
    sync's transaction: a fault part-way must leave the catalogue as it was."""
    now = timezone.now()
    existing = {
        name: (pk, h, avail)
        for pk, name, h, avail in Bundle.objects.values_list("id", "name", "source_hash", "is_available")
    }
    to_retire = [pk for name, (pk, _, avail) in existing.items() if avail and name not in upstream]

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
