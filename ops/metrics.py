"""What /metrics exposes: the money path's counters (esimshop/metrics.py, summed over processes
in multiprocess mode) plus gauges computed at scrape time from the database, the cache and Redis.
Each scrape-time gauge is read independently: one that fails is left out, never a 500."""

import logging
import os

import redis
from django.conf import settings
from django.core.cache import cache
from prometheus_client import REGISTRY, CollectorRegistry, multiprocess
from prometheus_client.core import GaugeMetricFamily

from orders.models import EmailLog, Order
from staff.selectors import BALANCE_CACHE_KEY

logger = logging.getLogger(__name__)


class ShopCollector:
    def collect(self):
        for read in (self._attention, self._emails_failed, self._balance, self._queues):
            try:
                yield from read()
            except Exception as exc:  # noqa: BLE001 - see the module docstring
                logger.warning("metrics: %s unavailable: %s", read.__name__, exc)

    def _attention(self):
        gauge = GaugeMetricFamily("esimshop_orders_needing_attention", "Orders in NEEDS_ATTENTION.")
        gauge.add_metric([], Order.objects.filter(status=Order.Status.NEEDS_ATTENTION).count())
        yield gauge

    def _emails_failed(self):
        gauge = GaugeMetricFamily("esimshop_emails_failed", "E-mails whose retries are exhausted (FAILED).")
        gauge.add_metric([], EmailLog.objects.filter(status=EmailLog.Status.FAILED).count())
        yield gauge

    def _balance(self):
        info = cache.get(BALANCE_CACHE_KEY)  # kept warm by beat; a scrape never calls eSIM Go
        if info and info.get("balance") is not None:
            gauge = GaugeMetricFamily(
                "esimshop_esimgo_balance", "eSIM Go balance (organisation currency).", labels=["currency"]
            )
            gauge.add_metric([info.get("currency") or ""], float(info["balance"]))
            yield gauge

    def _queues(self):
        if not settings.REDIS_URL:
            return
        client = redis.Redis.from_url(settings.REDIS_URL, socket_connect_timeout=2, socket_timeout=2)
        gauge = GaugeMetricFamily(
            "esimshop_celery_queue_length", "Messages waiting in a Celery queue.", labels=["queue"]
        )
        try:
            for queue in settings.HEARTBEAT_QUEUES:
                gauge.add_metric([queue], client.llen(queue))
        finally:
            client.close()
        yield gauge


def registry():
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
    else:
        registry = CollectorRegistry()
        for collector in list(REGISTRY._collector_to_names):
            registry.register(collector)
    registry.register(ShopCollector())
    return registry
