"""Celery wrappers for the catalogue sync (the work is in catalog.services)."""
import logging

from celery import shared_task
from django.conf import settings

from esimshop.celery import app

logger = logging.getLogger(__name__)


@shared_task(acks_late=True, ignore_result=True)
def sync_catalog_task():
    """Runs the sync; overlapping runs are refused by the service's cache lock, faults are logged.

    Not retried here: a failed sync changes nothing and the next scheduled run starts over.
    """
    from catalog.services import CatalogueSyncError, SyncAlreadyRunning, sync_catalog

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


@shared_task(acks_late=True, ignore_result=True, soft_time_limit=300, time_limit=330)
def warm_storefront_task():
    """Re-render the popular storefront pages for the new catalogue, then switch to them."""
    from catalog.page_warming import warm_and_switch

    return warm_and_switch().rendered


@app.on_after_finalize.connect
def schedule_catalog_sync(sender, **kwargs):
    hours = max(int(settings.CATALOG_SYNC_INTERVAL_HOURS), 1)
    sender.add_periodic_task(hours * 3600.0, sync_catalog_task.s(), name="catalog: sync eSIM Go catalogue")
