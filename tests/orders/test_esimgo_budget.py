"""eSIM Go requests per delivered eSIM: one on the delivery path (the order answer carries the
eSIM), one deferred tag that waits for idle budget - two in all."""

from unittest import mock

import pytest
from django.conf import settings
from django.core.cache import cache

from integrations.esimgo.answers import EsimInstall
from integrations.esimgo.parsing import parse_order
from integrations.esimgo.ratelimit import KEY_PREFIX
from orders import esimgo_budget, provisioning, services
from orders.models import Order
from orders.tasks import tag_esim_customer_ref_task
from tests.orders.factories import InvoiceFactory
from tests.orders.fake_esimgo import FakeESIMGo

pytestmark = pytest.mark.django_db


@pytest.fixture
def fake(mocked_responses):
    return FakeESIMGo(mocked_responses)


def esimgo_requests(fake):
    return [(call.request.method, call.request.url.split("/v2.4", 1)[1].split("?")[0]) for call in fake.rsps.calls]


def test_a_delivered_esim_costs_two_esimgo_requests(fake, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        order = services.handle_invoice_paid(InvoiceFactory(), actor="callback")
    order.refresh_from_db()
    assert order.status == Order.Status.DELIVERED
    # The purchase, then (after commit, in idle budget) the customerRef tag. No /esims/assignments:
    # the order answer already had the ICCID, matching id and SM-DP+ address.
    assert esimgo_requests(fake) == [("POST", "/orders"), ("PUT", "/esims")]


def test_assignments_are_read_only_when_the_order_answer_lacks_the_esim(fake, bundle):
    from tests.orders.factories import OrderFactory

    order = OrderFactory(invoice=InvoiceFactory(bundle=bundle))
    answer = parse_order(
        {"orderReference": "ref-1", "status": "completed", "order": [{"type": "bundle", "item": bundle.name}]}
    )
    client = mock.Mock(
        create_order=mock.Mock(return_value=answer),
        get_assignments=mock.Mock(
            return_value=(EsimInstall(iccid="8944000000000000001", matching_id="M-1", smdp_address="rsp.example"),)
        ),
    )
    assert provisioning.provision_order(order.pk, client=client).outcome == provisioning.DELIVERED
    assert client.get_assignments.call_count == 1


def fill_window(settings, count, now):
    settings.ESIMGO_RATE_LIMIT_PER_SECOND = 9
    cache.set(f"{KEY_PREFIX}{int(now)}", count, 5)


@pytest.mark.skipif(not settings.REDIS_URL, reason="needs Redis (CI has it; a plain bin/test on SQLite has not)")
def test_the_budget_is_busy_when_half_of_this_second_is_spent(settings):
    now = 5000.5
    fill_window(settings, 4, now)
    assert not esimgo_budget.budget_is_busy(now)
    fill_window(settings, 5, now)
    assert esimgo_budget.budget_is_busy(now)
    assert esimgo_budget.budget_is_busy(now + 1)  # the second before counts too: a rush goes on


def test_without_a_limit_nothing_is_busy(settings):
    fill_window(settings, 100, 5000)
    settings.ESIMGO_RATE_LIMIT_PER_SECOND = 0
    assert not esimgo_budget.budget_is_busy(5000)


def test_a_tag_steps_aside_while_the_budget_is_busy(monkeypatch, db):
    deferred, tagged = [], []
    monkeypatch.setattr(esimgo_budget, "budget_is_busy", lambda: True)
    monkeypatch.setattr(tag_esim_customer_ref_task, "apply_async", lambda args, countdown: deferred.append(countdown))
    monkeypatch.setattr(services, "tag_esim_customer_ref", lambda order_id: tagged.append(order_id))
    tag_esim_customer_ref_task.push_request(is_eager=False)
    try:
        tag_esim_customer_ref_task.run(42)
        assert tagged == [] and len(deferred) == 1 and 15 <= deferred[0] <= 60
        monkeypatch.setattr(esimgo_budget, "budget_is_busy", lambda: False)
        tag_esim_customer_ref_task.run(42)
        assert tagged == [42] and len(deferred) == 1
    finally:
        tag_esim_customer_ref_task.pop_request()
