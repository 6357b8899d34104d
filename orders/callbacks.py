"""eSIM Go usage callbacks (Callback V3): signature check, raw inbox, processing.

Signature: X-Signature-SHA256 = HMAC-SHA256(raw body, key = our API key). eSIM Go's pages say
base64, its webhook guide says hex: both are accepted, compared in constant time.
Two payload families arrive on the same URL: {alertType: "Utilisation"|"FirstUse"|...} and
{event: "esim.deletion_scheduled", ...}. The ICCID is kept as a string even if it arrives as
a JSON number (re-read from the raw text so no float rounding can touch it).
"""

import base64
import binascii
import hashlib
import hmac
import json
import logging
import re
from decimal import Decimal, InvalidOperation

from django.db import IntegrityError, transaction
from django.utils import timezone

from orders import services, tasks, usage
from orders.models import EmailLog, ESIMGoCallback, Order

logger = logging.getLogger(__name__)

_ICCID_IN_RAW = re.compile(rb'"iccid"\s*:\s*"?(\d{6,22})"?')
USAGE_ALERTS = {"utilisation", "utilization", "firstuse"}


def signature_is_valid(body: bytes, header_value: str | None, key: str) -> bool:
    if not header_value or not key:
        return False
    expected = hmac.new(key.encode(), body, hashlib.sha256).digest()
    value = header_value.strip()
    if value.lower().startswith("sha256="):
        value = value[len("sha256=") :]
    if len(value) == 64 and re.fullmatch(r"[0-9a-fA-F]{64}", value):
        return hmac.compare_digest(value.lower(), expected.hex())
    try:
        decoded = base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        return False
    return len(decoded) == 32 and hmac.compare_digest(decoded, expected)


def extract_iccid(body: bytes, data) -> str:
    match = _ICCID_IN_RAW.search(body)
    if match:
        return match.group(1).decode()
    value = data.get("iccid") if isinstance(data, dict) else None
    return str(value) if value is not None else ""


def receive_callback(body: bytes) -> tuple[ESIMGoCallback, bool]:
    """Store an authentic callback once (by body hash). Returns (row, created); processing is queued on commit."""
    digest = hashlib.sha256(body).hexdigest()
    # PostgreSQL text cannot hold NUL: one raw NUL byte in a signed body would 500 and lose the callback.
    text = body.decode("utf-8", errors="replace").replace("\x00", "\ufffd")
    try:
        data = json.loads(text)
    except ValueError:
        data = None
    alert = ""
    if isinstance(data, dict):
        alert = str(data.get("alertType") or data.get("event") or "")[:64]
    iccid = extract_iccid(body, data)
    try:
        with transaction.atomic():
            row = ESIMGoCallback.objects.create(body_sha256=digest, body=text, alert_type=alert, iccid=iccid[:32])
            transaction.on_commit(lambda: tasks.process_esimgo_callback_task.delay(row.pk), robust=True)
    except IntegrityError:
        return ESIMGoCallback.objects.get(body_sha256=digest), False
    return row, True


def _int(value) -> int | None:
    try:
        return int(Decimal(str(value)))
    except (InvalidOperation, ValueError, TypeError):
        return None


def process_callback(callback_id) -> str:
    """Refresh the cached data left and send the 80 % / 100 % e-mails (once per assignment each)."""
    row = ESIMGoCallback.objects.get(pk=callback_id)
    if row.processed_at:
        return row.result
    parsed = _parse(row)
    if isinstance(parsed, str):
        result = parsed
    else:
        # eSIM Go call outside any transaction: a slow answer must not hold row locks.
        refreshed = usage.get_usage(row.iccid, refresh=True)
        if not refreshed.available and parsed.get("name"):
            usage.apply_callback_bundle(row.iccid, parsed)
        result = None
    with transaction.atomic():
        row = ESIMGoCallback.objects.select_for_update().get(pk=callback_id)
        if row.processed_at:
            return row.result
        if result is None:
            result = _queue_usage_alert(row.iccid, parsed)
        row.processed_at = timezone.now()
        row.result = result[:255]
        row.save(update_fields=["processed_at", "result"])
    return result


def _parse(row):
    """The callback's bundle dict (quantities as ints) if it is a usage alert, else a result string."""
    try:
        data = json.loads(row.body)
    except ValueError:
        return "ignored: not JSON"
    if not isinstance(data, dict):
        return "ignored: not an object"
    kind = (row.alert_type or "").replace("_", "").lower()
    if kind not in USAGE_ALERTS:
        logger.info("eSIM Go callback %s (%s) stored; no action", row.alert_type, row.iccid)
        return f"stored: {row.alert_type or 'unknown'}"
    if not row.iccid:
        return "ignored: no iccid"
    bundle = data.get("bundle") if isinstance(data.get("bundle"), dict) else {}
    return {
        **bundle,
        "initialQuantity": _int(bundle.get("initialQuantity")),
        "remainingQuantity": _int(bundle.get("remainingQuantity")),
    }


def _queue_usage_alert(iccid, bundle) -> str:
    order = _order_for(iccid, bundle.get("name"))
    if order is None:
        return "usage refreshed; no order for this eSIM"
    initial, remaining = bundle.get("initialQuantity"), bundle.get("remainingQuantity")
    if bundle.get("unlimited") or not initial or remaining is None:
        return "usage refreshed"
    used_percent = (initial - max(remaining, 0)) * 100 / initial
    assignment = str(bundle.get("id") or bundle.get("reference") or f"{bundle.get('name')}:{bundle.get('startTime')}")
    if used_percent >= 100:
        services.queue_email(order, EmailLog.Kind.USAGE_100, event_key=assignment)
        return "usage 100% alert"
    if used_percent >= 80:
        services.queue_email(order, EmailLog.Kind.USAGE_80, event_key=assignment)
        return "usage 80% alert"
    return "usage refreshed"


def _order_for(iccid, bundle_name):
    orders = Order.objects.filter(esim__iccid=iccid, status=Order.Status.DELIVERED).select_related("bundle", "customer")
    if bundle_name:
        match = orders.filter(bundle__name=bundle_name).order_by("-created_at").first()
        if match:
            return match
    return orders.order_by("-created_at").first()
