"""Reads for the storefront pages and the packages API.

Every function runs a fixed number of queries however many bundles there are. Country
listings use the counts the sync denormalises onto Country (bundle_count, min_price_mnt);
bundle lists are computed live from BundleCountry (base + roaming coverage), so a regional
bundle that reaches a country only through `roamingEnabled` is listed there too.
"""

import re
import unicodedata
from dataclasses import dataclass
from functools import lru_cache

from django.db.models import Case, Count, DecimalField, F, IntegerField, OuterRef, Q, QuerySet, Subquery, Value, When
from django.db.models.functions import Cast, Coalesce
from django.utils import translation
from django_countries import countries as country_registry

from catalog import search_aliases
from catalog.models import Bundle, BundleCountry, Country, Region
from catalog.presentation import (
    REGION_NAMES,
    collation_key,
    country_order,
    coverage_label,
    plan_name,
    region_display_name,
)
from catalog.search_aliases import latin_spellings

# Destinations Mongolian travellers buy most, in display order.
POPULAR_DESTINATIONS = ("CN", "KR", "JP", "TH", "TR", "VN", "SG", "US", "DE", "FR", "GB", "KZ", "RU", "MN")

# Filter buckets: key -> inclusive (low, high) bounds, None = open. Data in decimal MB.
DATA_BUCKETS = {"upto3": (1, 3000), "3to10": (3001, 10000), "over10": (10001, None)}
DAYS_BUCKETS = {"upto7": (1, 7), "8to15": (8, 15), "16to30": (16, 30), "over30": (31, None)}
PER_MB_PRICE = DecimalField(max_digits=20, decimal_places=6)  # sort key for price per GB: never a float
UNLIMITED_SORT_MB = 10**9  # unlimited sorts above any finite data amount
# What bundle lists (pages and API) read; description, groups, image, hashes stay in the database.
LISTING_FIELDS = (
    "id",
    "name",
    "data_amount_mb",
    "duration_days",
    "unlimited",
    "speed",
    "autostart",
    "is_available",
    "computed_price_mnt",
    "price_override_mnt",
)

SORT_ORDERS = {
    "price": ("retail_price_mnt", "duration_days", "name"),
    "-price": ("-retail_price_mnt", "name"),
    "data": ("-data_sort_mb", "retail_price_mnt", "name"),
    "days": ("-duration_days", "retail_price_mnt", "name"),
    "per_gb": (F("per_gb_sort").asc(nulls_last=True), "retail_price_mnt", "name"),
}
DEFAULT_SORT = "price"

ISO_ALPHA2 = re.compile(r"^[A-Za-z]{2}$")


@dataclass(frozen=True)
class BundleFilters:
    data: str | None = None  # key of DATA_BUCKETS
    days: str | None = None  # key of DAYS_BUCKETS
    unlimited: bool | None = None
    min_days: int | None = None
    max_days: int | None = None
    min_data_mb: int | None = None
    sort: str = DEFAULT_SORT


# --- Countries and regions ---------------------------------------------------------------


def sellable_countries() -> QuerySet:
    return Country.objects.filter(bundle_count__gt=0)


def popular_countries() -> list[Country]:
    by_iso = {c.iso.code: c for c in sellable_countries().filter(iso__in=POPULAR_DESTINATIONS)}
    return [by_iso[iso] for iso in POPULAR_DESTINATIONS if iso in by_iso]


def regions_with_countries() -> QuerySet:
    return (
        Region.objects.annotate(country_count=Count("countries", filter=Q(countries__bundle_count__gt=0)))
        .filter(country_count__gt=0)
        .order_by("name")
    )


@dataclass(frozen=True)
class CountryListing:
    """A sellable country as lists show it (no model instance: long lists stay cheap)."""

    code: str
    name: str  # in the requested language
    letter: str  # A–Z index heading in that language
    min_price_mnt: int | None


def _listings(countries: QuerySet, language: str) -> list[CountryListing]:
    """Alphabetical in `language`, by the precomputed rank (presentation.country_order)."""
    order = country_order(language)
    unknown = len(order)  # a code django-countries lacks sorts last, by code
    ranked = []
    for code, min_price in countries.values_list("iso", "min_price_mnt"):
        rank, name, letter = order.get(code) or (unknown, code, "#")
        ranked.append(((rank, code), CountryListing(code, name, letter, min_price)))
    ranked.sort(key=lambda item: item[0])
    return [listing for _key, listing in ranked]


def countries_a_to_z(language: str) -> list[tuple[str, list[CountryListing]]]:
    """[(letter, [countries])] in the alphabet of `language`, names translated."""
    groups: dict[str, list[CountryListing]] = {}
    for country in _listings(sellable_countries(), language):
        groups.setdefault(country.letter, []).append(country)
    return list(groups.items())


def get_country(iso: str) -> Country | None:
    """Case-insensitive ISO alpha-2 lookup; None for anything else."""
    if not iso or not ISO_ALPHA2.match(iso):
        return None
    return Country.objects.select_related("region").filter(iso=iso.upper()).first()


def get_region(slug: str) -> Region | None:
    return Region.objects.filter(slug=slug).first()


def countries_of_region(region: Region, language: str) -> list[CountryListing]:
    return _listings(sellable_countries().filter(region=region), language)


# --- Search ------------------------------------------------------------------------------


def _normalise(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    letters = "".join(ch if ch.isalnum() else " " for ch in decomposed if not unicodedata.combining(ch))
    return " ".join(letters.split())


@lru_cache(maxsize=1)
def _search_index() -> dict[str, tuple[set[str], set[str]]]:
    """ISO code -> (exact keys: codes and names, names) in Mongolian and English."""
    index: dict[str, tuple[set[str], set[str]]] = {}
    for language in ("mn", "en"):
        with translation.override(language):
            for code, name in country_registry:
                codes, names = index.setdefault(code, (set(), set()))
                codes.add(code.casefold())
                alpha3 = country_registry.alpha3(code)
                if alpha3:
                    codes.add(alpha3.casefold())
                names.add(_normalise(str(name)))
                names.update(latin_spellings(_normalise(str(name))))
    for code, extra in search_aliases.EXTRA_COUNTRY_NAMES.items():
        index.setdefault(code, (set(), set()))[1].update(_normalise(n) for n in extra)
    for city, code in search_aliases.CITY_COUNTRY.items():
        index.setdefault(code, (set(), set()))[0].add(_normalise(city))  # a city names one country: exact
    return index


@lru_cache(maxsize=1)
def _region_index() -> dict[str, set[str]]:
    """eSIM Go region name (or GLOBAL_SLUG) -> its names in Mongolian and English, and aliases."""
    index = {}
    for name in REGION_NAMES:
        keys = {_normalise(name)} | {_normalise(a) for a in search_aliases.REGION_ALIASES.get(name, [])}
        for language in ("mn", "en"):
            with translation.override(language):
                keys.add(_normalise(region_display_name(name)))
        index[name] = keys
    index[search_aliases.GLOBAL_SLUG] = {_normalise(a) for a in search_aliases.GLOBAL_ALIASES}
    return index


def search_regions(query: str) -> list:
    """Regions (Region rows, or the GLOBAL_SLUG string) whose name starts with `query`.

    No query at all unless a region name matched (the search page's query count stays fixed)."""
    needle = _normalise(query[:100])
    if len(needle) < 3:
        return []
    matched = [name for name, keys in _region_index().items() if any(k.startswith(needle) for k in keys)]
    if not matched:
        return []
    found = list(regions_with_countries().filter(name__in=matched))
    return found + ([search_aliases.GLOBAL_SLUG] if search_aliases.GLOBAL_SLUG in matched else [])


def _match_rank(query: str, codes: set[str], names: set[str]) -> int | None:
    """0 exact code or name, 1 a name starts with it (or a word of it), 2 contains it, None no match."""
    if query in codes or query in names:
        return 0
    if any(name.startswith(query) or f" {query}" in name for name in names):
        return 1
    if len(query) >= 3 and any(query in name for name in names):
        return 2
    return None


@dataclass(frozen=True)
class SearchResult:
    countries: list[Country]
    exact: Country | None  # the one country the shopper clearly meant, if any


def search_countries(query: str, language: str) -> SearchResult:
    """Sellable countries whose ISO code or Mongolian/English name matches `query`."""
    needle = _normalise(query[:100])
    if not needle:
        return SearchResult([], None)
    ranked = []
    for country in sellable_countries().select_related("region"):
        codes, names = _search_index().get(country.iso.code, ({country.iso.code.casefold()}, set()))
        rank = _match_rank(needle, codes, names)
        if rank is not None:
            ranked.append((rank, collation_key(country.iso.name, language), country))
    ranked.sort(key=lambda item: item[:2])
    exact = [country for rank, _key, country in ranked if rank == 0]
    found = [country for _rank, _key, country in ranked]
    chosen = found[0] if len(found) == 1 else (exact[0] if len(exact) == 1 else None)
    return SearchResult(found, chosen)


# --- Bundles -----------------------------------------------------------------------------


def _with_listing_fields(bundles: QuerySet) -> QuerySet:
    """Annotate what lists show and sort on: retail price, coverage size, sort helpers."""
    coverage_count = (
        BundleCountry.objects.filter(bundle=OuterRef("pk"))
        .order_by()
        .values("bundle")
        .annotate(n=Count("pk"))
        .values("n")
    )
    regions_count = (
        BundleCountry.objects.filter(bundle=OuterRef("pk"))
        .order_by()
        .values("bundle")
        .annotate(n=Count("country__region", distinct=True))
        .values("n")
    )
    return bundles.annotate(
        retail_price_mnt=Coalesce("price_override_mnt", "computed_price_mnt"),
        covers_count=Coalesce(Subquery(coverage_count, output_field=IntegerField()), Value(0)),
        # Local / regional / global on the cards (catalog.presentation.plan_scope).
        regions_count=Coalesce(Subquery(regions_count, output_field=IntegerField()), Value(0)),
        data_sort_mb=Case(When(unlimited=True, then=Value(UNLIMITED_SORT_MB)), default=F("data_amount_mb")),
        per_gb_sort=Case(
            When(Q(unlimited=True) | Q(data_amount_mb__lte=0), then=Value(None, output_field=PER_MB_PRICE)),
            default=Cast(Coalesce("price_override_mnt", "computed_price_mnt"), PER_MB_PRICE) / F("data_amount_mb"),
            output_field=PER_MB_PRICE,
        ),
    )


def _apply_filters(bundles: QuerySet, filters: BundleFilters) -> QuerySet:
    if filters.data in DATA_BUCKETS:
        low, high = DATA_BUCKETS[filters.data]
        bundles = bundles.filter(unlimited=False, data_amount_mb__gte=low)
        if high is not None:
            bundles = bundles.filter(data_amount_mb__lte=high)
    if filters.days in DAYS_BUCKETS:
        low, high = DAYS_BUCKETS[filters.days]
        bundles = bundles.filter(duration_days__gte=low)
        if high is not None:
            bundles = bundles.filter(duration_days__lte=high)
    if filters.unlimited is not None:
        bundles = bundles.filter(unlimited=filters.unlimited)
    if filters.min_days is not None:
        bundles = bundles.filter(duration_days__gte=filters.min_days)
    if filters.max_days is not None:
        bundles = bundles.filter(duration_days__lte=filters.max_days)
    if filters.min_data_mb is not None:
        bundles = bundles.filter(Q(unlimited=True) | Q(data_amount_mb__gte=filters.min_data_mb))
    return bundles.order_by(*SORT_ORDERS.get(filters.sort, SORT_ORDERS[DEFAULT_SORT]))


def available_bundles_for_country(country: Country | str, filters: BundleFilters = BundleFilters()) -> QuerySet:
    """Sellable bundles that work in the country: base coverage or roaming (regional/global)."""
    iso = getattr(country, "pk", country)
    bundles = Bundle.objects.filter(is_available=True, coverage__country=iso).only(*LISTING_FIELDS)
    return _apply_filters(_with_listing_fields(bundles), filters)


def country_is_sold(country: Country) -> bool:
    return Bundle.objects.filter(is_available=True, coverage__country=country.pk).exists()


def available_bundles_for_region(region: Region, filters: BundleFilters = BundleFilters()) -> QuerySet:
    """Multi-country bundles: sellable bundles covering at least two countries of the region."""
    in_region = (
        BundleCountry.objects.filter(country__region=region)
        .order_by()
        .values("bundle")
        .annotate(n=Count("pk"))
        .filter(n__gte=2)
        .values("bundle")
    )
    bundles = Bundle.objects.filter(is_available=True, pk__in=in_region).only(*LISTING_FIELDS)
    return _apply_filters(_with_listing_fields(bundles), filters)


# A plan is "global" when its countries lie in at least this many eSIM Go regions.
GLOBAL_MIN_REGIONS = 3


def global_bundles(filters: BundleFilters = BundleFilters()) -> QuerySet:
    """Plans spanning several regions of the world (the Global entry point, /regions/global/)."""
    spanning = (
        BundleCountry.objects.filter(country__region__isnull=False)
        .order_by()
        .values("bundle")
        .annotate(n=Count("country__region", distinct=True))
        .filter(n__gte=GLOBAL_MIN_REGIONS)
        .values("bundle")
    )
    bundles = Bundle.objects.filter(is_available=True, pk__in=spanning).only(*LISTING_FIELDS)
    return _apply_filters(_with_listing_fields(bundles), filters)


def get_bundle(name: str, *, with_networks: bool = False) -> Bundle | None:
    """Any bundle by its eSIM Go name, retired ones too (their pages say so), with .retail_price_mnt.
    `with_networks`: its BundleNetworks row in the same query (the plan page).

    No listing annotations: one row needs no sort helpers, and compiling them costs more than the query."""
    bundles = Bundle.objects.select_related("networks") if with_networks else Bundle.objects
    bundle = bundles.filter(name=name).first()
    if bundle is not None:
        bundle.retail_price_mnt = bundle.price_mnt
    return bundle


@dataclass(frozen=True)
class Coverage:
    iso: str
    kind: str
    region: str

    @property
    def is_roaming(self) -> bool:
        return self.kind == BundleCountry.Kind.ROAMING


def coverage_for_bundles(bundle_ids) -> dict[int, list[Coverage]]:
    """Bundle id -> every country it covers (one query for any number of bundles)."""
    coverage: dict[int, list[Coverage]] = {bundle_id: [] for bundle_id in bundle_ids}
    rows = BundleCountry.objects.filter(bundle_id__in=list(coverage)).values_list(
        "bundle_id", "country_id", "kind", "country__region__name"
    )
    for bundle_id, iso, kind, region in rows:
        coverage[bundle_id].append(Coverage(iso, kind, region or ""))
    return coverage


def bundle_countries(bundle) -> list[tuple[str, str]]:
    """[(iso, region name)] of the bundle's base countries (roaming-only ones when there is no base)."""
    rows = list(
        BundleCountry.objects.filter(bundle=bundle).select_related("country__region").order_by("kind", "country_id")
    )
    base = [r for r in rows if r.kind == BundleCountry.Kind.BASE] or rows
    return [(str(r.country.iso.code), r.country.region.name if r.country.region else "") for r in base]


def bundle_label(bundle) -> str:
    """'Japan 1 GB · 7 days' (falls back to eSIM Go's description when coverage is unknown)."""
    countries = bundle_countries(bundle)
    if not countries:
        return bundle.description or bundle.name
    return plan_name(coverage_label(countries), bundle.data_amount_mb, bundle.unlimited, bundle.duration_days)
