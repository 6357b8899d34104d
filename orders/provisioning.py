"""Exactly-once eSIM provisioning for an order.

One run of `provision_order`:
  1. locks the order; delivered/refunded/needs-attention → nothing to do;
  2. looks for an unresolved attempt (a purchase that may have happened):
       - ORDERED (we know the eSIM Go order reference) → fetch its eSIM and finish;
       - REQUESTED/UNKNOWN younger than the settle time → someone may be mid-call: WAIT;
       - older → RECONCILE: look the order up at eSIM Go (GET /orders in the attempt's time window);
         found → adopt it; absent → look again later, for ORDERS_UNKNOWN_OUTCOME_WINDOW_SECONDS;
         never found → NEEDS_ATTENTION with the evidence (orders/reconcile_unknown.py). Never
         bought again automatically: staff decide ("Buy again" closes the attempt);
     otherwise records a new REQUESTED attempt and COMMITS it before calling eSIM Go;
  3. POST /orders (transaction, assign, quantity 1; top-up: iccids [iccid], allowReassign false);
  4. stores the reference at once (ORDERED), then the eSIM (ICCID, matching ID, SM-DP+ address),
     fetching /esims/assignments when the order response lacks them, and delivers.

The database decides every race: the order row lock serialises runs; a partial unique constraint
allows one unresolved attempt per order; Order.esimgo_order_reference and ESim.iccid are unique.
A purchase whose outcome is unknown (timeout, 5xx, garbled 2xx) is never retried blindly.
"""

import logging
from dataclasses import dataclass
from datetime import timedelta

from django.db import IntegrityError, transaction
from django.utils import timezone

from esimshop import metrics
from esimshop.state_machine import try_transition
from integrations.esimgo.answers import ESIMGoOrder, EsimInstall
from integrations.esimgo.client import ESIMGoClient, ESIMGoError, ESIMGoRateLimited
from orders import conf, reconcile_unknown, tasks
from orders.models import ATTEMPT_TRANSITIONS, EmailLog, ESim, Order, ProvisioningAttempt
from orders.services import flag_for_attention, queue_email

logger = logging.getLogger(__name__)

Outcome = ProvisioningAttempt.Outcome

DELIVERED = "delivered"
NOTHING_TO_DO = "nothing_to_do"
WAITING = "waiting"
NEEDS_ATTENTION = "needs_attention"


class TransientProvisioningError(Exception):
    """Try again later (after `countdown` seconds when given)."""

    def __init__(self, message, countdown=None):
        super().__init__(message)
        self.countdown = countdown


@dataclass
class ProvisionResult:
    outcome: str
    countdown: float | None = None
    detail: str = ""


@dataclass
class _Step:
    kind: str  # done | wait | buy | reconcile | fetch
    order: Order | None = None
    attempt: ProvisioningAttempt | None = None
    countdown: float | None = None


def provision_order(order_id, *, actor="task", client=None) -> ProvisionResult:
    client = client or ESIMGoClient()
    step = _next_step(order_id, actor)
    if step.kind == "done":
        return ProvisionResult(NOTHING_TO_DO)
    if step.kind == "wait":
        return ProvisionResult(WAITING, countdown=step.countdown, detail="purchase may be in flight")
    if step.kind == "buy":
        return _buy(step.order, step.attempt, actor, client)
    if step.kind == "fetch":
        return _fetch_and_deliver(step.order, step.attempt, actor, client, order_response=None)
    return _reconcile(step.order, step.attempt, actor, client)


def _next_step(order_id, actor) -> _Step:
    try:
        return _lock_and_decide(order_id, actor)
    except IntegrityError:
        # Another run created the unresolved attempt first (uniq_unresolved_attempt_per_order).
        return _Step("wait", countdown=conf.reconcile_after_seconds())


def _lock_and_decide(order_id, actor) -> _Step:
    with transaction.atomic():
        order = Order.objects.select_for_update(of=("self",)).select_related("bundle").get(pk=order_id)
        if order.status not in (Order.Status.PAID, Order.Status.PROVISIONING) or order.esim_id:
            return _Step("done", order)
        attempt = order.attempts.filter(outcome__in=ProvisioningAttempt.UNRESOLVED).first()
        if attempt is not None:
            if attempt.outcome == Outcome.ORDERED:
                return _Step("fetch", order, attempt)
            settle_at = attempt.started_at + timedelta(seconds=conf.reconcile_after_seconds())
            now = timezone.now()
            if now < settle_at:
                return _Step("wait", order, attempt, countdown=(settle_at - now).total_seconds())
            return _Step("reconcile", order, attempt)
        attempt = ProvisioningAttempt.objects.create(order=order, actor=actor[:150])
        if order.status == Order.Status.PAID:
            order.apply_transition("start_provisioning", actor=actor, cause=f"attempt {attempt.marker}")
        return _Step("buy", order, attempt)


def _set_attempt(attempt, outcome, *, expect=None, **fields) -> bool:
    """Compare-and-set the attempt's outcome (expect = outcomes it may currently have)."""
    expect = expect or ProvisioningAttempt.UNRESOLVED
    values = dict(fields)
    if outcome not in ProvisioningAttempt.UNRESOLVED:
        values.setdefault("finished_at", timezone.now())
    name = ATTEMPT_TRANSITIONS.name_for(outcome)
    updated = try_transition(ProvisioningAttempt, attempt.pk, name, by="provisioning", only_from=expect, **values)
    if updated:
        for key, value in {"outcome": outcome, **values}.items():
            setattr(attempt, key, value)
    return bool(updated)


def _attention(order_id, reason, actor) -> ProvisionResult:
    with transaction.atomic():
        order = Order.objects.select_for_update().get(pk=order_id)
        if order.status in (Order.Status.PAID, Order.Status.PROVISIONING) and not order.esim_id:
            flag_for_attention(order, reason=reason, actor=actor)
    return ProvisionResult(NEEDS_ATTENTION, detail=reason)


# --- buying ------------------------------------------------------------------------------------


def _buy(order, attempt, actor, client) -> ProvisionResult:
    try:
        response = client.create_order(
            order.bundle.name,
            validate=False,
            iccid=order.topup_iccid or None,
            allow_reassign=False,  # a top-up must land on the shopper's installed eSIM or nowhere
        )
    except ESIMGoRateLimited as exc:
        # 429 is answered before the order is processed: nothing was bought.
        _set_attempt(attempt, Outcome.NOT_PLACED, error=str(exc)[:2000])
        raise TransientProvisioningError(f"eSIM Go rate limit: {exc}", countdown=exc.retry_after) from exc
    except ESIMGoError as exc:
        if exc.outcome_unknown or exc.transient:
            _set_attempt(attempt, Outcome.UNKNOWN, error=str(exc)[:2000])
            raise TransientProvisioningError(
                f"purchase outcome unknown ({exc}); reconciling before any retry",
                countdown=conf.reconcile_after_seconds(),
            ) from exc
        _set_attempt(attempt, Outcome.NOT_PLACED, error=str(exc)[:2000])
        return _attention(order.pk, f"eSIM Go refused the purchase: {exc}", actor)

    if response.refused:
        reason = f"eSIM Go did not complete the order: {response.status_message or response.status or 'valid=false'}"
        if not response.reference:
            _set_attempt(attempt, Outcome.NOT_PLACED, error=reason, response=_summary(response.raw))
            return _attention(order.pk, reason, actor)
    if not response.reference:
        # A 2xx purchase answer without a reference: it may have happened. Look it up later.
        _set_attempt(
            attempt, Outcome.UNKNOWN, error="order response without orderReference", response=_summary(response.raw)
        )
        raise TransientProvisioningError(
            "order response without orderReference", countdown=conf.reconcile_after_seconds()
        )
    # Remember the reference before anything else can fail.
    _set_attempt(attempt, Outcome.ORDERED, esimgo_order_reference=response.reference, response=_summary(response.raw))
    return _fetch_and_deliver(order, attempt, actor, client, order_response=response)


def _summary(response: dict) -> dict:
    """What we keep of an eSIM Go order answer's JSON (no secrets in it; no need for everything)."""
    keep = ("orderReference", "status", "statusMessage", "total", "currency", "createdDate", "assigned", "valid")
    summary = {key: response.get(key) for key in keep if key in response}
    lines = []
    for line in response.get("order") or []:
        if isinstance(line, dict):
            lines.append(
                {
                    k: line.get(k)
                    for k in ("type", "item", "quantity", "subTotal", "pricePerUnit", "iccids")
                    if k in line
                }
            )
    summary["order"] = lines
    return summary


def _fetch_and_deliver(order, attempt, actor, client, *, order_response: ESIMGoOrder | None) -> ProvisionResult:
    reference = attempt.esimgo_order_reference
    esims = list(order_response.esims) if order_response else []
    if not esims:
        try:
            esims = [e for e in client.get_assignments(reference) if e.complete]
        except ESIMGoError as exc:
            if exc.transient or exc.outcome_unknown:
                raise TransientProvisioningError(f"assignments for {reference} not available: {exc}") from exc
            return _attention(order.pk, f"eSIM Go order {reference} exists but its eSIM cannot be read: {exc}", actor)
    if not esims:
        # Assignment can take a while on eSIM Go's side; the reference is safe, so just come back.
        raise TransientProvisioningError(f"eSIM Go order {reference} has no eSIM details yet")
    if order.kind == Order.Kind.TOPUP:
        matching = [e for e in esims if e.iccid == order.topup_iccid]
        if not matching:
            return _attention(
                order.pk,
                f"top-up order {reference} landed on {', '.join(e.iccid for e in esims)}, not on {order.topup_iccid}",
                actor,
            )
        esims = matching
    summary = _summary(order_response.raw) if order_response else attempt.response
    return _deliver(order.pk, attempt, esims[0], actor, summary)


def _deliver(order_id, attempt, details: EsimInstall, actor, summary) -> ProvisionResult:
    try:
        with transaction.atomic():
            order = Order.objects.select_for_update(of=("self",)).select_related("customer").get(pk=order_id)
            current = ProvisioningAttempt.objects.select_for_update().get(pk=attempt.pk)
            reference = current.esimgo_order_reference
            if order.esim_id or order.status not in (Order.Status.PAID, Order.Status.PROVISIONING):
                if order.esimgo_order_reference == reference:
                    _set_attempt(current, Outcome.SUCCEEDED)
                    return ProvisionResult(NOTHING_TO_DO)
                if order.status == Order.Status.NEEDS_ATTENTION and not order.esim_id:
                    # The purchase answered after the order was flagged. Keep the attempt ORDERED:
                    # a staff retry then delivers exactly this eSIM instead of buying another.
                    queue_email(order, EmailLog.Kind.STAFF_ALERT, event_key=f"late:{reference}")
                    logger.warning(
                        "order %s: eSIM Go order %s arrived after the order was flagged", order.public_id, reference
                    )
                    return ProvisionResult(NOTHING_TO_DO, detail="late eSIM Go order kept for a staff retry")
                # Only possible if an attempt outlived the settle time: a second eSIM Go order exists.
                _set_attempt(current, Outcome.SUPERSEDED, error="order already delivered; eSIM Go order is surplus")
                queue_email(order, EmailLog.Kind.STAFF_ALERT, event_key=f"surplus:{reference}")
                logger.error("order %s: surplus eSIM Go order %s (already delivered)", order.public_id, reference)
                return ProvisionResult(NOTHING_TO_DO, detail="surplus eSIM Go order recorded")
            if current.outcome not in ProvisioningAttempt.UNRESOLVED:
                return ProvisionResult(NOTHING_TO_DO, detail=f"attempt already {current.outcome}")
            if order.kind == Order.Kind.TOPUP:
                esim = ESim.objects.get_or_create(
                    iccid=details.iccid,
                    defaults={
                        "matching_id": details.matching_id,
                        "smdp_address": details.smdp_address,
                        "customer": order.customer,
                    },
                )[0]
            else:
                esim = ESim.objects.create(
                    iccid=details.iccid,
                    matching_id=details.matching_id,
                    smdp_address=details.smdp_address,
                    customer=order.customer,
                )
            order.esim = esim
            order.esimgo_order_reference = reference
            order.esimgo_order = _summary(summary or {})
            order.apply_transition("deliver", actor=actor, cause=f"eSIM Go order {reference}, ICCID {details.iccid}")
            _set_attempt(current, Outcome.SUCCEEDED)
            queue_email(order, EmailLog.Kind.ESIM_READY)
            transaction.on_commit(lambda: tasks.tag_esim_customer_ref_task.delay(order.pk), robust=True)
    except IntegrityError as exc:
        # The reference or ICCID is already another order's: reconciliation adopted the wrong one.
        # Put the attempt back to UNKNOWN so the next run reconciles again (skipping claimed orders).
        logger.warning("order %s: eSIM Go order %s already claimed (%s)", order_id, attempt.esimgo_order_reference, exc)
        _set_attempt(
            attempt,
            Outcome.UNKNOWN,
            esimgo_order_reference="",
            adopted=False,
            error=f"reference {attempt.esimgo_order_reference} already claimed",
        )
        raise TransientProvisioningError("eSIM Go order already claimed by another order") from exc
    metrics.delivered(order.invoice.paid_at, order.delivered_at or timezone.now())
    logger.info("order %s delivered: ICCID %s (eSIM Go %s)", order.public_id, details.iccid, reference)
    return ProvisionResult(DELIVERED)


# --- reconciliation ----------------------------------------------------------------------------


def _reconcile(order, attempt, actor, client) -> ProvisionResult:
    """Resolve an attempt whose purchase may have happened: adopt its eSIM Go order when it is
    in the list; otherwise look again later, and after the look-up window flag the order for
    staff with the evidence. Never buys."""
    try:
        candidates = reconcile_unknown.candidates(order, attempt, client)
    except ESIMGoError as exc:
        raise TransientProvisioningError(f"cannot look up eSIM Go orders to reconcile: {exc}") from exc
    if candidates:
        chosen = candidates[0]
        reference = chosen.reference
        if not _set_attempt(
            attempt,
            Outcome.ORDERED,
            esimgo_order_reference=reference,
            adopted=True,
            response=chosen.raw,
        ):
            raise TransientProvisioningError("attempt changed while reconciling")
        logger.warning(
            "order %s: attempt %s reconciled to eSIM Go order %s", order.public_id, attempt.marker, reference
        )
        return _fetch_and_deliver(order, attempt, actor, client, order_response=chosen)
    lookups = reconcile_unknown.record_lookup(attempt, found=0)
    remaining = (reconcile_unknown.look_up_deadline(attempt) - timezone.now()).total_seconds()
    if remaining > 0:
        if attempt.outcome == Outcome.REQUESTED:
            _set_attempt(
                attempt,
                Outcome.UNKNOWN,
                expect=[Outcome.REQUESTED],
                error="no answer recorded (worker lost mid-purchase?)",
            )
        logger.warning(
            "order %s: attempt %s not in eSIM Go's order list (look-up %d); looking again",
            order.public_id,
            attempt.marker,
            lookups,
        )
        return ProvisionResult(
            WAITING,
            countdown=min(conf.unknown_outcome_lookup_interval_seconds(), remaining),
            detail="purchase outcome unknown; looking for it again",
        )
    return _attention(order.pk, reconcile_unknown.evidence(attempt), actor)
