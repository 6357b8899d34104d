"""Celery wrappers for the staff console (the work is in staff.services / staff.selectors)."""

import logging

from celery import shared_task

from esimshop.infrastructure import INFRASTRUCTURE_ERRORS
from staff import selectors
from staff.services import ReconciliationBusy, run_reconciliation, yesterday

logger = logging.getLogger(__name__)


# A day's reconciliation lists QPay payments and eSIM Go orders page by page: longer limits.
@shared_task(
    name="staff.tasks.reconcile_yesterday_task",
    acks_late=True,
    ignore_result=True,
    soft_time_limit=900,
    time_limit=1200,
    autoretry_for=INFRASTRUCTURE_ERRORS,
    max_retries=3,
    retry_backoff=60,
)
def reconcile_yesterday_task():
    """Yesterday (Ulaanbaatar). Running it twice only refreshes the same mismatches."""
    try:
        run = run_reconciliation(yesterday(), actor="beat")
    except ReconciliationBusy:
        logger.info("daily reconciliation skipped: another run is in progress")
        return None
    return f"{run.status} {run.mismatch_count} mismatches"


@shared_task(name=selectors.REFRESH_BALANCE_TASK, ignore_result=True, soft_time_limit=60, time_limit=90)
def refresh_esimgo_balance_task():
    """Keeps the admin's cached eSIM Go balance warm so the admin index never waits on eSIM Go."""
    selectors.esimgo_balance(refresh=True)


# Both scheduled in esimshop/beat.py.
