"""Purchases whose outcome is unknown: looking for them in eSIM Go's order list, the evidence
kept while looking, and the hourly match of unattributed eSIM Go orders.

The rule (issue 10): a purchase that may have happened is never bought again automatically.
Provisioning (orders/provisioning.py) looks for the attempt's order every
ORDERS_UNKNOWN_OUTCOME_LOOKUP_INTERVAL_SECONDS for ORDERS_UNKNOWN_OUTCOME_WINDOW_SECONDS and adopts
it when it appears; if it never does, the order goes to NEEDS_ATTENTION with the look-ups as
evidence and the attempt stays open, so
  * the hourly `match_unattributed_orders` can still adopt an order eSIM Go commits later, and
  * staff decide: "Retry provisioning" looks once more; "Buy again" (staff/actions/orders.py) closes the
    attempt and buys, at the risk of a second paid eSIM Go order if the first one appears late.

eSIM Go v2.4 accepts no client reference on POST /orders that would make a retry safe: the
OrderRequest schema (reference/esimgo-openapi-v2.4.yaml, components.schemas.OrderRequest and
BundleOrder) has only type, assign and order[type, quantity, item, iccids, allowReassign]; the
only client-set reference is customerRef on PUT /esims, after the purchase. So orders are matched
by bundle, eSIM (top-ups) and creation time, excluding every order already attributed.
"""

from __future__ import annotations

import logging
import re
from datetime import datetime, timedelta
from datetime import timezone as dt_timezone

from django.conf import settings
from django.core.mail import send_mail
from django.db import transaction
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from integrations.esimgo.client import ESIMGoClient
from orders import conf
from orders.models import ESim, Order, ProvisioningAttempt

logger = logging.getLogger(__name__)

Outcome = ProvisioningAttempt.Outcome
OPEN_OUTCOMES = (Outcome.REQUESTED, Outcome.UNKNOWN)
# Order statuses eSIM Go reports for a purchase that did not happen.
FAILED_ORDER_STATUSES = {"failed", "cancelled", "canceled", "rejected", "error"}
MAX_LOOKUPS_KEPT = 30

_FRACTION = re.compile(r"\.\d+")


def parse_time(value) -> datetime | None:
    """RFC 3339 with up to nanoseconds (eSIM Go) → aware datetime; None if unreadable."""
    if not isinstance(value, str) or not value.strip():
        return None
    text = _FRACTION.sub(lambda m: m.group(0)[:7], value.strip()).replace("Z", "+00:00")
    try:
        parsed = parse_datetime(text)
    except ValueError:
        return None
    if parsed is not None and timezone.is_naive(parsed):
        parsed = timezone.make_aware(parsed, dt_timezone.utc)
    return parsed


def order_iccids(raw_order) -> set[str]:
    iccids = set()
    for line in raw_order.get("order") or []:
        if not isinstance(line, dict):
            continue
        iccids.update(str(i) for i in line.get("iccids") or [] if i)
        iccids.update(str(e.get("iccid")) for e in line.get("esims") or [] if isinstance(e, dict) and e.get("iccid"))
    return iccids


def look_up_window(attempt, now=None) -> tuple[datetime, datetime]:
    """eSIM Go orders created in this window may be the attempt's: from its start (less clock
    skew) to now, bounded by the end of the look-up window (plus skew)."""
    now = now or timezone.now()
    skew = timedelta(seconds=conf.reconcile_clock_skew_seconds())
    latest = attempt.started_at + timedelta(
        seconds=conf.reconcile_after_seconds() + conf.unknown_outcome_window_seconds()
    )
    return attempt.started_at - skew, min(max(now, attempt.started_at), latest) + skew


def list_orders(client, created_from, created_to) -> list[dict]:
    """eSIM Go's bundle orders created in the window (all pages), failed ones left out, each with
    `_created` and `_iccids` added."""
    found, page = [], 1
    while page <= 50:
        listing = client.list_orders(
            created_from=created_from, created_to=created_to, page=page, limit=100, include_iccids=True
        )
        for raw in listing.get("orders") or []:
            if not isinstance(raw, dict) or not raw.get("orderReference"):
                continue
            if str(raw.get("status", "")).lower() in FAILED_ORDER_STATUSES:
                continue
            created = parse_time(raw.get("createdDate"))
            if created is not None and not (created_from <= created <= created_to):
                continue  # the server ignored our filter; apply it ourselves
            raw["_created"] = created
            raw["_iccids"] = order_iccids(raw)
            found.append(raw)
        page_count = listing.get("pageCount")
        if not listing.get("orders") or page_count is None or page >= page_count:
            break
        page += 1
    return found


def _bundles(raw) -> set[str]:
    return {
        line.get("item")
        for line in raw.get("order") or []
        if isinstance(line, dict) and line.get("type", "bundle") == "bundle"
    }


def unclaimed(found: list[dict], *, except_attempt=None) -> list[dict]:
    """The orders no order or attempt of ours has claimed; `_known` marks those on an eSIM we
    already have (only a top-up may be one)."""
    if not found:
        return []
    references = [str(raw["orderReference"]) for raw in found]
    claimed = set(
        Order.objects.filter(esimgo_order_reference__in=references).values_list("esimgo_order_reference", flat=True)
    )
    attempts = ProvisioningAttempt.objects.filter(esimgo_order_reference__in=references).exclude(
        outcome__in=[Outcome.RECONCILED_ABSENT, Outcome.NOT_PLACED]
    )
    if except_attempt is not None:
        attempts = attempts.exclude(pk=except_attempt.pk)
    claimed |= set(attempts.values_list("esimgo_order_reference", flat=True))
    known_iccids = set(
        ESim.objects.filter(iccid__in={i for raw in found for i in raw["_iccids"]}).values_list("iccid", flat=True)
    )
    result = [raw for raw in found if str(raw["orderReference"]) not in claimed]
    for raw in result:
        raw["_known"] = bool(raw["_iccids"] & known_iccids)
    return result


def fits(order, raw) -> bool:
    """Same bundle; a top-up must be on the shopper's eSIM, a new eSIM on none we know."""
    if order.bundle.name not in _bundles(raw):
        return False
    return order.topup_iccid in raw["_iccids"] if order.kind == Order.Kind.TOPUP else not raw.get("_known")


def closeness(raw, attempt) -> float:
    return abs((raw["_created"] - attempt.started_at).total_seconds()) if raw.get("_created") else 1e12


def candidates(order, attempt, client) -> list[dict]:
    """Unclaimed eSIM Go orders that may be this attempt's purchase, the closest in time first."""
    created_from, created_to = look_up_window(attempt)
    found = unclaimed(list_orders(client, created_from, created_to), except_attempt=attempt)
    result = [raw for raw in found if fits(order, raw)]
    result.sort(key=lambda raw: closeness(raw, attempt))
    return result


def record_lookup(attempt, *, found: int) -> int:
    """Append one look-up to the attempt's evidence; returns how many were made."""
    created_from, created_to = look_up_window(attempt)
    entry = {
        "at": timezone.now().isoformat(timespec="seconds"),
        "found": found,
        "window": [created_from.isoformat(timespec="seconds"), created_to.isoformat(timespec="seconds")],
    }
    lookups = [*(attempt.lookups or []), entry][-MAX_LOOKUPS_KEPT:]
    ProvisioningAttempt.objects.filter(pk=attempt.pk).update(lookups=lookups)
    attempt.lookups = lookups
    return len(lookups)


def look_up_deadline(attempt) -> datetime:
    return attempt.started_at + timedelta(
        seconds=conf.reconcile_after_seconds() + conf.unknown_outcome_window_seconds()
    )


def evidence(attempt) -> str:
    """The NEEDS_ATTENTION reason: what we know, what we did, what staff may do and what it risks."""
    lookups = attempt.lookups or []
    first, last = (lookups[0]["at"], lookups[-1]["at"]) if lookups else ("-", "-")
    return (
        f"eSIM Go purchase outcome unknown: attempt {attempt.marker} started {attempt.started_at.isoformat(timespec='seconds')} "
        f"({attempt.error[:300] or attempt.outcome}). Looked for it in eSIM Go's order list {len(lookups)} times "
        f"({first} .. {last}): no matching order. NOT bought again. If the order appears later the hourly check "
        f"adopts it. 'Retry provisioning' looks once more; 'Buy again' buys a new eSIM and risks a second paid "
        f"eSIM Go order if the first one is committed late (check the eSIM Go portal first)."
    )


# --- the hourly match of unattributed eSIM Go orders --------------------------------------------


def alert_staff(subject: str, body: str) -> None:
    """One staff alert (an e-mail to STAFF_ALERT_EMAILS). The one place this module alerts from,
    so issue 12's deduplicated alerts can replace it."""
    recipients = [address for address in getattr(settings, "STAFF_ALERT_EMAILS", []) if address]
    if not recipients:
        logger.error("no STAFF_ALERT_EMAILS; alert not sent: %s", subject)
        return
    try:
        send_mail(f"[esimshop] {subject}", body, settings.DEFAULT_FROM_EMAIL, recipients)
    except Exception:  # noqa: BLE001 - an alert must never break the check that raised it
        logger.exception("staff alert failed: %s", subject)


def open_attempts():
    """Attempts whose purchase may have happened, on orders still without an eSIM."""
    return ProvisioningAttempt.objects.filter(
        outcome__in=OPEN_OUTCOMES,
        order__esim__isnull=True,
        order__status__in=[Order.Status.PAID, Order.Status.PROVISIONING, Order.Status.NEEDS_ATTENTION],
    ).select_related("order", "order__bundle")


def match_unattributed_orders(*, client=None, now=None) -> dict:
    """eSIM Go orders of the last few hours that no order of ours claims: adopt each for the open
    attempt it fits best (then provision it: the eSIM is delivered), alert staff about the rest."""
    from orders.tasks import provision_order_task  # at call time: tasks imports this module

    now = now or timezone.now()
    created_from = now - timedelta(seconds=conf.unattributed_lookback_seconds())
    found = unclaimed(list_orders(client or ESIMGoClient(), created_from, now))
    attempts = list(open_attempts())
    adopted, alerted = [], []
    for raw in sorted(found, key=lambda r: r.get("_created") or now):
        fitting = [
            a
            for a in attempts
            if fits(a.order, raw)
            and (
                raw.get("_created") is None
                or raw["_created"] >= a.started_at - timedelta(seconds=conf.reconcile_clock_skew_seconds())
            )
        ]
        fitting.sort(key=lambda a: closeness(raw, a))
        reference = str(raw["orderReference"])
        if fitting and _adopt(fitting[0], reference, raw):
            attempts.remove(fitting[0])
            adopted.append(reference)
            order_id = fitting[0].order_id
            transaction.on_commit(
                lambda order_id=order_id: provision_order_task.delay(order_id, "unattributed-check"), robust=True
            )
            continue
        alerted.append(reference)
    if alerted:
        alert_staff(
            f"{len(alerted)} eSIM Go order(s) not attributed to any order",
            "eSIM Go orders no order of ours claims and no open purchase fits:\n"
            + "\n".join(f"- {ref}" for ref in alerted)
            + f"\n\nCheck them in the eSIM Go portal. Admin: {settings.SITE_URL}/admin/orders/order/?status=NEEDS_ATTENTION\n",
        )
    if adopted or alerted:
        logger.warning("unattributed eSIM Go orders: adopted %s, alerted %s", adopted, alerted)
    return {"adopted": adopted, "alerted": alerted}


def _adopt(attempt, reference: str, raw: dict) -> bool:
    """Open attempt → ORDERED with this reference; a flagged order goes back to PROVISIONING."""
    with transaction.atomic():
        order = Order.objects.select_for_update().get(pk=attempt.order_id)
        if order.esim_id or order.status not in (
            Order.Status.PAID,
            Order.Status.PROVISIONING,
            Order.Status.NEEDS_ATTENTION,
        ):
            return False
        updated = ProvisioningAttempt.objects.filter(pk=attempt.pk, outcome__in=OPEN_OUTCOMES).update(
            outcome=Outcome.ORDERED,
            esimgo_order_reference=reference,
            adopted=True,
            response={k: v for k, v in raw.items() if not k.startswith("_")},
        )
        if not updated:
            return False
        if order.status == Order.Status.NEEDS_ATTENTION:
            order.attention_reason = ""
            order.apply_transition(
                "adopt_found_order",
                actor="unattributed-check",
                cause=f"eSIM Go order {reference} found for attempt {attempt.marker}",
            )
    logger.warning("order %s: adopted unattributed eSIM Go order %s", attempt.order_id, reference)
    return True
