"""Benchmark: sync a 5,000-bundle catalogue from mocked eSIM Go pages; bulk sync vs a per-row save() loop.

    .venv/bin/python bench/sync_catalog.py [--bundles 5000] [--database sqlite|postgres] [--json-out FILE]

Database: sqlite (default) = a throwaway SQLite file in a temp dir; postgres = a throwaway database
bench_sync_<pid> on DATABASE_URL's PostgreSQL server (or the local one), created and dropped here.
DEBUG=False as in production (DEBUG's query log would tax the per-row loop's 60,000 queries).
The dev db.sqlite3 and any real cache/Redis are never touched (cache forced to local memory).
eSIM Go's pages are answered in-process by `responses`; fetching and parsing them is part of both
timings, as it is part of every real sync.
"""

import argparse
import json
import os
import random
import shutil
import sys
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench import common  # noqa: E402

parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
parser.add_argument("--bundles", type=int, default=5000)
parser.add_argument("--database", choices=("sqlite", "postgres"), default="sqlite")
parser.add_argument("--json-out", help="write the figures as JSON here (bench/run_all.py reads it)")
ARGS = parser.parse_args()
TMP = tempfile.mkdtemp(prefix="esimshop-sync-bench-")
CLEANUP = ExitStack()
CLEANUP.callback(shutil.rmtree, TMP, ignore_errors=True)
if ARGS.database == "postgres":
    DATABASE_URL = CLEANUP.enter_context(common.throwaway_postgres("sync"))
else:
    DATABASE_URL = f"sqlite:///{TMP}/bench.sqlite3"
os.environ.update(
    DJANGO_SETTINGS_MODULE="esimshop.settings",
    DATABASE_URL=DATABASE_URL,
    REDIS_URL="",
    LOG_LEVEL="WARNING",
    DEBUG="False",
    SECRET_KEY="bench-only-" + os.urandom(32).hex(),
    ESIMGO_BASE_URL="https://api.esim-go.com/v2.4",
    ESIMGO_API_KEY="bench-key",
    ESIMGO_RATE_LIMIT_PER_SECOND="0",
    ESIMGO_CATALOGUE_PAGE_SIZE="1000",
    QPAY_CLIENT_ID="BENCH",
    QPAY_CLIENT_SECRET="bench-secret",
    QPAY_INVOICE_CODE="BENCH_INVOICE",
)

import django  # noqa: E402

django.setup()

import responses  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.db import connection, transaction  # noqa: E402
from django.db.models import Count, Min  # noqa: E402
from django.db.models.functions import Coalesce  # noqa: E402
from django.utils import timezone  # noqa: E402
from django.utils.text import slugify  # noqa: E402
from django_countries import countries as iso_countries  # noqa: E402

from catalog.models import Bundle, BundleCountry, Country, Region  # noqa: E402
from catalog.services import SYNCED_FIELDS, fetch_catalogue, sync_catalog  # noqa: E402

BASE_URL = "https://api.esim-go.com/v2.4/catalogue"
PER_PAGE = 1000
REGIONS = ["Africa", "Asia", "Europe", "Middle East", "North America", "Oceania", "LATAM"]


def make_catalogue(n, seed=42):
    """n bundles shaped like eSIM Go's: single-country ones, plus regional ones with roamingEnabled."""
    rng = random.Random(seed)
    names = dict(list(iso_countries)[:200])
    isos = list(names)
    region_of = {iso: REGIONS[i % len(REGIONS)] for i, iso in enumerate(isos)}
    entry = lambda iso: {"name": str(names[iso]), "region": region_of[iso], "iso": iso}  # noqa: E731
    bundles = []
    for i in range(n):
        days, gb = rng.choice([1, 7, 15, 30, 90]), rng.choice([1, 2, 3, 5, 10, 20, 50])
        unlimited = i % 10 == 0
        if i % 5 == 0:  # regional: several base countries, more via roaming
            picked = rng.sample(isos, 12)
            base, roaming = picked[:4], picked[2:]
        else:
            base, roaming = [rng.choice(isos)], []
        bundles.append(
            {
                "name": f"esim_{'UL' if unlimited else f'{gb}GB'}_{days}D_{base[0]}_{i:05d}_V2",
                "description": f"eSIM, {gb}GB, {days} Days, {base[0]}, V2",
                "groups": ["Standard Unlimited Essential" if unlimited else "Standard Fixed"],
                "countries": [entry(c) for c in base],
                "roamingEnabled": [entry(c) for c in roaming],
                "dataAmount": -1 if unlimited else gb * 1000,
                "duration": days,
                "speed": ["4G", "5G"],
                "autostart": True,
                "unlimited": unlimited,
                "imageUrl": "",
                "billingType": "FixedCost",
                "price": round(rng.uniform(0.5, 60), 2),
            }
        )
    return bundles


def mock_pages(rsps, bundles):
    rsps.reset()
    pages = -(-len(bundles) // PER_PAGE)
    for page in range(1, pages + 1):
        chunk = bundles[(page - 1) * PER_PAGE : page * PER_PAGE]
        rsps.get(
            BASE_URL,
            match=[responses.matchers.query_param_matcher({"page": str(page), "perPage": str(PER_PAGE)})],
            json={"bundles": chunk, "pageCount": pages, "rows": len(bundles), "pageSize": PER_PAGE},
        )


class QueryCounter:
    def __init__(self):
        self.queries = self.writes = 0

    def __call__(self, execute, sql, params, many, context):
        self.queries += 1
        self.writes += sql.lstrip().upper().startswith(("INSERT", "UPDATE", "DELETE"))
        return execute(sql, params, many, context)


def timed(fn):
    counter = QueryCounter()
    with connection.execute_wrapper(counter):
        started, cpu = time.perf_counter(), time.process_time()
        result = fn()
        seconds = time.perf_counter() - started
        counter.cpu = time.process_time() - cpu  # this process only (all of SQLite's work; not PostgreSQL's)
    return result, seconds, counter


def naive_sync():
    """The same upsert, written the obvious way: one save() per row, in one transaction."""
    upstream, _, _ = fetch_catalogue()
    now = timezone.now()
    with transaction.atomic():
        for item in upstream.values():
            countries = {}
            for iso, region_name in (*item.base.items(), *item.roaming.items()):
                region = (
                    Region.objects.get_or_create(name=region_name, defaults={"slug": slugify(region_name)})[0]
                    if region_name
                    else None
                )
                country, _ = Country.objects.get_or_create(iso=iso, defaults={"region": region})
                if region and country.region_id != region.id:
                    country.region = region
                    country.save()
                countries[iso] = country
            bundle = Bundle.objects.filter(name=item.fields["name"]).first() or Bundle(name=item.fields["name"])
            for field in SYNCED_FIELDS:
                setattr(bundle, field, item.fields[field])
            bundle.source_hash, bundle.is_available, bundle.retired_at = item.source_hash, True, None
            bundle.save()
            bundle.coverage.all().delete()
            for iso in item.base:
                BundleCountry(bundle=bundle, country=countries[iso], kind="base").save()
            for iso in item.roaming:
                BundleCountry(bundle=bundle, country=countries[iso], kind="roaming").save()
        for bundle in Bundle.objects.filter(is_available=True).exclude(name__in=list(upstream)):
            bundle.is_available, bundle.retired_at = False, now
            bundle.save()
        stats = (
            BundleCountry.objects.filter(bundle__is_available=True)
            .values("country_id")
            .annotate(
                n=Count("bundle_id"), low=Min(Coalesce("bundle__price_override_mnt", "bundle__computed_price_mnt"))
            )
        )
        by_iso = {row["country_id"]: row for row in stats}
        for country in Country.objects.all():
            row = by_iso.get(country.iso.code, {"n": 0, "low": None})
            country.bundle_count, country.min_price_mnt = row["n"], row["low"]
            country.save()


def wipe():
    with connection.cursor() as cursor:  # raw: Country pks don't sort for Collector.delete()
        for table in ("catalog_bundlecountry", "catalog_bundle", "catalog_country", "catalog_region"):
            cursor.execute(f"DELETE FROM {table}")  # noqa: S608 - fixed table names above


def line(label, seconds, n, counter, extra=""):
    print(
        f"{label:<34} {seconds:7.2f}s  {n / seconds:9,.0f} bundles/s  {counter.cpu:6.2f}s CPU  "
        f"{counter.queries:6,} queries  {counter.writes:6,} writes  {extra}"
    )


def main():
    n = ARGS.bundles
    catalogue = make_catalogue(n)
    try:
        call_command("migrate", verbosity=0)
        print(
            f"database: {connection.vendor} {connection.settings_dict['NAME']} (throwaway); "
            f"{n:,} bundles in {-(-n // PER_PAGE)} pages of {PER_PAGE}"
        )
        with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
            mock_pages(rsps, catalogue)
            result, bulk_first, c1 = timed(sync_catalog)
            line("bulk sync, empty catalogue", bulk_first, n, c1, result.summary())
            mock_pages(rsps, catalogue)
            result, bulk_again, c2 = timed(sync_catalog)
            line("bulk sync, nothing changed", bulk_again, n, c2, result.summary())
            changed = [dict(b, price=round(b["price"] * 1.1, 2)) if i % 10 == 0 else b for i, b in enumerate(catalogue)]
            mock_pages(rsps, changed[:-50])
            result, bulk_some, c3 = timed(sync_catalog)
            line("bulk sync, 10% repriced, 50 gone", bulk_some, n, c3, result.summary())

            wipe()
            mock_pages(rsps, catalogue)
            _, naive_first, c4 = timed(naive_sync)
            line("per-row save(), empty catalogue", naive_first, n, c4)
            mock_pages(rsps, catalogue)
            _, naive_again, c5 = timed(naive_sync)
            line("per-row save(), nothing changed", naive_again, n, c5)
        print(
            f"ratio per-row save() / bulk: empty catalogue {naive_first / bulk_first:.1f}x, "
            f"nothing changed {naive_again / bulk_again:.1f}x (wall clock); this process's CPU: "
            f"{c4.cpu / c1.cpu:.1f}x and {c5.cpu / c2.cpu:.1f}x"
        )
        if ARGS.json_out:
            Path(ARGS.json_out).write_text(
                json.dumps(
                    {
                        "database": connection.vendor,
                        "bundles": n,
                        "bulk_first_s": bulk_first,
                        "bulk_unchanged_s": bulk_again,
                        "bulk_repriced_s": bulk_some,
                        "naive_first_s": naive_first,
                        "naive_unchanged_s": naive_again,
                        "ratio_first": naive_first / bulk_first,
                        "ratio_unchanged": naive_again / bulk_again,
                        "cpu_ratio_first": c4.cpu / c1.cpu,
                        "cpu_ratio_unchanged": c5.cpu / c2.cpu,
                        "bulk_first_queries": c1.queries,
                        "naive_first_queries": c4.queries,
                    },
                    indent=2,
                )
            )
    finally:
        connection.close()
        CLEANUP.close()


if __name__ == "__main__":
    main()
