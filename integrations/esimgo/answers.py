"""What the eSIM Go client returns: frozen dataclasses, parsed once from the wire
(integrations.esimgo.parsing) so callers read attributes, never eSIM Go's JSON keys.

Money is Decimal, quantities int, times aware datetimes (or None when eSIM Go sent none or an
unreadable one). Answers the shop keeps as evidence carry the JSON as received in `raw`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

# Order statuses eSIM Go reports for a purchase that did not happen.
FAILED_ORDER_STATUSES = frozenset({"failed", "cancelled", "canceled", "rejected", "error"})
# profileStatus values of an eSIM that was never installed on a phone.
NOT_INSTALLED_PROFILE_STATUSES = frozenset({"", "released", "new", "downloaded"})


# --- catalogue -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Country:
    iso: str  # ISO 3166-1 alpha-2, upper case
    name: str
    region: str


@dataclass(frozen=True)
class CatalogueBundle:
    """One bundle of GET /catalogue or /catalogue/bundle/{name} (docs/providers/esimgo.md, Catalogue)."""

    name: str
    description: str
    groups: tuple[str, ...]
    data_amount_mb: int  # -1 when unlimited
    duration_days: int
    unlimited: bool
    speed: tuple[str, ...]
    autostart: bool
    image_url: str
    billing_type: str
    price: Decimal
    currency: str  # upper case; "" when eSIM Go sent none
    countries: tuple[Country, ...]  # base countries
    roaming: tuple[Country, ...]  # roamingEnabled: where it also works


@dataclass(frozen=True)
class CataloguePage:
    page: int
    page_count: int | None
    rows: int | None
    bundles: tuple[CatalogueBundle, ...] = ()


# --- orders ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class EsimInstall:
    """Install details of one eSIM: from an order answer's `esims` or /esims/assignments."""

    iccid: str
    matching_id: str
    smdp_address: str
    bundle: str = ""
    reference: str = ""

    @property
    def complete(self) -> bool:
        """All three codes a phone needs are there (eSIM Go may not have assigned them yet)."""
        return bool(self.iccid and self.matching_id and self.smdp_address)


@dataclass(frozen=True)
class OrderLine:
    type: str  # "bundle" for every line the shop orders
    item: str  # the bundle name
    quantity: int | None
    iccids: tuple[str, ...]
    esims: tuple[EsimInstall, ...]


@dataclass(frozen=True)
class ESIMGoOrder:
    """POST /orders (validate or transaction), GET /orders/{reference} or one entry of GET /orders.

    Read tolerantly: a purchase answer must never be lost over one odd field, so every field but
    the object itself is optional ("" / None / empty)."""

    reference: str  # orderReference; "" when eSIM Go sent none
    status: str  # as sent, e.g. "completed"
    status_message: str
    valid: bool | None  # only validate answers say
    total: Decimal | None
    currency: str
    created_at: datetime | None
    lines: tuple[OrderLine, ...]
    raw: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @property
    def failed(self) -> bool:
        """eSIM Go says this purchase did not happen."""
        return self.status.strip().lower() in FAILED_ORDER_STATUSES

    @property
    def refused(self) -> bool:
        """A validate answer (or a purchase) eSIM Go will not carry out."""
        return self.valid is False or self.failed

    @property
    def bundle_names(self) -> frozenset[str]:
        return frozenset(line.item for line in self.lines if line.type == "bundle" and line.item)

    @property
    def items(self) -> tuple[str, ...]:
        return tuple(line.item for line in self.lines if line.item)

    @property
    def iccids(self) -> frozenset[str]:
        """Every eSIM the order names: the lines' `iccids` and the ICCIDs of their `esims`."""
        return frozenset(
            [i for line in self.lines for i in line.iccids] + [e.iccid for line in self.lines for e in line.esims]
        )

    @property
    def esims(self) -> tuple[EsimInstall, ...]:
        """The eSIMs whose install details the answer carries in full."""
        return tuple(e for line in self.lines for e in line.esims if e.complete)


@dataclass(frozen=True)
class OrderList:
    """One page of GET /orders."""

    orders: tuple[ESIMGoOrder, ...]
    rows: int | None
    page_count: int | None
    received: int  # entries on the page, including any that were not objects (and are left out)


# --- eSIMs -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class EsimProfile:
    """GET /esims/{iccid}."""

    iccid: str
    profile_status: str  # e.g. "Released", "Installed"
    first_installed: str  # firstInstalledDateTime as sent (ms since the epoch or a date-time); "" if none
    customer_ref: str
    matching_id: str
    smdp_address: str
    raw: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @property
    def ever_installed(self) -> bool:
        return bool(self.first_installed) or self.profile_status.strip().lower() not in NOT_INSTALLED_PROFILE_STATUSES


@dataclass(frozen=True)
class BundleAssignment:
    """One assignment of a bundle on an eSIM: its state and data (bytes, 1 GB = 10^9)."""

    id: str
    state: str  # lower case: processing, queued, active, depleted, expired, revoked, lapsed
    initial_bytes: int | None
    remaining_bytes: int | None
    unlimited: bool
    start_time: str  # as sent (RFC 3339); "" if none
    end_time: str
    reference: str = ""


@dataclass(frozen=True)
class EsimBundle:
    """One entry of GET /esims/{iccid}/bundles."""

    name: str
    description: str
    assignments: tuple[BundleAssignment, ...]


@dataclass(frozen=True)
class RevokeAnswer:
    """DELETE /esims/{iccid}/bundles/{name}; a validate answer may offer an `offerId` for a
    refund to the balance (docs/providers/esimgo.md, Refunds)."""

    status: str
    offer_id: str
    raw: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)


# --- organisation ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Organisation:
    balance: Decimal
    currency: str  # "" when eSIM Go sent none
    name: str
    raw: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)
