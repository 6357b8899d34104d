"""GET /catalogue/bundle/{name}: the networks (operators) a bundle uses in each country.

Only the per-bundle detail carries them; `/catalogue` does not. The live API nests every entry
of `countries` and `roamingEnabled` as `{country: {name, region, iso}, networks: [{name,
brandName, speeds}]}` although the OpenAPI file says flat (reference esimgo.md §1.3, "Disagreement"),
so both shapes are read: a flat entry simply has no networks.

Self-contained on purpose: one read-only call through the client's transport (limiter, retries,
errors), answered as frozen dataclasses, nothing of Django models.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from integrations.esimgo.client import ESIMGoClient, ESIMGoMalformedResponse

# Shown as given; anything else eSIM Go might put in `speeds` ("LTE", "3G") is kept too.
MAX_NAME_LENGTH = 80


@dataclass(frozen=True)
class Network:
    name: str  # the brand shoppers see on their phone when there is one, else the operator name
    speeds: tuple[str, ...]  # e.g. ("4G", "5G"); empty when eSIM Go gives none


@dataclass(frozen=True)
class CountryNetworks:
    iso: str  # ISO 3166-1 alpha-2, upper case
    networks: tuple[Network, ...]


@dataclass(frozen=True)
class BundleDetail:
    name: str
    countries: tuple[CountryNetworks, ...]  # base countries first, then roaming ones; one entry per ISO


def fetch_bundle_detail(client: ESIMGoClient, name: str) -> BundleDetail:
    """One GET (read-only, so the client's retries apply). Raises the client's ESIMGoError family."""
    response = client.request("GET", f"/catalogue/bundle/{quote(name, safe='')}")
    try:
        data = response.json()
    except ValueError:
        raise ESIMGoMalformedResponse(f"bundle detail {name} is not JSON", response.status_code) from None
    return parse_bundle_detail(data, name)


def parse_bundle_detail(data: Any, name: str) -> BundleDetail:
    if isinstance(data, dict) and isinstance(data.get("bundle"), dict):
        data = data["bundle"]
    if not isinstance(data, dict):
        raise ESIMGoMalformedResponse(f"bundle detail {name} is not an object")
    seen: dict[str, CountryNetworks] = {}
    for key in ("countries", "roamingEnabled"):
        entries = data.get(key) or []
        if not isinstance(entries, list):
            raise ESIMGoMalformedResponse(f"bundle detail {name}: {key} is not a list")
        for entry in entries:
            parsed = _country(entry, name)
            if parsed is not None and parsed.iso not in seen:
                seen[parsed.iso] = parsed
    return BundleDetail(name=str(data.get("name") or name), countries=tuple(seen.values()))


def _country(entry: Any, bundle: str) -> CountryNetworks | None:
    inner: dict[str, Any]
    networks: Any
    if isinstance(entry, str):  # a bare ISO code: no networks known
        inner, networks = {"iso": entry}, []
    elif isinstance(entry, dict):
        inner = entry["country"] if isinstance(entry.get("country"), dict) else entry
        networks = entry.get("networks") or []
    else:
        raise ESIMGoMalformedResponse(f"bundle detail {bundle}: country entry is not an object")
    iso = inner.get("iso")
    if not isinstance(iso, str) or len(iso.strip()) != 2:
        raise ESIMGoMalformedResponse(f"bundle detail {bundle}: country entry without iso")
    if not isinstance(networks, list):
        raise ESIMGoMalformedResponse(f"bundle detail {bundle}: networks is not a list")
    parsed, names = [], set()
    for network in networks:
        item = _network(network)
        if item is not None and item.name.casefold() not in names:
            names.add(item.name.casefold())
            parsed.append(item)
    return CountryNetworks(iso=iso.strip().upper(), networks=tuple(parsed))


def _network(raw: Any) -> Network | None:
    if isinstance(raw, str):
        raw = {"name": raw}
    if not isinstance(raw, dict):
        return None  # one odd entry costs that operator's line, not the whole bundle
    label = next(
        (raw[key].strip() for key in ("brandName", "name") if isinstance(raw.get(key), str) and raw[key].strip()), ""
    )
    if not label:
        return None
    speeds = raw.get("speeds") if raw.get("speeds") is not None else raw.get("speed")
    if isinstance(speeds, str):
        speeds = [part for part in speeds.replace("/", ",").split(",")]
    if not isinstance(speeds, list):
        speeds = []
    clean = tuple(dict.fromkeys(str(s).strip().upper() for s in speeds if s is not None and str(s).strip()))
    return Network(name=label[:MAX_NAME_LENGTH], speeds=clean)
