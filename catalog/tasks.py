"""Celery wrappers for the catalogue sync (the work is in catalog.services)."""

import logging

from celery import shared_task

from catalog.page_warming import WARM_TASK, warm_and_switch
from catalog.services import CatalogueSyncError, SyncAlreadyRunning, sync_catalog

logger = logging.getLogger(__name__)


# A sync pages through thousands of bundles: its own, longer limits. Not re-delivered when its
# worker dies (reject_on_worker_lost off): a sync that kills its worker (memory) must not loop;
# the next scheduled run starts over.
@shared_task(
    name="catalog.tasks.sync_catalog_task",
    acks_late=True,
    reject_on_worker_lost=False,
    ignore_result=True,
    soft_time_limit=1500,
    time_limit=1800,
)
def sync_catalog_task():
    """Runs the sync; overlapping runs are refused by the service's cache lock, faults are logged.

    Not retried here: a failed sync changes nothing and the next scheduled run starts over.
    """
    try:
        result = sync_catalog()
    except SyncAlreadyRunning:
        logger.info("catalogue sync skipped: another sync is running")
        return None
    except CatalogueSyncError as exc:
        logger.error("catalogue sync failed: %s", exc)
        return None
    logger.info("catalogue sync: %s", result.summary())
    return result.summary()


@shared_task(name=WARM_TASK, acks_late=True, ignore_result=True, soft_time_limit=300, time_limit=330)
def warm_storefront_task():
    """Re-render the popular storefront pages for the new catalogue, then switch to them."""
    return warm_and_switch().rendered


# Scheduled in esimshop/beat.py (every CATALOG_SYNC_INTERVAL_HOURS).


@shared_task(
    name="catalog.tasks.refresh_bundle_networks_task",
    acks_late=True,
    ignore_result=True,
    soft_time_limit=240,
    time_limit=270,
)
def refresh_bundle_networks_task():
    """One batch of plan networks in idle eSIM Go budget; what is left waits for the next run."""
    from catalog.networks import refresh_networks

    run = refresh_networks()
    if run.fetched or run.failed:
        logger.info("plan networks: %d fetched, %d failed, %d left for later", run.fetched, run.failed, run.left)
    return run.fetched
