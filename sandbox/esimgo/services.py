"""Writes of the sandbox eSIM Go: orders (validate/transaction), revocation, customerRef,
compatibility, and the V3 usage callback it can send to the shop.

Compatibility rule (GET /esims/{iccid}/compatible/{bundle} and top-up orders): a bundle fits
an eSIM when it belongs to the same provider family as the eSIM's first bundle ("global"
bundles, code RGBS, run on another provider than everything else) AND it covers at least one
country (base or roaming) that some bundle already on the eSIM covers.
"""

import base64
import hashlib
import hmac
import json
import logging
import secrets
import string
import uuid
from datetime import timedelta
from datetime import timezone as dt_timezone
from decimal import Decimal

import requests
from django.conf import settings
from django.db import transaction
from django.utils import timezone

from sandbox.esimgo import usage
from sandbox.esimgo.catalogue import get_catalogue
from sandbox.esimgo.models import Organisation, SandboxAssignment, SandboxEsim, SandboxOrder

logger = logging.getLogger(__name__)

SMDP_ADDRESS = "rsp-0001.sandbox.esim-go.invalid"
ICCID_PREFIX = "8944538532"
MAX_QUANTITY = 50
ORDER_KEYS = {"type", "assign", "order", "profileID"}
LINE_KEYS = {"type", "quantity", "item", "iccids", "allowReassign"}


class ApiError(Exception):
    def __init__(self, status, message):
        super().__init__(message)
        self.status = status
        self.message = message


def rfc3339(dt) -> str:
    return dt.astimezone(dt_timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ") if dt else None


def money(value: Decimal) -> float:
    return float(value)


# --- identifiers ---------------------------------------------------------------------------


def _luhn_digit(digits: str) -> str:
    total = 0
    for i, ch in enumerate(reversed(digits)):
        n = int(ch)
        if i % 2 == 0:
            n *= 2
            n = n - 9 if n > 9 else n
        total += n
    return str((10 - total % 10) % 10)


def new_iccid() -> str:
    body = ICCID_PREFIX + "".join(secrets.choice(string.digits) for _ in range(8))
    return body + _luhn_digit(body)


def new_matching_id() -> str:
    alphabet = string.ascii_uppercase + string.digits
    return "-".join("".join(secrets.choice(alphabet) for _ in range(5)) for _ in range(4))


def _create_esim(order) -> SandboxEsim:
    for _ in range(10):
        iccid = new_iccid()
        if not SandboxEsim.objects.filter(iccid=iccid).exists():
            return SandboxEsim.objects.create(
                iccid=iccid,
                matching_id=new_matching_id(),
                smdp_address=SMDP_ADDRESS,
                pin="".join(secrets.choice(string.digits) for _ in range(4)),
                puk="".join(secrets.choice(string.digits) for _ in range(8)),
                order=order,
            )
    raise RuntimeError("could not allocate an ICCID")


# --- compatibility -------------------------------------------------------------------------


def is_compatible(esim: SandboxEsim, bundle_name: str) -> bool:
    catalogue = get_catalogue()
    names = [a.bundle_name for a in esim.assignments.all() if a.bundle_name in catalogue.by_name]
    if not names:
        return False
    if catalogue.family(bundle_name) != catalogue.family(names[0]):
        return False
    covered = set().union(*(catalogue.coverage(n) for n in names))
    return bool(covered & catalogue.coverage(bundle_name))


# --- orders --------------------------------------------------------------------------------


def _parse_order(body):
    if not isinstance(body, dict):
        raise ApiError(400, "request body must be a JSON object")
    unknown = set(body) - ORDER_KEYS
    if unknown:
        raise ApiError(400, f"unknown field(s): {', '.join(sorted(unknown))}")
    if body.get("type") not in ("validate", "transaction"):
        raise ApiError(400, "type must be 'validate' or 'transaction'")
    assign = body.get("assign", False)
    if not isinstance(assign, bool):
        raise ApiError(400, "assign must be a boolean")
    profile_id = body.get("profileID")
    if profile_id is not None:
        try:
            uuid.UUID(str(profile_id))
        except ValueError:
            raise ApiError(400, f"invalid UUID length: {len(str(profile_id))}") from None
    lines = body.get("order")
    if not isinstance(lines, list) or not lines:
        raise ApiError(400, "order must be a non-empty list")
    catalogue = get_catalogue()
    parsed = []
    for index, line in enumerate(lines):
        where = f"order[{index}]"
        if not isinstance(line, dict):
            raise ApiError(400, f"{where} must be an object")
        unknown = set(line) - LINE_KEYS
        if unknown:
            raise ApiError(400, f"{where}: unknown field(s): {', '.join(sorted(unknown))}")
        if line.get("type") != "bundle":
            raise ApiError(400, f"{where}.type must be 'bundle'")
        item = line.get("item")
        if not isinstance(item, str) or item not in catalogue.by_name:
            raise ApiError(400, f"{where}.item: bundle {item!r} not found")
        quantity = line.get("quantity")
        if not isinstance(quantity, int) or isinstance(quantity, bool) or not 1 <= quantity <= MAX_QUANTITY:
            raise ApiError(400, f"{where}.quantity must be an integer between 1 and {MAX_QUANTITY}")
        allow_reassign = line.get("allowReassign", False)
        if not isinstance(allow_reassign, bool):
            raise ApiError(400, f"{where}.allowReassign must be a boolean")
        iccids = line.get("iccids")
        if iccids is not None:
            if not assign:
                raise ApiError(400, f"{where}.iccids is only allowed with assign=true")
            if not isinstance(iccids, list) or not all(isinstance(i, str) and i for i in iccids):
                raise ApiError(400, f"{where}.iccids must be a list of ICCID strings")
            if len(iccids) != quantity:
                raise ApiError(400, f"{where}: quantity must equal the number of iccids")
            if len(set(iccids)) != len(iccids):
                raise ApiError(400, f"{where}.iccids contains duplicates")
        bundle = catalogue.by_name[item]
        parsed.append(
            {"bundle": bundle, "quantity": quantity, "iccids": iccids or [], "allow_reassign": allow_reassign}
        )
    return body["type"], assign, parsed


def _targets(line):
    """Existing eSIMs named in a line, checked for access and compatibility (None = new eSIM)."""
    targets = []
    for iccid in line["iccids"]:
        esim = SandboxEsim.objects.filter(iccid=iccid).first()
        if esim is None:
            raise ApiError(400, f"ICCID {iccid} not accessible by the user")
        if is_compatible(esim, line["bundle"]["name"]):
            targets.append(esim)
        elif line["allow_reassign"]:
            targets.append(None)
        else:
            raise ApiError(400, f"Bundle {line['bundle']['name']} is not compatible with eSIM {iccid}")
    return targets or [None] * line["quantity"]


def _line_summary(line):
    price = line["bundle"]["price"]
    return {
        "type": "bundle",
        "item": line["bundle"]["name"],
        "quantity": line["quantity"],
        "subTotal": money(price * line["quantity"]),
        "pricePerUnit": money(price),
        "AllowReassign": line["allow_reassign"],
    }


def _assign(esim, order, bundle, reference, now):
    live = [a for a in esim.assignments.all() if a.revoked_at is None]
    first_use = now + timedelta(seconds=usage.first_use_seconds())
    if live:  # a top-up waits for the bundle in use to run out
        first_use = max([first_use] + [usage.ends_at(a) for a in live])
    daily_quota = {"Standard Unlimited Plus": 2}.get(bundle["groups"][0], 1) * 10**9
    return SandboxAssignment.objects.create(
        esim=esim,
        order=order,
        reference=reference,
        bundle_name=bundle["name"],
        description=bundle["description"],
        initial_quantity=daily_quota if bundle["unlimited"] else bundle["dataAmount"] * 10**6,
        unlimited=bundle["unlimited"],
        duration_days=bundle["duration"],
        price=bundle["price"],
        assigned_at=now,
        first_used_at=first_use,
    )


def place_order(body, source_ip="") -> dict:
    kind, assign, lines = _parse_order(body)
    total = sum((line["bundle"]["price"] * line["quantity"] for line in lines), Decimal("0"))
    now = timezone.now()
    if kind == "validate":
        for line in lines:
            if assign:
                _targets(line)
        org = Organisation.current()
        if org.balance < total:
            raise ApiError(400, "Insufficient balance")
        return {
            "order": [_line_summary(line) for line in lines],
            "total": money(total),
            "valid": True,
            "currency": org.currency,
            "createdDate": rfc3339(now),
            "assigned": assign,
        }
    with transaction.atomic():
        org = Organisation.locked()
        targets = [_targets(line) if assign else [] for line in lines]
        if org.balance < total:
            raise ApiError(400, "Insufficient balance")
        org.balance -= total
        org.save(update_fields=["balance"])
        order = SandboxOrder.objects.create(
            reference=uuid.uuid4(),
            assigned=assign,
            total=total,
            currency=org.currency,
            created_at=now,
            source_ip=source_ip,
            response={},
        )
        response_lines, assigned_count, seq = [], 0, 0
        for line, line_targets in zip(lines, targets, strict=True):
            summary = _line_summary(line)
            if assign:
                esims = []
                for target in line_targets:
                    esim = target or _create_esim(order)
                    _assign(esim, order, line["bundle"], f"{order.reference}-{seq}", now)
                    seq += 1
                    esims.append(esim)
                summary["iccids"] = [e.iccid for e in esims]
                summary["esims"] = [
                    {"iccid": e.iccid, "matchingId": e.matching_id, "smdpAddress": e.smdp_address} for e in esims
                ]
                assigned_count += len(esims)
            response_lines.append(summary)
        count = sum(line["quantity"] for line in lines)
        order.response = {
            "order": response_lines,
            "total": money(total),
            "currency": org.currency,
            "status": "completed",
            "statusMessage": (
                f"Order completed: {assigned_count} eSIMs assigned"
                if assign
                else f"Order completed: {count} bundles added to inventory"
            ),
            "orderReference": str(order.reference),
            "createdDate": rfc3339(now),
            "assigned": assign,
            "sourceIP": source_ip,
        }
        order.save(update_fields=["response"])
    return order.response


# --- eSIM changes --------------------------------------------------------------------------


def offer_id_for(assignment) -> str:
    """The sandbox's offerId for refunding one assignment to the balance (stable per assignment)."""
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"esimgo-sandbox-offer:{assignment.pk}"))


def revoke(esim: SandboxEsim, bundle_name: str, *, validate: bool, refund_to_balance: bool, offer_id: str = "") -> dict:
    with transaction.atomic():
        org = Organisation.locked()
        candidates = esim.assignments.select_for_update().filter(bundle_name=bundle_name, revoked_at=None)
        unused = [a for a in candidates if usage.is_unused(a)]
        if not unused:
            raise ApiError(400, f"No unused {bundle_name} bundle on eSIM {esim.iccid} can be revoked")
        target = unused[0]  # the oldest unused assignment, as eSIM Go documents
        destination = "balance" if refund_to_balance else "inventory"
        if validate:
            answer = {"status": f"Bundle can be revoked and refunded to {destination}", "assignmentId": str(target.pk)}
            if refund_to_balance:
                answer["offerId"] = offer_id_for(target)
            return answer
        if refund_to_balance and offer_id != offer_id_for(target):
            # eSIM Go: offerId is "needed for refunding to balance" (docs/providers/esimgo.md, Refunds).
            raise ApiError(400, "offerId is required to refund to balance" if not offer_id else "unknown offerId")
        target.revoked_at = timezone.now()
        target.save(update_fields=["revoked_at"])
        if refund_to_balance:
            org.balance += target.price
            org.save(update_fields=["balance"])
    return {"status": f"Successfully Revoked Bundle, bundle has been refunded to {destination}"}


# --- usage callbacks -----------------------------------------------------------------------


def callback_url() -> str:
    return settings.ESIMGO_CALLBACK_URL


def sign(body: bytes, key: str) -> str:
    """X-Signature-SHA256 as eSIM Go V3 sends it: base64 HMAC-SHA256 of the raw body."""
    return base64.b64encode(hmac.new(key.encode(), body, hashlib.sha256).digest()).decode()


def build_utilisation_callback(iccid: str, percent: int = 80, bundle_name: str | None = None) -> dict:
    """Record `percent` % used on the eSIM's current bundle and return the V3 payload."""
    with transaction.atomic():
        esim = SandboxEsim.objects.select_for_update().get(iccid=iccid)
        assignments = esim.assignments.filter(revoked_at=None)
        if bundle_name:
            assignments = assignments.filter(bundle_name=bundle_name)
        assignment = assignments.order_by("-assigned_at", "-id").first()
        if assignment is None:
            raise ApiError(404, f"eSIM {iccid} has no bundle to report on")
        now = timezone.now()
        assignment.used_floor_bytes = assignment.initial_quantity * max(0, min(percent, 100)) // 100
        assignment.first_used_at = min(assignment.first_used_at, now)
        assignment.save(update_fields=["used_floor_bytes", "first_used_at"])
    state = usage.status(assignment, now)
    return {
        "iccid": esim.iccid,
        "alertType": "Utilisation",
        "bundle": {
            "id": str(assignment.pk),
            "reference": assignment.reference,
            "name": assignment.bundle_name,
            "description": assignment.description,
            "initialQuantity": assignment.initial_quantity,
            "remainingQuantity": state["remainingQuantity"],
            "startTime": rfc3339(state["startTime"]),
            "endTime": rfc3339(state["endTime"]),
            "unlimited": assignment.unlimited,
        },
    }


def send_usage_callback(iccid: str, percent: int = 80, *, url: str | None = None, bundle_name=None):
    """POST a signed V3 Utilisation callback to the shop; returns (HTTP status, payload)."""
    payload = build_utilisation_callback(iccid, percent, bundle_name)
    body = json.dumps(payload).encode()
    target = url or callback_url()
    response = requests.post(
        target,
        data=body,
        headers={"Content-Type": "application/json", "X-Signature-SHA256": sign(body, settings.SANDBOX_ESIMGO_API_KEY)},
        timeout=(5, 15),
    )
    logger.info(
        "sandbox eSIM Go: Utilisation callback for %s (%s%%) -> %s %s", iccid, percent, target, response.status_code
    )
    return response.status_code, payload
