"""eSIM Go `GET /catalogue` payloads shaped like the live API (docs/providers/esimgo.md, Catalogue), for `responses`."""

import math

from responses import matchers

from tests.conftest import ESIMGO_TEST_BASE_URL

CATALOGUE_URL = f"{ESIMGO_TEST_BASE_URL}/catalogue"
IMAGE = "https://esimgo-cms-images-prod.s3.eu-west-1.amazonaws.com/North_America_bbe3181858.jpg"
COUNTRIES = {
    "MN": ("Mongolia", "Asia"),
    "JP": ("Japan", "Asia"),
    "KR": ("South Korea", "Asia"),
    "CN": ("China", "Asia"),
    "DE": ("Germany", "Europe"),
    "FR": ("France", "Europe"),
    "GB": ("United Kingdom", "Europe"),
    "US": ("United States", "North America"),
    "CA": ("Canada", "North America"),
}


def country(iso):
    name, region = COUNTRIES[iso]
    return {"name": name, "region": region, "iso": iso}


def raw_bundle(name, *, countries=("MN",), roaming=(), price=4.35, data_mb=1000, days=7, unlimited=False, **extra):
    """One bundle object as eSIM Go sends it (price a JSON number with decimals, dataAmount MB, -1 unlimited)."""
    gb = "UL" if unlimited else f"{data_mb // 1000}GB"
    return {
        "name": name,
        "description": f"eSIM, {gb}, {days} Days, {', '.join(COUNTRIES[c][0] for c in countries)}, V2",
        "groups": ["Standard Unlimited Essential" if unlimited else "Standard Fixed"],
        "countries": [country(c) for c in countries],
        "dataAmount": -1 if unlimited else data_mb,
        "duration": days,
        "speed": ["4G", "5G"],
        "autostart": True,
        "unlimited": unlimited,
        "roamingEnabled": [country(c) for c in roaming],
        "imageUrl": IMAGE,
        "price": price,
        "billingType": "FixedCost",
        **extra,
    }


def page_params(page, per_page):
    return [matchers.query_param_matcher({"page": str(page), "perPage": str(per_page)})]


def mock_catalogue(rsps, bundles, per_page, *, replace=None):
    """Make `bundles` the upstream catalogue (forgetting earlier registrations), split into pages.

    `replace={page_no: dict(status=..., json=..., body=...)}` swaps a page's answer (faults).
    """
    rsps.reset()
    page_count = max(math.ceil(len(bundles) / per_page), 1)
    for page in range(1, page_count + 1):
        chunk = bundles[(page - 1) * per_page : page * per_page]
        answer = (replace or {}).get(page) or {
            "json": {"bundles": chunk, "pageCount": page_count, "rows": len(bundles), "pageSize": per_page}
        }
        rsps.get(CATALOGUE_URL, match=page_params(page, per_page), **answer)
    return page_count
