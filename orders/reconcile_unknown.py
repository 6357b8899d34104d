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
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.core.mail import send_mail
from django.db import transaction
from django.utils import timezone

from esimshop.state_machine import try_transition
from integrations.esimgo.answers import ESIMGoOrder
from integrations.esimgo.client import ESIMGoClient
from orders import conf, tasks
from orders.models import ESim, Order, ProvisioningAttempt

logger = logging.getLogger(__name__)

Outcome = ProvisioningAttempt.Outcome
OPEN_OUTCOMES = (Outcome.REQUESTED, Outcome.UNKNOWN)
MAX_LOOKUPS_KEPT = 30


@dataclass(frozen=True)
class Unclaimed:
    """An eSIM Go order no order or attempt of ours has claimed."""

    order: ESIMGoOrder
    on_known_esim: bool  # on an eSIM we already have (only a top-up may be)


def look_up_window(attempt, now=None) -> tuple[datetime, datetime]:
    """eSIM Go orders created in this window may be the attempt's: from its start (less clock
    skew) to now, bounded by the end of the look-up window (plus skew)."""
    now = now or timezone.now()
    skew = timedelta(seconds=conf.reconcile_clock_skew_seconds())
    latest = attempt.started_at + timedelta(
        seconds=conf.reconcile_after_seconds() + conf.unknown_outcome_window_seconds()
    )
    return attempt.started_at - skew, min(max(now, attempt.started_at), latest) + skew


def list_orders(client, created_from, created_to) -> list[ESIMGoOrder]:
    """eSIM Go's bundle orders created in the window (all pages), failed ones left out."""
    found, page = [], 1
    while page <= 50:
        listing = client.list_orders(
            created_from=created_from, created_to=created_to, page=page, limit=100, include_iccids=True
        )
        for listed in listing.orders:
            if not listed.reference or listed.failed:
                continue
            created = listed.created_at
            if created is not None and not (created_from <= created <= created_to):
                continue  # the server ignored our filter; apply it ourselves
            found.append(listed)
        if not listing.received or listing.page_count is None or page >= listing.page_count:
            break
        page += 1
    return found


def unclaimed(found: list[ESIMGoOrder], *, except_attempt=None) -> list[Unclaimed]:
    """The orders no order or attempt of ours has claimed, each marked when it is on an eSIM we
    already have (only a top-up may be one)."""
    if not found:
        return []
    references = [listed.reference for listed in found]
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
        ESim.objects.filter(iccid__in={i for listed in found for i in listed.iccids}).values_list("iccid", flat=True)
    )
    return [
        Unclaimed(listed, on_known_esim=bool(listed.iccids & known_iccids))
        for listed in found
        if listed.reference not in claimed
    ]


def fits(order, found: Unclaimed) -> bool:
    """Same bundle; a top-up must be on the shopper's eSIM, a new eSIM on none we know."""
    if order.bundle.name not in found.order.bundle_names:
        return False
    return order.topup_iccid in found.order.iccids if order.kind == Order.Kind.TOPUP else not found.on_known_esim


def closeness(found: Unclaimed, attempt) -> float:
    created = found.order.created_at
    return abs((created - attempt.started_at).total_seconds()) if created else 1e12


def candidates(order, attempt, client) -> list[ESIMGoOrder]:
    """Unclaimed eSIM Go orders that may be this attempt's purchase, the closest in time first."""
    created_from, created_to = look_up_window(attempt)
    found = unclaimed(list_orders(client, created_from, created_to), except_attempt=attempt)
    result = [entry for entry in found if fits(order, entry)]
    result.sort(key=lambda entry: closeness(entry, attempt))
    return [entry.order for entry in result]


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
    recipients = [address for address in settings.STAFF_ALERT_EMAILS if address]
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
    now = now or timezone.now()
    created_from = now - timedelta(seconds=conf.unattributed_lookback_seconds())
    found = unclaimed(list_orders(client or ESIMGoClient(), created_from, now))
    attempts = list(open_attempts())
    adopted, alerted = [], []
    for entry in sorted(found, key=lambda e: e.order.created_at or now):
        created = entry.order.created_at
        fitting = [
            a
            for a in attempts
            if fits(a.order, entry)
            and (created is None or created >= a.started_at - timedelta(seconds=conf.reconcile_clock_skew_seconds()))
        ]
        fitting.sort(key=lambda a: closeness(entry, a))
        reference = entry.order.reference
        if fitting and _adopt(fitting[0], reference, entry.order.raw):
            attempts.remove(fitting[0])
            adopted.append(reference)
            order_id = fitting[0].order_id
            transaction.on_commit(
                lambda order_id=order_id: tasks.provision_order_task.delay(order_id, "unattributed-check"), robust=True
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
        updated = try_transition(
            ProvisioningAttempt,
            attempt.pk,
            "ordered",
            by="unattributed-check",
            only_from=OPEN_OUTCOMES,
            esimgo_order_reference=reference,
            adopted=True,
            response=raw,
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
