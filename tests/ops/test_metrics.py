"""/metrics: only with the bearer token or from an allowed address; the shop's counters and the
gauges computed at scrape time."""

import uuid
from datetime import timedelta

import pytest
import redis
from django.conf import settings
from django.utils import timezone
from prometheus_client import REGISTRY

from esimshop import metrics
from orders.models import Order
from tests.orders.factories import OrderFactory

pytestmark = pytest.mark.django_db

TOKEN = "metrics-token-0123456789abcdef"


def test_off_when_neither_token_nor_addresses_are_set(client, settings):
    settings.METRICS_TOKEN, settings.METRICS_ALLOWED_IPS = "", []
    assert client.get("/metrics").status_code == 404


def test_refused_without_the_token(client, settings):
    settings.METRICS_TOKEN, settings.METRICS_ALLOWED_IPS = TOKEN, []
    assert client.get("/metrics").status_code == 403
    assert client.get("/metrics", HTTP_AUTHORIZATION="Bearer wrong").status_code == 403


def test_allowed_address(client, settings):
    settings.METRICS_TOKEN, settings.METRICS_ALLOWED_IPS = "", ["10.0.0.0/8", "127.0.0.1"]
    assert client.get("/metrics", REMOTE_ADDR="127.0.0.1").status_code == 200
    assert client.get("/metrics", REMOTE_ADDR="192.0.2.9").status_code == 403


@pytest.mark.skipif(not settings.REDIS_URL, reason="needs Redis (CI has it; a plain bin/test on SQLite has not)")
def test_counters_and_scrape_time_gauges(client, settings):
    settings.METRICS_TOKEN = TOKEN
    OrderFactory(status=Order.Status.NEEDS_ATTENTION)
    before = REGISTRY.get_sample_value("esimshop_qpay_callbacks_total", {"outcome": "PAID"}) or 0
    metrics.callback_received("PAID")
    metrics.payment_checked("PAID")
    metrics.provisioning_attempt("delivered")
    metrics.purchase_started()
    assert REGISTRY.get_sample_value("esimshop_qpay_callbacks_total", {"outcome": "PAID"}) == before + 1
    # A list no worker consumes (a real queue name would hand a worker sharing this Redis garbage).
    queue_name = f"metrics-test-{uuid.uuid4().hex}"
    settings.HEARTBEAT_QUEUES = [queue_name]
    queue = redis.Redis.from_url(settings.REDIS_URL)
    queue.rpush(queue_name, "a", "b")
    try:
        response = client.get("/metrics", HTTP_AUTHORIZATION=f"Bearer {TOKEN}")
    finally:
        queue.delete(queue_name)
    assert response.status_code == 200
    text = response.content.decode()
    for name in (
        "esimshop_purchases_started_total",
        "esimshop_invoices_paid_total",
        'esimshop_payment_checks_total{result="PAID"}',
        'esimshop_provisioning_attempts_total{outcome="delivered"}',
        "esimshop_paid_to_delivered_seconds_bucket",
        "esimshop_emails_failed 0.0",
    ):
        assert name in text, name
    assert "esimshop_orders_needing_attention 1.0" in text
    assert f'esimshop_celery_queue_length{{queue="{queue_name}"}} 2.0' in text


def test_a_failing_gauge_is_left_out_not_a_500(client, settings):
    settings.METRICS_TOKEN = TOKEN
    settings.REDIS_URL = "redis://127.0.0.1:1/3"
    response = client.get("/metrics", HTTP_AUTHORIZATION=f"Bearer {TOKEN}")
    text = response.content.decode()
    assert response.status_code == 200
    assert "esimshop_celery_queue_length{" not in text and "esimshop_orders_needing_attention 0.0" in text


def test_delivery_latency_is_observed():
    before = REGISTRY.get_sample_value("esimshop_paid_to_delivered_seconds_count") or 0
    now = timezone.now()
    metrics.delivered(now - timedelta(seconds=7), now)
    assert REGISTRY.get_sample_value("esimshop_paid_to_delivered_seconds_count") == before + 1
