"""Catalogue sync end to end: mocked eSIM Go pages → real client → sync service → database."""

import re
from decimal import Decimal

import pytest
import requests
from django.db import connection
from django.test.utils import CaptureQueriesContext

from catalog.models import Bundle, BundleCountry, Country, Region
from catalog.services import CatalogueSyncError, SyncAlreadyRunning, sync_catalog, sync_lock
from integrations.esimgo.client import ESIMGoClient

from .catalogue_payloads import mock_catalogue, raw_bundle
from .factories import BundleFactory

PER_PAGE = 2


@pytest.fixture(autouse=True)
def _sync_settings(settings, monkeypatch):
    settings.ESIMGO_CATALOGUE_PAGE_SIZE = PER_PAGE
    settings.ESIMGO_RATE_LIMIT_PER_SECOND = 0  # the limiter has its own tests; don't wait for windows here
    settings.QPAY_USD_TO_MNT_RATE = Decimal("3450")
    settings.PRICE_MARKUP_PERCENT = Decimal("25")
    settings.PRICE_ROUNDING_STEP_MNT = 100
    monkeypatch.setattr(ESIMGoClient, "backoff_base", 0)  # retries without waiting
    monkeypatch.setattr(ESIMGoClient, "backoff_max", 0)


def catalogue():
    return [
        raw_bundle("esim_1GB_7D_MN_V2", countries=["MN"], price=4.35),
        raw_bundle("esim_3GB_30D_MN_V2", countries=["MN"], data_mb=3000, days=30, price=9.99),
        raw_bundle("esim_UL_7D_JP_V2", countries=["JP"], unlimited=True, price=17.6),
        raw_bundle("esim_5GB_15D_RAS_V2", countries=["JP", "KR", "CN"], roaming=["JP", "MN"], data_mb=5000, price=12),
        raw_bundle("esim_10GB_30D_REUP_V2", countries=["DE", "FR"], roaming=["GB"], data_mb=10000, days=30, price=20.5),
    ]


def writes(ctx):
    # Django logs an executemany() as "<n> times: <sql>" (the coverage INSERTs): read the statement.
    statements = [re.sub(r"^\d+ times: ", "", q["sql"].lstrip()) for q in ctx.captured_queries]
    return [sql for sql in statements if sql.upper().startswith(("INSERT", "UPDATE", "DELETE"))]


def snapshot():
    return (
        list(Bundle.objects.order_by("name").values()),
        list(BundleCountry.objects.order_by("bundle__name", "country").values_list("bundle__name", "country", "kind")),
        list(Country.objects.order_by("iso").values()),
        list(Region.objects.order_by("name").values()),
    )


def coverage(name):
    return dict(BundleCountry.objects.filter(bundle__name=name).values_list("country", "kind"))


def test_first_sync_reads_every_page_and_creates_everything(db, mocked_responses):
    assert mock_catalogue(mocked_responses, catalogue(), PER_PAGE) == 3
    seen = []

    result = sync_catalog(progress=lambda *args: seen.append(args))

    assert (result.created, result.updated, result.unchanged, result.retired) == (5, 0, 0, 0)
    assert (result.pages, result.fetched) == (3, 5)
    assert seen == [(1, 3, 2), (2, 3, 4), (3, 3, 5)]
    assert mocked_responses.calls[0].request.headers["X-API-Key"] == "test-esimgo-key"

    bundle = Bundle.objects.get(name="esim_1GB_7D_MN_V2")
    assert bundle.price == Decimal("4.3500") and bundle.currency == "USD"
    assert bundle.computed_price_mnt == 18800  # 4.35 × 3450 × 1.25 = 18759.375 → 18,800
    assert (bundle.data_amount_mb, bundle.duration_days, bundle.unlimited) == (1000, 7, False)
    assert bundle.groups == ["Standard Fixed"] and bundle.speed == ["4G", "5G"] and bundle.autostart
    assert bundle.is_available and bundle.retired_at is None and len(bundle.source_hash) == 64
    unlimited = Bundle.objects.get(name="esim_UL_7D_JP_V2")
    assert (unlimited.data_amount_mb, unlimited.unlimited, unlimited.computed_price_mnt) == (-1, True, 75900)

    assert set(Region.objects.values_list("name", "slug")) == {("Asia", "asia"), ("Europe", "europe")}
    assert dict(Country.objects.values_list("iso", "region__name")) == {
        "MN": "Asia",
        "JP": "Asia",
        "KR": "Asia",
        "CN": "Asia",
        "DE": "Europe",
        "FR": "Europe",
        "GB": "Europe",
    }


def test_roaming_coverage_excludes_base_countries_and_counts_for_the_country(db, mocked_responses):
    mock_catalogue(mocked_responses, catalogue(), PER_PAGE)
    sync_catalog()

    # roamingEnabled lists JP (already a base country) and MN: only MN becomes a roaming row.
    assert coverage("esim_5GB_15D_RAS_V2") == {"JP": "base", "KR": "base", "CN": "base", "MN": "roaming"}
    assert coverage("esim_10GB_30D_REUP_V2") == {"DE": "base", "FR": "base", "GB": "roaming"}
    stats = {c.iso.code: (c.bundle_count, c.min_price_mnt) for c in Country.objects.all()}
    assert stats["MN"] == (3, 18800)  # two MN bundles + the Asia bundle via roaming
    assert stats["JP"] == (2, 51800)  # 12 × 3450 × 1.25 = 51,750 → 51,800 (cheaper than the 75,900 unlimited)
    assert stats["GB"] == (1, 88500)  # 20.5 × 3450 × 1.25 = 88,406.25 → 88,500


def test_resync_with_nothing_changed_performs_zero_writes(db, mocked_responses):
    mock_catalogue(mocked_responses, catalogue(), PER_PAGE)
    sync_catalog()
    before = snapshot()

    mock_catalogue(mocked_responses, catalogue(), PER_PAGE)
    with CaptureQueriesContext(connection) as ctx:
        result = sync_catalog()

    assert writes(ctx) == []
    assert (result.created, result.updated, result.unchanged, result.retired) == (0, 0, 5, 0)
    assert snapshot() == before


def test_bundle_order_within_upstream_lists_does_not_count_as_a_change(db, mocked_responses):
    mock_catalogue(mocked_responses, catalogue(), PER_PAGE)
    sync_catalog()
    shuffled = catalogue()
    shuffled[3]["countries"].reverse()
    shuffled[3]["roamingEnabled"].reverse()
    shuffled[3]["price"] = 12.0  # same Decimal value, different JSON spelling

    mock_catalogue(mocked_responses, shuffled[::-1], PER_PAGE)
    with CaptureQueriesContext(connection) as ctx:
        assert sync_catalog().unchanged == 5
    assert writes(ctx) == []


@pytest.mark.parametrize("first", [(10, 40), (40, 10)])
def test_query_count_does_not_grow_with_the_number_of_bundles(db, mocked_responses, settings, first):
    """Bulk writes: syncing 10 or 40 bundles (one page) costs the same number of queries."""
    settings.ESIMGO_CATALOGUE_PAGE_SIZE = 100

    def queries_for(n, prefix):
        bundles = [raw_bundle(f"{prefix}_{i}", countries=["MN", "JP"], roaming=["KR"], price=1 + i) for i in range(n)]
        mock_catalogue(mocked_responses, bundles, 100)
        with CaptureQueriesContext(connection) as create_ctx:
            sync_catalog()
        mock_catalogue(mocked_responses, bundles, 100)
        with CaptureQueriesContext(connection) as resync_ctx:
            sync_catalog()
        with connection.cursor() as cursor:  # raw: Country pks (django-countries objects) don't sort for delete()
            for table in ("catalog_bundlecountry", "catalog_bundle", "catalog_country", "catalog_region"):
                cursor.execute(f"DELETE FROM {table}")
        return len(create_ctx), len(resync_ctx)

    small, large = (queries_for(n, f"run{n}") for n in first)
    assert small == large


def test_changed_bundles_are_updated_and_only_their_coverage_rewritten(db, mocked_responses):
    mock_catalogue(mocked_responses, catalogue(), PER_PAGE)
    sync_catalog()
    first_seen = dict(Bundle.objects.values_list("name", "first_seen_at"))
    Bundle.objects.filter(name="esim_1GB_7D_MN_V2").update(price_override_mnt=15000)

    changed = catalogue()
    changed[0]["price"] = 5.1  # 5.1 × 3450 × 1.25 = 21,993.75 → 22,000
    changed[4]["roamingEnabled"] = [{"name": "United States", "region": "North America", "iso": "US"}]
    mock_catalogue(mocked_responses, changed, PER_PAGE)
    with CaptureQueriesContext(connection) as ctx:
        result = sync_catalog()

    assert (result.created, result.updated, result.unchanged, result.retired) == (0, 2, 3, 0)
    repriced = Bundle.objects.get(name="esim_1GB_7D_MN_V2")
    assert (repriced.price, repriced.computed_price_mnt) == (Decimal("5.1000"), 22000)
    assert (repriced.price_override_mnt, repriced.price_mnt) == (15000, 15000)  # staff override untouched
    assert coverage("esim_10GB_30D_REUP_V2") == {"DE": "base", "FR": "base", "US": "roaming"}
    assert Region.objects.filter(name="North America").exists()
    assert dict(Bundle.objects.values_list("name", "first_seen_at")) == first_seen
    # Only the two changed bundles' rows are written: GB removed, US added; MN's base row kept.
    coverage_writes = [sql for sql in writes(ctx) if "catalog_bundlecountry" in sql]
    assert len(coverage_writes) == 2
    # ...and the bundle UPDATEs rewrite only the columns that differ, not every synced column.
    bundle_updates = [sql for sql in writes(ctx) if sql.startswith('UPDATE "catalog_bundle"')]
    assert bundle_updates and not any('"description"' in sql or '"groups"' in sql for sql in bundle_updates)
    assert any('"computed_price_mnt"' in sql for sql in bundle_updates)


def test_bundles_missing_upstream_are_retired_not_deleted_and_come_back(db, mocked_responses):
    mock_catalogue(mocked_responses, catalogue(), PER_PAGE)
    sync_catalog()

    mock_catalogue(mocked_responses, catalogue()[1:], PER_PAGE)
    result = sync_catalog()

    assert (result.retired, result.unchanged) == (1, 4)
    gone = Bundle.objects.get(name="esim_1GB_7D_MN_V2")
    assert not gone.is_available and gone.retired_at is not None
    assert coverage("esim_1GB_7D_MN_V2") == {"MN": "base"}  # kept for orders that point at it
    assert Country.objects.get(iso="MN").bundle_count == 2
    assert Country.objects.get(iso="MN").min_price_mnt == 43100  # 9.99 × 3450 × 1.25 = 43,081.875

    mock_catalogue(mocked_responses, catalogue()[1:], PER_PAGE)
    with CaptureQueriesContext(connection) as ctx:
        assert sync_catalog().retired == 0  # already retired: nothing to do
    assert writes(ctx) == []

    mock_catalogue(mocked_responses, catalogue(), PER_PAGE)
    result = sync_catalog()

    assert (result.created, result.updated, result.retired) == (0, 1, 0)
    back = Bundle.objects.get(name="esim_1GB_7D_MN_V2")
    assert back.is_available and back.retired_at is None and back.pk == gone.pk
    assert (Country.objects.get(iso="MN").bundle_count, Country.objects.get(iso="MN").min_price_mnt) == (3, 18800)


def test_rate_or_markup_change_reprices_on_next_sync_but_never_touches_override(db, mocked_responses, settings):
    mock_catalogue(mocked_responses, catalogue(), PER_PAGE)
    sync_catalog()
    Bundle.objects.filter(name="esim_UL_7D_JP_V2").update(price_override_mnt=70000)

    settings.QPAY_USD_TO_MNT_RATE = Decimal("3500")
    settings.PRICE_MARKUP_PERCENT = Decimal("20")
    mock_catalogue(mocked_responses, catalogue(), PER_PAGE)
    result = sync_catalog()

    assert result.updated == 5
    one_gb = Bundle.objects.get(name="esim_1GB_7D_MN_V2")
    assert one_gb.computed_price_mnt == 18300  # 4.35 × 3500 × 1.2 = 18,270 → 18,300
    unlimited = Bundle.objects.get(name="esim_UL_7D_JP_V2")
    assert (unlimited.computed_price_mnt, unlimited.price_override_mnt) == (74000, 70000)  # 73,920 → 74,000
    assert Country.objects.get(iso="JP").min_price_mnt == 50400  # 12 × 3500 × 1.2, the override 70,000 is higher


def test_country_region_change_upstream_moves_the_country(db, mocked_responses):
    mock_catalogue(mocked_responses, catalogue(), PER_PAGE)
    sync_catalog()
    moved = catalogue()
    for bundle in moved:
        for entry in bundle["countries"] + bundle["roamingEnabled"]:
            if entry["iso"] == "GB":
                entry["region"] = "Europe Plus"
    mock_catalogue(mocked_responses, moved, PER_PAGE)
    sync_catalog()
    assert Country.objects.get(iso="GB").region.name == "Europe Plus"
    assert Region.objects.get(name="Europe Plus").slug == "europe-plus"


# ------------------------------------------------------------------ faults: all or nothing


def upstream_after_changes():
    """What eSIM Go would serve next: one bundle gone, one repriced, one new."""
    bundles = catalogue()[1:]
    bundles[0]["price"] = 11.5
    bundles.append(raw_bundle("esim_2GB_7D_US_V2", countries=["US", "CA"], data_mb=2000, price=6))
    return bundles


FAULTS = {
    "eSIM Go down (503 after retries)": (
        2,
        {"status": 503, "json": {"message": "Processing - come back later"}},
        "unavailable on page 2 (HTTP 503) after retries",
    ),
    "eSIM Go 500": (3, {"status": 500, "json": {"message": "internal error"}}, "unavailable on page 3"),
    "timeout": (
        2,
        {"body": requests.exceptions.ReadTimeout("read timed out")},
        "unavailable on page 2 (timeout or connection error)",
    ),
    "connection refused": (1, {"body": requests.exceptions.ConnectionError("refused")}, "unavailable on page 1"),
    "401": (1, {"status": 401, "json": {"message": "Unauthorized"}}, "refused the API key on page 1 (HTTP 401)"),
    "403 access denied": (2, {"status": 403, "json": {"message": "access denied"}}, "refused the API key on page 2"),
    "429 with long Retry-After": (
        2,
        {"status": 429, "json": {"message": "Rate limit exceeded"}, "headers": {"Retry-After": "60"}},
        "rate-limiting the sync on page 2 (HTTP 429)",
    ),
    "429 after retries": (2, {"status": 429, "json": {"message": "Rate limit exceeded"}}, "HTTP 429"),
    "malformed page 2 of 3 (HTML)": (
        2,
        {"status": 200, "body": "<html>502 Bad Gateway</html>", "content_type": "text/html"},
        "malformed catalogue page on page 2",
    ),
    "malformed page 2 of 3 (bundles not a list)": (
        2,
        {"json": {"bundles": None, "pageCount": 3, "rows": 5}},
        "malformed catalogue page on page 2",
    ),
    "malformed bundle on page 2 of 3": (
        2,
        {"json": {"bundles": [{"name": "esim_bad", "price": "n/a"}], "pageCount": 3, "rows": 5}},
        "malformed",
    ),
}


@pytest.mark.parametrize("fault", FAULTS.values(), ids=FAULTS.keys())
def test_fault_during_sync_changes_nothing_and_next_run_recovers(db, mocked_responses, fault):
    page, answer, message = fault
    mock_catalogue(mocked_responses, catalogue(), PER_PAGE)
    sync_catalog()
    before = snapshot()

    mock_catalogue(mocked_responses, upstream_after_changes(), PER_PAGE, replace={page: answer})
    with CaptureQueriesContext(connection) as ctx, pytest.raises(CatalogueSyncError) as raised:
        sync_catalog()

    assert message in str(raised.value)
    assert "Nothing was changed" in str(raised.value)
    assert "test-esimgo-key" not in str(raised.value)
    assert writes(ctx) == []
    assert snapshot() == before  # in particular: no bundle retired, none half-updated

    mock_catalogue(mocked_responses, upstream_after_changes(), PER_PAGE)
    result = sync_catalog()
    assert (result.created, result.updated, result.unchanged, result.retired) == (1, 1, 3, 1)
    assert not Bundle.objects.get(name="esim_1GB_7D_MN_V2").is_available


def test_provider_down_is_retried_before_giving_up(db, mocked_responses, settings):
    settings.ESIMGO_MAX_RETRIES = 2
    mock_catalogue(mocked_responses, catalogue(), PER_PAGE, replace={2: {"status": 503, "json": {"message": "x"}}})
    with pytest.raises(CatalogueSyncError):
        sync_catalog()
    page_two_calls = [c for c in mocked_responses.calls if "page=2" in c.request.url]
    assert len(page_two_calls) == 3  # first try + ESIMGO_MAX_RETRIES


def test_catalogue_shrinking_while_read_is_refused(db, mocked_responses):
    """Page 1 announced 5 bundles, but only 4 distinct ones arrived: a bundle may have slipped between pages."""
    mock_catalogue(mocked_responses, catalogue(), PER_PAGE)
    sync_catalog()
    before = snapshot()
    bundles = catalogue()
    bundles[2] = bundles[1]  # page 2 repeats the last bundle of page 1, one bundle never arrives
    mock_catalogue(mocked_responses, bundles, PER_PAGE)

    with pytest.raises(CatalogueSyncError, match="announced 5 bundles but only 4"):
        sync_catalog()
    assert snapshot() == before


def test_empty_catalogue_does_not_retire_everything(db, mocked_responses):
    mock_catalogue(mocked_responses, catalogue(), PER_PAGE)
    sync_catalog()
    before = snapshot()
    mock_catalogue(mocked_responses, [], PER_PAGE)

    with pytest.raises(CatalogueSyncError, match="empty catalogue"):
        sync_catalog()
    assert snapshot() == before


def test_bundle_priced_in_another_currency_stops_the_sync(db, mocked_responses):
    bundles = catalogue()
    bundles[4]["currency"] = "EUR"
    mock_catalogue(mocked_responses, bundles, PER_PAGE)
    with pytest.raises(CatalogueSyncError, match="priced in EUR"):
        sync_catalog()
    assert not Bundle.objects.exists()


def test_bare_array_catalogue_from_the_spec_is_accepted(db, mocked_responses, settings):
    settings.ESIMGO_CATALOGUE_PAGE_SIZE = 100
    mock_catalogue(mocked_responses, [], 100, replace={1: {"json": catalogue()}})
    assert sync_catalog().created == 5


def test_overlapping_syncs_are_refused(db, mocked_responses):
    mock_catalogue(mocked_responses, catalogue(), PER_PAGE)
    with sync_lock(), pytest.raises(SyncAlreadyRunning):
        sync_catalog()
    assert not Bundle.objects.exists()
    assert sync_catalog().created == 5  # the lock was released


def test_sync_keeps_staff_and_order_data_of_existing_bundles(db, mocked_responses):
    """A bundle created before any sync (e.g. by a fixture or an older sync) is adopted by name."""
    BundleFactory(name="esim_1GB_7D_MN_V2", price_override_mnt=12000, countries=["MN", "JP"])
    mock_catalogue(mocked_responses, catalogue(), PER_PAGE)
    result = sync_catalog()
    assert (result.created, result.updated) == (4, 1)
    adopted = Bundle.objects.get(name="esim_1GB_7D_MN_V2")
    assert (adopted.price_override_mnt, adopted.computed_price_mnt) == (12000, 18800)
    assert coverage("esim_1GB_7D_MN_V2") == {"MN": "base"}


def test_a_concurrent_writer_without_the_lock_rolls_the_sync_back(db, mocked_responses, monkeypatch):
    """Without a shared cache (dev, no Redis) two processes could sync at once: the loser changes nothing."""
    from catalog import sync_apply

    upsert_countries = sync_apply._upsert_countries

    def meanwhile(bundles):  # runs after the sync read the bundle table, before it inserts
        upsert_countries(bundles)
        BundleFactory(name="esim_3GB_30D_MN_V2")

    mock_catalogue(mocked_responses, catalogue(), PER_PAGE)
    monkeypatch.setattr(sync_apply, "_upsert_countries", meanwhile)
    with pytest.raises(CatalogueSyncError, match="Another process changed the catalogue"):
        sync_catalog()
    assert not Bundle.objects.exists() and not Country.objects.exists()
