"""Staff console writes: reconciliation runs and the resolution of their mismatches."""

from __future__ import annotations

import logging
from datetime import date, timedelta

from django.conf import settings
from django.core.cache import cache
from django.db import IntegrityError, transaction
from django.utils import timezone

from staff import reconciliation
from staff.audit import actor_name, record_staff_action
from staff.models import ReconciliationMismatch, ReconciliationRun, StaffAction

logger = logging.getLogger(__name__)

RUN_LOCK_KEY = "staff:reconciliation:running"
RUN_LOCK_SECONDS = 15 * 60
MAX_PERIOD_DAYS = 93


class ReconciliationError(Exception):
    pass


class ReconciliationBusy(ReconciliationError):
    pass


def yesterday() -> date:
    return reconciliation.local_day(timezone.now()) - timedelta(days=1)


def run_reconciliation(
    first: date, last: date | None = None, *, actor: str, user=None, qpay_client=None, esimgo_client=None
) -> ReconciliationRun:
    """Reconcile the Ulaanbaatar days first..last and store the outcome.

    One run at a time (a cache lock; runs are read-mostly, but two runs upserting the same
    mismatches would only fight). Mismatches are upserted by fingerprint; an open mismatch of a
    day in this period that this run no longer finds is closed as fixed — but only when both
    providers answered completely, since a missing listing proves nothing.
    """
    last = last or first
    if last < first:
        raise ReconciliationError("the period ends before it starts")
    if (last - first).days + 1 > MAX_PERIOD_DAYS:
        raise ReconciliationError(f"a period of at most {MAX_PERIOD_DAYS} days, please")
    if not cache.add(RUN_LOCK_KEY, actor, RUN_LOCK_SECONDS):
        raise ReconciliationBusy("another reconciliation is running; try again in a few minutes")
    try:
        run = ReconciliationRun.objects.create(
            period_start=first,
            period_end=last,
            actor=actor[:150],
            started_by=user if getattr(user, "pk", None) else None,
        )
        try:
            result = reconciliation.collect(first, last, qpay_client=qpay_client, esimgo_client=esimgo_client)
        except Exception as exc:  # noqa: BLE001 - the run row must say it failed, whatever it was
            logger.exception("reconciliation %s..%s failed", first, last)
            run.status = ReconciliationRun.Status.FAILED
            run.errors = f"{exc.__class__.__name__}: {exc}"[:2000]
            run.finished_at = timezone.now()
            run.save()
            raise
        _store(run, result)
    finally:
        cache.delete(RUN_LOCK_KEY)
    if user is not None:
        record_staff_action(
            user, "reconciliation.run", run, mismatches=run.mismatch_count, status=run.status, period=f"{first}..{last}"
        )
    logger.info("reconciliation %s: %s, %d mismatches", run, run.status, run.mismatch_count)
    return run


@transaction.atomic
def _store(run: ReconciliationRun, result: reconciliation.Result) -> None:
    now = timezone.now()
    seen_ids = []
    for finding in result.findings:
        mismatch = _upsert(finding, now)
        seen_ids.append(mismatch.pk)
    run.mismatches.set(seen_ids)
    complete = result.qpay.complete and result.esimgo.complete
    if complete:
        # Open mismatches of these days that are gone now were fixed (by staff or by a late callback).
        gone = ReconciliationMismatch.objects.filter(
            resolved_at__isnull=True, day__gte=run.period_start, day__lte=run.period_end
        ).exclude(pk__in=seen_ids)
        gone.update(
            resolved_at=now,
            resolved_by="reconciliation",
            resolution_note=f"no longer found by reconciliation run #{run.pk}",
        )
    run.status = ReconciliationRun.Status.COMPLETE if complete else ReconciliationRun.Status.PARTIAL
    run.qpay_complete = result.qpay.complete
    run.esimgo_complete = result.esimgo.complete
    run.qpay_payment_count = sum(
        1 for line in result.qpay.lines if line.paid_at is None or result.start <= line.paid_at < result.end
    )
    run.esimgo_order_count = sum(
        1
        for line in result.esimgo.lines
        if line.created_at is not None and result.start <= line.created_at < result.end
    )
    run.mismatch_count = len(seen_ids)
    run.days = result.days
    run.usd_to_mnt_rate = settings.QPAY_USD_TO_MNT_RATE
    run.errors = "\n".join(e for e in (result.qpay.error, result.esimgo.error) if e)[:2000]
    run.finished_at = now
    run.save()


def _upsert(finding: reconciliation.Finding, now) -> ReconciliationMismatch:
    values = {
        "kind": finding.kind,
        "day": finding.day,
        "detail": finding.detail[:500],
        "invoice_id": finding.invoice_id,
        "order_id": finding.order_id,
        "qpay_payment_id": finding.qpay_payment_id[:64],
        "qpay_invoice_id": (finding.qpay_invoice_id or "")[:64],
        "esimgo_order_reference": finding.esimgo_order_reference[:64],
        "expected_amount": finding.expected_amount,
        "actual_amount": finding.actual_amount,
        "currency": finding.currency[:3],
        "last_seen_at": now,
    }
    existing = ReconciliationMismatch.objects.select_for_update().filter(fingerprint=finding.fingerprint).first()
    if existing is None:
        try:
            with transaction.atomic():
                return ReconciliationMismatch.objects.create(
                    fingerprint=finding.fingerprint, first_seen_at=now, **values
                )
        except IntegrityError:
            existing = ReconciliationMismatch.objects.select_for_update().get(fingerprint=finding.fingerprint)
    # A staff-resolved mismatch stays resolved (staff said why); its facts are refreshed.
    for key, value in values.items():
        setattr(existing, key, value)
    existing.save()
    return existing


def resolve_mismatch(mismatch_id, *, user, note: str) -> ReconciliationMismatch:
    """Staff close a mismatch with a reason. Twice is harmless: the first close stands."""
    note = (note or "").strip()
    if not note:
        raise ReconciliationError("say how it was resolved")
    with transaction.atomic():
        mismatch = ReconciliationMismatch.objects.select_for_update().get(pk=mismatch_id)
        if mismatch.resolved_at is not None:
            record_staff_action(
                user,
                "reconciliation.resolve",
                mismatch,
                outcome=StaffAction.Outcome.NOTHING_TO_DO,
                message="already resolved",
                note=note,
            )
            return mismatch
        mismatch.resolved_at = timezone.now()
        mismatch.resolved_by = actor_name(user)
        mismatch.resolution_note = note[:500]
        mismatch.save(update_fields=["resolved_at", "resolved_by", "resolution_note"])
        record_staff_action(user, "reconciliation.resolve", mismatch, note=note, kind=mismatch.kind)
    return mismatch
