"""Structured logs: JSON lines with ids, the request id echoed, and one purchase's story — the web
request and the Celery tasks it leads to, in a real worker process — sharing request and invoice ids."""

import io
import json
import logging
import re

import pytest
import requests
from structlog.contextvars import bind_contextvars, clear_contextvars

from esimshop.logs import structured_formatter
from orders.models import Order
from tests.orders.test_e2e_sandbox import NAME, REAL_WORKER, shop, tasks, wait_for  # noqa: F401 - fixtures

REQUEST_ID = "req-purchase-0123456789"


@pytest.fixture
def json_lines():
    """The JSON lines this process writes (the live server's threads included)."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(structured_formatter("json"))
    root = logging.getLogger()
    root.addHandler(handler)
    previous = root.level
    root.setLevel(logging.INFO)
    yield lambda: [json.loads(line) for line in stream.getvalue().splitlines() if line.startswith("{")]
    root.removeHandler(handler)
    root.setLevel(previous)


def test_a_line_is_one_json_object_with_the_bound_ids_and_redacted(json_lines):
    bind_contextvars(request_id="r-12345678", invoice_id="inv-1")
    logging.getLogger("payments.purchase").warning("purchase by %s: /my-esims/login/AbCdEf123/", "88123456")
    clear_contextvars()
    [line] = [entry for entry in json_lines() if entry["logger"] == "payments.purchase"]
    assert line["request_id"] == "r-12345678" and line["invoice_id"] == "inv-1"
    assert line["level"] == "warning" and line["timestamp"].endswith("Z")
    assert line["event"] == "purchase by ******56: /my-esims/login/[redacted]/"


def test_bound_values_are_redacted_too(json_lines):
    bind_contextvars(request_id="r-12345678", note="callback ?token=deadbeefcafe")
    logging.getLogger("x").info("hello")
    clear_contextvars()
    assert json_lines()[-1]["note"] == "callback ?token=[redacted]"


@pytest.mark.django_db
def test_request_id_taken_from_the_proxy_or_generated(client):
    assert client.get("/healthz", HTTP_X_REQUEST_ID="abcdef0123456789")["X-Request-ID"] == "abcdef0123456789"
    generated = client.get("/healthz")["X-Request-ID"]
    assert re.fullmatch(r"[0-9a-f]{32}", generated)
    # Not an id: replaced rather than logged and echoed.
    assert client.get("/healthz", HTTP_X_REQUEST_ID='x" y')["X-Request-ID"] != 'x" y'


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
@pytest.mark.xdist_group("session-redis-workers")  # a real worker on the session's Redis (tests/conftest.py)
@pytest.mark.skipif(not REAL_WORKER, reason="needs PostgreSQL and Redis for a real worker (CI has both)")
def test_a_purchase_and_its_celery_tasks_share_request_and_invoice_ids(shop, tasks, json_lines):
    base = shop.url
    response = requests.post(
        f"{base}/api/customer/transactions/purchase",
        json={"phoneNumber": "99112233", "email": "traveller@example.mn", "amount": 12500, "packageCode": NAME},
        headers={"X-Request-ID": REQUEST_ID},
        timeout=30,
    )
    assert response.status_code == 201, response.text
    assert response.headers["X-Request-ID"] == REQUEST_ID
    invoice_id = response.json()["internalInvoiceId"]

    bank = requests.Session()
    bank_url = response.json()["qr_link"]
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', bank.get(bank_url, timeout=30).text).group(1)
    assert (
        bank.post(
            bank_url,
            data={"csrfmiddlewaretoken": token, "action": "full", "payment_type": "P2P"},
            headers={"Referer": bank_url},
            timeout=60,
        ).status_code
        == 200
    )
    order = wait_for(
        lambda: Order.objects.filter(invoice_id=invoice_id, status="DELIVERED").first(), timeout=60, what="delivery"
    )

    def worker_lines():
        return [json.loads(line) for line in tasks.text().splitlines() if line.startswith('{"')]

    def story():
        return [line for line in worker_lines() if line.get("invoice_id") == invoice_id]

    wait_for(lambda: any("delivered" in line["event"] for line in story()), timeout=30, what="the delivery log line")
    web = [line for line in json_lines() if line.get("request_id") == REQUEST_ID]
    assert any(
        line["event"] == "request" and line.get("invoice_id") == invoice_id and line["status"] == 201 for line in web
    ), web
    # The task the purchase enqueued runs in the worker with the purchase's request and invoice ids.
    scheduled = [line for line in story() if line.get("task_name") == "payments.schedule_payment_checks"]
    assert scheduled and all(line["request_id"] == REQUEST_ID and line["task_id"] for line in scheduled)
    # Provisioning (enqueued by the QPay callback, another request) carries the invoice and order ids.
    provisioning = [line for line in story() if line.get("task_name") == "orders.tasks.provision_order_task"]
    assert provisioning and all(line["order_id"] == str(order.public_id) for line in provisioning)
