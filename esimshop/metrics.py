"""Prometheus counters the money path increments (the /metrics view is ops/metrics.py).

A leaf module (only prometheus_client), so payments and orders can count without depending on
ops. With PROMETHEUS_MULTIPROC_DIR set (production: gunicorn workers and Celery workers are
separate processes) prometheus_client keeps each process's values in files there and the view
adds them up. Counting never raises: a metrics fault must not break a purchase.
"""

import logging

from prometheus_client import Counter, Histogram

logger = logging.getLogger(__name__)

PURCHASES_STARTED = Counter("esimshop_purchases_started_total", "QPay invoices created for a purchase.")
INVOICES_PAID = Counter("esimshop_invoices_paid_total", "Invoices verified as paid (full amount).")
CALLBACKS = Counter("esimshop_qpay_callbacks_total", "QPay callbacks received, by outcome.", ["outcome"])
PAYMENT_CHECKS = Counter("esimshop_payment_checks_total", "QPay payment/check verifications, by result.", ["result"])
PROVISIONING = Counter("esimshop_provisioning_attempts_total", "Provisioning task runs, by outcome.", ["outcome"])
DELIVERY_SECONDS = Histogram(
    "esimshop_paid_to_delivered_seconds",
    "From the verified payment (callback or check) to the eSIM delivered.",
    buckets=(1, 2, 5, 10, 20, 30, 60, 120, 300, 600, 1800, 3600),
)


def _safe(func):
    def wrapper(*args, **kwargs):
        try:
            func(*args, **kwargs)
        except Exception as exc:  # noqa: BLE001 - see the module docstring
            logger.warning("metrics: %s failed: %s", func.__name__, exc)

    return wrapper


@_safe
def purchase_started():
    PURCHASES_STARTED.inc()


@_safe
def payment_checked(result: str):
    PAYMENT_CHECKS.labels(result=result).inc()
    if result == "PAID":
        INVOICES_PAID.inc()


@_safe
def callback_received(outcome: str):
    CALLBACKS.labels(outcome=outcome).inc()


@_safe
def provisioning_attempt(outcome: str):
    PROVISIONING.labels(outcome=str(outcome)).inc()


@_safe
def delivered(paid_at, delivered_at):
    if paid_at and delivered_at:
        DELIVERY_SECONDS.observe(max((delivered_at - paid_at).total_seconds(), 0.0))
