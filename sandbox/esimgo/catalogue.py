"""The sandbox's deterministic eSIM Go catalogue, generated in memory (no DB, no randomness).

Shape follows the live API (docs/providers/esimgo.md, Catalogue): bundle objects with flat `countries` /
`roamingEnabled` lists in `/catalogue`, nested `{country, networks}` entries in the detail
endpoint. Countries and English names come from django-countries; regions from the fixed
mapping below (eSIM Go's region names). Regional bundles carry one base country in
`countries` and the rest in `roamingEnabled`, like real data, so eSIM Go's `countries=`
filter (base countries only) misses them — exactly the quirk the shop must handle.

Sizes: ~210 countries x (6 fixed + unlimited families for popular/mid-tier countries)
+ 8 regional families ≈ 2,300 bundles. Prices are USD decimals derived from a per-country
factor (CRC32 of the ISO code), so every run produces the same catalogue.
"""

import json
import unicodedata
import zlib
from decimal import ROUND_HALF_UP, Decimal
from functools import lru_cache

from django.utils import translation
from django_countries import countries as country_list

CURRENCY = "USD"
IMAGE_BASE = "https://esimgo-cms-images-prod.s3.eu-west-1.amazonaws.com/"

REGIONS = {
    "Europe": (
        "AD AL AT AX BA BE BG BY CH CY CZ DE DK EE ES FI FO FR GB GG GI GR HR HU IE IM IS IT JE LI LT LU LV "
        "MC MD ME MK MT NL NO PL PT RO RS RU SE SI SK SM TR UA VA"
    ),
    "Asia": "AF AM AZ BD BN BT CN GE HK ID IN JP KG KH KR KZ LA LK MM MN MO MV MY NP PH PK SG TH TJ TL TM TW UZ VN",
    "Middle East": "AE BH IL IQ JO KW LB OM PS QA SA YE",
    "Africa": (
        "AO BF BI BJ BW CD CF CG CI CM CV DJ DZ EG EH ER ET GA GH GM GN GQ GW KE KM LR LS LY MA MG ML MR MU MW "
        "MZ NA NE NG RE RW SC SD SL SN SO SS ST SZ TD TG TN TZ UG YT ZA ZM ZW"
    ),
    "North America": "BM CA GL MX PM US",
    "LATAM": (
        "AG AI AR AW BB BL BO BQ BR BS BZ CL CO CR CW DM DO EC FK GD GF GP GT GY HN HT JM KN KY LC MF MQ MS NI "
        "PA PE PR PY SR SV SX TC TT UY VC VE VG VI"
    ),
    "Oceania": "AS AU CK FJ FM GU KI MH MP NC NF NR NU NZ PF PG PW SB TK TO TV VU WF WS",
}
REGION_OF = {iso: region for region, codes in REGIONS.items() for iso in codes.split()}
REGION_PRICE_FACTOR = {
    "Europe": Decimal("0.9"),
    "Asia": Decimal("1.0"),
    "Middle East": Decimal("1.3"),
    "Africa": Decimal("1.8"),
    "North America": Decimal("1.1"),
    "LATAM": Decimal("1.4"),
    "Oceania": Decimal("1.5"),
}

# Every family (unlimited tiers + long duration) for these; the shop's key destinations.
POPULAR = set(
    "MN CN KR JP TH TR US GB DE FR VN SG RU KZ IT ES AE HK MY ID AU CA PH TW MO KG UZ IN NL CH AT GR PT EG".split()
)
FIXED = [(1, 7), (2, 15), (3, 30), (5, 30), (10, 30), (20, 30)]
LONG_DURATION = [(50, 90)]
UNLIMITED_DAYS_POPULAR = [1, 3, 5, 7, 10, 15]
UNLIMITED_DAYS_MID = [1, 3, 7]
UNLIMITED_TIERS = {  # moniker: (group, label, USD per day before the country factor)
    "UL": ("Standard Unlimited Lite", "Unlimited Lite", Decimal("1.9")),
    "ULE": ("Standard Unlimited Essential", "Unlimited Essential", Decimal("2.4")),
    "ULP": ("Standard Unlimited Plus", "Unlimited Plus", Decimal("3.2")),
}

# Regional families: code -> (display name, base country, covered regions or ISO list, price factor)
REGIONAL = {
    "REUP": ("Europe+", "FR", ["Europe"], Decimal("1.2")),
    "RAS": ("Asia", "SG", ["Asia"], Decimal("1.5")),
    "RME": ("Middle East", "AE", ["Middle East"], Decimal("1.6")),
    "RNA": ("North America", "US", ["North America"], Decimal("1.3")),
    "RLA": ("Latin America", "BR", ["LATAM"], Decimal("1.7")),
    "RAF": ("Africa", "ZA", ["Africa"], Decimal("2.2")),
    "ROC": ("Oceania", "AU", ["Oceania"], Decimal("1.8")),
    "RGBS": (
        "Global",
        "US",
        sorted(POPULAR | {"BR", "MX", "ZA", "NZ", "SA", "IL", "AR", "CL", "PL", "SE"}),
        Decimal("2.6"),
    ),
}
# Bundles of this family live on another provider: they never top up a standard eSIM (see compatibility).
GLOBAL_FAMILY_CODES = {"RGBS"}

KNOWN_NETWORKS = {
    "MN": ["Unitel", "Mobicom"],
    "CN": ["China Mobile", "China Unicom"],
    "KR": ["SK Telecom", "KT"],
    "JP": ["NTT Docomo", "SoftBank"],
    "TH": ["AIS", "dtac"],
    "TR": ["Turkcell", "Vodafone"],
    "US": ["T-Mobile", "AT&T"],
    "GB": ["EE", "O2"],
    "DE": ["Telekom", "Vodafone"],
    "FR": ["Orange", "SFR"],
    "VN": ["Viettel", "Vinaphone"],
    "SG": ["Singtel", "StarHub"],
    "RU": ["MegaFon", "Beeline"],
    "KZ": ["Beeline", "Kcell"],
    "AU": ["Optus", "Telstra"],
}

TWO = Decimal("0.01")


def _factor(iso: str) -> Decimal:
    """A stable per-country cost factor between 0.80 and 2.29."""
    return Decimal(80 + zlib.crc32(iso.encode()) % 150) / 100


def _speed(iso: str):
    if iso in POPULAR:
        return ["4G", "5G"]
    bucket = zlib.crc32(b"speed" + iso.encode()) % 10
    return None if bucket == 0 else (["3G", "4G"] if bucket < 6 else ["4G"])


def _days(n: int) -> str:
    return f"{n} Day" if n == 1 else f"{n} Days"


def _money(value: Decimal) -> Decimal:
    return value.quantize(TWO, rounding=ROUND_HALF_UP)


def _image_name(label: str) -> str:
    ascii_label = unicodedata.normalize("NFKD", label).encode("ascii", "ignore").decode()
    return "".join(ch if ch.isalnum() else "_" for ch in ascii_label).strip("_") + ".jpg"


def _fixed_price(factor: Decimal, gb: int, days: int) -> Decimal:
    size = Decimal("0.9") + Decimal("0.82") * Decimal(gb) ** Decimal("0.85")
    return _money(factor * size * (1 + Decimal(days) / 200))


def _unlimited_price(factor: Decimal, per_day: Decimal, days: int) -> Decimal:
    return _money(factor * per_day * Decimal(days) ** Decimal("0.85"))


def _bundle(name, description, group, base, roaming, data_mb, days, price, speed, image):
    return {
        "name": name,
        "description": description,
        "groups": [group],
        "countries": [base],
        "dataAmount": data_mb,
        "duration": days,
        "speed": speed,
        "autostart": True,
        "unlimited": data_mb == -1,
        "roamingEnabled": roaming,
        "imageUrl": IMAGE_BASE + image,
        "price": price,
        "billingType": "FixedCost",
    }


def _country_bundles(country):
    iso, name, region = country["iso"], country["name"], country["region"]
    factor = _factor(iso) * REGION_PRICE_FACTOR[region]
    speed = _speed(iso)
    image = _image_name(name)
    out = []
    for gb, days in FIXED + (LONG_DURATION if iso in POPULAR else []):
        group = "Standard Long Duration" if (gb, days) in LONG_DURATION else "Standard Fixed"
        out.append(
            _bundle(
                f"esim_{gb}GB_{days}D_{iso}_V2",
                f"eSIM, {gb}GB, {_days(days)}, {name}, V2",
                group,
                country,
                [],
                gb * 1000,
                days,
                _fixed_price(factor, gb, days),
                speed,
                image,
            )
        )
    if iso in POPULAR:
        tiers, day_options = UNLIMITED_TIERS, UNLIMITED_DAYS_POPULAR
    elif zlib.crc32(b"tier" + iso.encode()) % 2 == 0:
        tiers, day_options = {"UL": UNLIMITED_TIERS["UL"]}, UNLIMITED_DAYS_MID
    else:
        tiers, day_options = {}, []
    for moniker, (group, label, per_day) in tiers.items():
        for days in day_options:
            out.append(
                _bundle(
                    f"esim_{moniker}_{days}D_{iso}_V2",
                    f"eSIM, {label}, {_days(days)}, {name}, V2",
                    group,
                    country,
                    [],
                    -1,
                    days,
                    _unlimited_price(factor, per_day, days),
                    speed,
                    image,
                )
            )
    return out


def _regional_bundles(by_iso):
    out = []
    for code, (label, base_iso, coverage, factor) in REGIONAL.items():
        covered = [iso for iso in by_iso if by_iso[iso]["region"] in coverage or iso in coverage]
        base = by_iso[base_iso]
        roaming = [by_iso[iso] for iso in sorted(covered) if iso != base_iso]
        image = _image_name(label)
        for gb, days in FIXED[:1] + FIXED[2:] + LONG_DURATION:
            group = "Standard Long Duration" if (gb, days) in LONG_DURATION else "Standard Fixed"
            out.append(
                _bundle(
                    f"esim_{gb}GB_{days}D_{code}_V2",
                    f"eSIM, {gb}GB, {_days(days)}, {label}, V2",
                    group,
                    base,
                    roaming,
                    gb * 1000,
                    days,
                    _fixed_price(factor, gb, days),
                    ["4G", "5G"],
                    image,
                )
            )
        for days in (1, 7):
            out.append(
                _bundle(
                    f"esim_UL_{days}D_{code}_V2",
                    f"eSIM, Unlimited Lite, {_days(days)}, {label}, V2",
                    "Standard Unlimited Lite",
                    base,
                    roaming,
                    -1,
                    days,
                    _unlimited_price(factor, UNLIMITED_TIERS["UL"][2], days),
                    ["4G", "5G"],
                    image,
                )
            )
    return out


class Catalogue:
    """All bundles, sorted by name, with each bundle's JSON pre-serialised for fast pages."""

    def __init__(self):
        with translation.override("en"):
            names = {code: str(name) for code, name in country_list}
        self.countries = {
            iso: {"name": names[iso], "region": REGION_OF[iso], "iso": iso} for iso in sorted(REGION_OF) if iso in names
        }
        bundles = [b for c in self.countries.values() for b in _country_bundles(c)]
        bundles += _regional_bundles(self.countries)
        bundles.sort(key=lambda b: b["name"])
        self.bundles = bundles
        self.by_name = {b["name"]: b for b in bundles}
        self.json = {b["name"]: json.dumps(wire(b), separators=(",", ":")) for b in bundles}

    def coverage(self, name) -> set[str]:
        """ISO codes a bundle works in (base + roaming)."""
        bundle = self.by_name[name]
        return {c["iso"] for c in bundle["countries"] + bundle["roamingEnabled"]}

    @staticmethod
    def family(name) -> str:
        return "global" if name.split("_")[-2] in GLOBAL_FAMILY_CODES else "standard"


def wire(bundle: dict) -> dict:
    """A bundle as the API sends it (prices as JSON numbers)."""
    return {**bundle, "price": float(bundle["price"])}


def detail(bundle: dict) -> dict:
    """The /catalogue/bundle/{name} shape: countries nested with their networks."""

    def nested(country):
        speeds = bundle["speed"] or ["4G"]
        networks = KNOWN_NETWORKS.get(country["iso"]) or [f"{country['name']} Mobile"]
        return {"country": country, "networks": [{"name": n, "brandName": n, "speeds": speeds} for n in networks]}

    return {
        **wire(bundle),
        "countries": [nested(c) for c in bundle["countries"]],
        "roamingEnabled": [nested(c) for c in bundle["roamingEnabled"]],
    }


@lru_cache(maxsize=1)
def get_catalogue() -> Catalogue:
    return Catalogue()
