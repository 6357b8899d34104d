"""eSIM Go's JSON (and CSV) → the answers of integrations.esimgo.answers, tolerant of the shapes
recorded in docs/providers/esimgo.md (Spec vs live): the live API wins over the OpenAPI file.

Catalogue bundles are read strictly (a bad bundle stops a sync rather than being stored wrong);
order answers tolerantly (a purchase answer must never be lost over one odd field).
"""

from __future__ import annotations

import csv
import io
from typing import Any

from integrations.esimgo.answers import (
    BundleAssignment,
    CatalogueBundle,
    Country,
    EsimBundle,
    ESIMGoOrder,
    EsimInstall,
    EsimProfile,
    OrderLine,
    OrderList,
    Organisation,
    RevokeAnswer,
)
from integrations.esimgo.errors import ESIMGoMalformedResponse
from integrations.esimgo.values import (
    as_list,
    lenient_decimal,
    lenient_int,
    optional_int,
    parse_bool,
    parse_decimal,
    parse_int,
    parse_time,
    text,
)

# --- catalogue -------------------------------------------------------------------------------


def _parse_country(entry: Any, *, field_name: str) -> Country:
    """Flat {name, region, iso}, nested {country:{...}, networks:[...]}, or a bare ISO string."""
    iso: Any
    name: Any
    region: Any
    if isinstance(entry, str):
        iso, name, region = entry, "", ""
    elif isinstance(entry, dict):
        inner: dict[str, Any] = entry["country"] if isinstance(entry.get("country"), dict) else entry
        iso, name, region = inner.get("iso"), inner.get("name"), inner.get("region")
    else:
        raise ESIMGoMalformedResponse(f"{field_name} entry is not an object: {entry!r}")
    if not isinstance(iso, str) or not iso.strip():
        raise ESIMGoMalformedResponse(f"{field_name} entry without iso: {entry!r}")
    return Country(
        iso=iso.strip().upper(),
        name=name.strip() if isinstance(name, str) else "",
        region=region.strip() if isinstance(region, str) else "",
    )


def _parse_speed(value: Any) -> list[str]:
    """Speeds arrive as ["4G","5G"], "4G/5G", {"4G": true} or null."""
    if value is None:
        return []
    if isinstance(value, str):
        return [part.strip() for part in value.replace("/", ",").split(",") if part.strip()]
    if isinstance(value, list):
        return [str(item).strip() for item in value if item is not None and str(item).strip()]
    if isinstance(value, dict):
        speeds = []
        for key, item in value.items():
            if isinstance(item, (list, str)):
                speeds.extend(_parse_speed(item))
            elif item:
                speeds.append(str(key).strip())
        return speeds
    raise ESIMGoMalformedResponse(f"speed has an unexpected type: {type(value).__name__}")


def parse_bundle(raw: Any) -> CatalogueBundle:
    """One catalogue bundle (docs/providers/esimgo.md, Catalogue); strict: garbage raises."""
    if not isinstance(raw, dict):
        raise ESIMGoMalformedResponse(f"bundle is not an object: {type(raw).__name__}")
    name = raw.get("name")
    if not isinstance(name, str) or not name.strip():
        raise ESIMGoMalformedResponse("bundle without name")
    name = name.strip()

    unlimited = parse_bool(raw.get("unlimited"))
    data_amount = raw.get("dataAmount")
    if data_amount is None and not unlimited:
        raise ESIMGoMalformedResponse(f"bundle {name}: dataAmount missing")
    data_amount_mb = parse_int(data_amount, field_name=f"{name}.dataAmount") if data_amount is not None else -1
    if data_amount_mb == -1:
        unlimited = True
    if unlimited:
        data_amount_mb = -1
    elif data_amount_mb < 0:
        raise ESIMGoMalformedResponse(f"bundle {name}: negative dataAmount {data_amount!r}")

    if raw.get("duration") is None:
        raise ESIMGoMalformedResponse(f"bundle {name}: duration missing")
    duration_days = parse_int(raw.get("duration"), field_name=f"{name}.duration")
    if raw.get("price") is None:
        raise ESIMGoMalformedResponse(f"bundle {name}: price missing")
    price = parse_decimal(raw.get("price"), field_name=f"{name}.price")
    if price < 0 or duration_days < 0:
        raise ESIMGoMalformedResponse(f"bundle {name}: negative price or duration")

    groups = raw.get("groups")
    if isinstance(groups, str):
        groups = [groups]

    def string(key: str) -> str:
        value = raw.get(key)
        return value.strip() if isinstance(value, str) else ""

    return CatalogueBundle(
        name=name,
        description=string("description"),
        groups=tuple(str(g) for g in as_list(groups, field_name=f"{name}.groups") if g),
        data_amount_mb=data_amount_mb,
        duration_days=duration_days,
        unlimited=unlimited,
        speed=tuple(_parse_speed(raw.get("speed"))),
        autostart=parse_bool(raw.get("autostart")),
        image_url=string("imageUrl"),
        billing_type=string("billingType"),
        price=price,
        currency=string("currency").upper(),
        countries=tuple(
            _parse_country(c, field_name=f"{name}.countries")
            for c in as_list(raw.get("countries"), field_name=f"{name}.countries")
        ),
        roaming=tuple(
            _parse_country(c, field_name=f"{name}.roamingEnabled")
            for c in as_list(raw.get("roamingEnabled"), field_name=f"{name}.roamingEnabled")
        ),
    )


# --- orders ----------------------------------------------------------------------------------


def _parse_install(raw: dict[str, Any]) -> EsimInstall:
    return EsimInstall(
        iccid=text(raw.get("iccid")),
        matching_id=text(raw.get("matchingId")),
        smdp_address=text(raw.get("smdpAddress")),
        bundle=text(raw.get("bundle")),
        reference=text(raw.get("reference")),
    )


def _parse_line(raw: dict[str, Any]) -> OrderLine:
    iccids = raw.get("iccids")
    esims = raw.get("esims")
    return OrderLine(
        type=text(raw.get("type")) or "bundle",
        item=text(raw.get("item")),
        quantity=lenient_int(raw.get("quantity")),
        iccids=tuple(text(i) for i in iccids if text(i)) if isinstance(iccids, list) else (),
        esims=tuple(_parse_install(e) for e in esims if isinstance(e, dict)) if isinstance(esims, list) else (),
    )


def parse_order(raw: Any, *, outcome_unknown: bool = False) -> ESIMGoOrder:
    """An order answer; only a non-object raises (with `outcome_unknown` for a purchase's answer)."""
    if not isinstance(raw, dict):
        raise ESIMGoMalformedResponse("order response is not an object", outcome_unknown=outcome_unknown)
    lines = raw.get("order")
    valid = raw.get("valid")
    return ESIMGoOrder(
        reference=text(raw.get("orderReference")),
        status=text(raw.get("status")),
        status_message=text(raw.get("statusMessage")),
        valid=None if valid is None else parse_bool(valid),
        total=lenient_decimal(raw.get("total")),
        currency=text(raw.get("currency")).upper(),
        created_at=parse_time(raw.get("createdDate") or raw.get("createdAt")),
        lines=tuple(_parse_line(line) for line in lines if isinstance(line, dict)) if isinstance(lines, list) else (),
        raw=raw,
    )


def parse_order_list(data: Any) -> OrderList:
    """GET /orders: the envelope {orders, rows, pageCount} or a bare array; entries that are not
    objects are left out (and counted in `received`)."""
    entries: list[Any]
    rows: int | None
    page_count: int | None
    if isinstance(data, list):
        entries, rows, page_count = data, len(data), 1
    elif isinstance(data, dict) and isinstance(data.get("orders", []), list):
        entries = data.get("orders") or []
        rows = optional_int(data.get("rows"), field_name="rows")
        page_count = optional_int(data.get("pageCount"), field_name="pageCount")
    else:
        raise ESIMGoMalformedResponse("orders list response has no orders list")
    orders = tuple(parse_order(entry) for entry in entries if isinstance(entry, dict))
    return OrderList(orders=orders, rows=rows, page_count=page_count, received=len(entries))


# --- eSIMs -----------------------------------------------------------------------------------

ASSIGNMENT_CSV_COLUMNS = {
    "iccid": "iccid",
    "matching id": "matchingId",
    "rsp url": "smdpAddress",
    "bundle": "bundle",
    "reference": "reference",
}


def parse_assignments(body: Any) -> tuple[EsimInstall, ...]:
    """/esims/assignments as JSON (object or list) or, if eSIM Go ignored Accept, CSV."""
    if isinstance(body, (bytes, str)):
        text = body.decode("utf-8-sig") if isinstance(body, bytes) else body
        reader = csv.DictReader(io.StringIO(text.strip()), skipinitialspace=True)
        rows = []
        for row in reader:
            item = {}
            for column, value in row.items():
                key = ASSIGNMENT_CSV_COLUMNS.get((column or "").strip().lower())
                if key:
                    item[key] = (value or "").strip()
            if item.get("iccid"):
                rows.append(item)
        if not rows and text.strip():
            raise ESIMGoMalformedResponse("assignments CSV without ICCID rows")
        return tuple(_parse_install(row) for row in rows)
    if isinstance(body, dict):
        for key in ("esims", "assignments"):
            if isinstance(body.get(key), list):
                body = body[key]
                break
        else:
            body = [body]
    if not isinstance(body, list) or not all(isinstance(item, dict) for item in body):
        raise ESIMGoMalformedResponse("assignments response is not an object or a list of objects")
    installs = tuple(_parse_install(item) for item in body)
    if not all(install.iccid for install in installs):
        raise ESIMGoMalformedResponse("assignment without iccid")
    return installs


def parse_esim(data: Any) -> EsimProfile:
    if not isinstance(data, dict):
        raise ESIMGoMalformedResponse("eSIM response is not an object")
    return EsimProfile(
        iccid=text(data.get("iccid")),
        profile_status=text(data.get("profileStatus")),
        first_installed=text(data.get("firstInstalledDateTime")),
        customer_ref=text(data.get("customerRef")),
        matching_id=text(data.get("matchingId")),
        smdp_address=text(data.get("smdpAddress")),
        raw=data,
    )


def _parse_assignment(raw: Any) -> BundleAssignment:
    if not isinstance(raw, dict):
        raise ESIMGoMalformedResponse(f"assignment is not an object: {raw!r}")
    return BundleAssignment(
        id=text(raw.get("id")),
        state=text(raw.get("bundleState")).lower(),
        initial_bytes=optional_int(raw.get("initialQuantity"), field_name="initialQuantity"),
        remaining_bytes=optional_int(raw.get("remainingQuantity"), field_name="remainingQuantity"),
        unlimited=parse_bool(raw.get("unlimited")),
        start_time=text(raw.get("startTime")),
        end_time=text(raw.get("endTime")),
        reference=text(raw.get("assignmentReference") or raw.get("reference")),
    )


def parse_esim_bundle(raw: Any) -> EsimBundle:
    """A bundle on an eSIM with its assignments (a single object or a list upstream)."""
    if not isinstance(raw, dict):
        raise ESIMGoMalformedResponse(f"eSIM bundle is not an object: {raw!r}")
    assignments = raw.get("assignments")
    if isinstance(assignments, dict):
        assignments = [assignments]
    return EsimBundle(
        name=text(raw.get("name")),
        description=text(raw.get("description")),
        assignments=tuple(_parse_assignment(a) for a in as_list(assignments, field_name="assignments")),
    )


def _offer_id(answer: dict[str, Any]) -> str:
    """The `offerId` of a revoke validate answer: top level, or the first offer/option that
    carries one (the live shape is unrecorded; the spec only says validate "provides options")."""
    if answer.get("offerId"):
        return str(answer["offerId"])
    for value in answer.values():
        for entry in value if isinstance(value, list) else []:
            if isinstance(entry, dict) and entry.get("offerId"):
                return str(entry["offerId"])
    return ""


def parse_revoke(data: Any) -> RevokeAnswer:
    if not isinstance(data, dict):
        raise ESIMGoMalformedResponse("revoke response is not an object")
    return RevokeAnswer(status=text(data.get("status")), offer_id=_offer_id(data), raw=data)


# --- organisation ----------------------------------------------------------------------------


def parse_organisation(data: Any) -> Organisation:
    """Flat object, {organisations:[{...}]} (live) or {organisation:{...}}."""
    org = data
    if isinstance(data, dict):
        if isinstance(data.get("organisations"), list):
            if not data["organisations"]:
                raise ESIMGoMalformedResponse("organisation response has an empty organisations list")
            org = data["organisations"][0]
        elif isinstance(data.get("organisation"), dict):
            org = data["organisation"]
    if not isinstance(org, dict) or "balance" not in org:
        raise ESIMGoMalformedResponse("organisation response without balance")
    return Organisation(
        balance=parse_decimal(org["balance"], field_name="organisation.balance"),
        currency=org["currency"].strip().upper() if isinstance(org.get("currency"), str) else "",
        name=text(org.get("name")),
        raw=org,
    )
