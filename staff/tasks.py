"""Celery wrappers for the staff console (the work is in staff.services / staff.selectors)."""
import logging

from celery import shared_task
from celery.schedules import crontab

from esimshop.celery import app

logger = logging.getLogger(__name__)

# 02:15 in Ulaanbaatar (UTC+8, no DST) = 18:15 UTC; CELERY_TIMEZONE is UTC.
RECONCILE_AT = crontab(hour=18, minute=15)
BALANCE_REFRESH_SECONDS = 240.0


@shared_task(acks_late=True, ignore_result=True)
def reconcile_yesterday_task():
    """Yesterday (Ulaanbaatar). Running it twice only refreshes the same mismatches."""
    from staff.services import ReconciliationBusy, run_reconciliation, yesterday

    try:
        run = run_reconciliation(yesterday(), actor="beat")
    except ReconciliationBusy:
        logger.info("daily reconciliation skipped: another run is in progress")
        return None
    return f"{run.status} {run.mismatch_count} mismatches"


@shared_task(ignore_result=True)
def refresh_esimgo_balance_task():
    """Keeps the admin's cached eSIM Go balance warm so the admin index never waits on eSIM Go."""
    from staff.selectors import esimgo_balance

    esimgo_balance(refresh=True)


@app.on_after_finalize.connect
def schedule_staff_tasks(sender, **kwargs):
    sender.add_periodic_task(RECONCILE_AT, reconcile_yesterday_task.s(), name="staff: reconcile yesterday")
    sender.add_periodic_task(BALANCE_REFRESH_SECONDS, refresh_esimgo_balance_task.s(), name="staff: eSIM Go balance")


if app.finalized:  # imported after finalize (e.g. by a test module): the signal has already fired
    schedule_staff_tasks(app)
