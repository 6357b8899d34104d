"""Unknown eSIM Go purchase outcomes (issue 10): the hourly match of unattributed eSIM Go orders,
the sweep leaving an order alone while its purchase is being looked for, the shopper's page, and
the Celery wiring (queues, names, time limits)."""

from datetime import timedelta
from unittest import mock

import pytest
from django.core import mail
from django.utils import timezone

from orders import provisioning, reconcile_unknown, services
from orders.models import Order, ProvisioningAttempt
from tests.orders.factories import InvoiceFactory, OrderFactory
from tests.orders.fake_esimgo import FakeESIMGo

pytestmark = pytest.mark.django_db


@pytest.fixture
def fake(mocked_responses):
    return FakeESIMGo(mocked_responses)


def later(seconds):
    return mock.patch("django.utils.timezone.now", return_value=timezone.now() + timedelta(seconds=seconds))


def flagged_unknown_order(fake, bundle):
    """An order whose purchase eSIM Go committed only after the whole look-up window."""
    order = OrderFactory(invoice=InvoiceFactory(bundle=bundle))
    fake.purchase_failures = ["timeout_after"]
    with pytest.raises(provisioning.TransientProvisioningError):
        provisioning.provision_order(order.pk)
    late = fake.orders.pop()
    with later(
        reconcile_unknown.conf.reconcile_after_seconds() + reconcile_unknown.conf.unknown_outcome_window_seconds() + 1
    ):
        assert provisioning.provision_order(order.pk).outcome == provisioning.NEEDS_ATTENTION
    return order, late


def test_the_hourly_check_adopts_an_order_that_appeared_after_the_window(
    fake, bundle, django_capture_on_commit_callbacks
):
    order, late = flagged_unknown_order(fake, bundle)
    fake.orders.append(late)  # eSIM Go finally shows it
    with django_capture_on_commit_callbacks(execute=True):
        result = reconcile_unknown.match_unattributed_orders()
    assert result == {"adopted": [late["orderReference"]], "alerted": []}
    order.refresh_from_db()
    assert order.status == Order.Status.DELIVERED and order.esimgo_order_reference == late["orderReference"]
    assert order.transitions.filter(name="adopt_found_order", actor="unattributed-check").exists()
    assert fake.purchase_calls == 1


def test_the_hourly_check_alerts_staff_about_an_order_nobody_fits(fake, bundle, settings):
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    stray = OrderFactory(invoice=InvoiceFactory(bundle=bundle))
    provisioning.provision_order(stray.pk)
    reference = fake.orders[-1]["orderReference"]
    # Forget that it is ours: an eSIM Go order no order or attempt of ours claims.
    ProvisioningAttempt.objects.filter(order=stray).update(esimgo_order_reference="")
    Order.objects.filter(pk=stray.pk).update(esimgo_order_reference="someone-else")
    mail.outbox.clear()
    result = reconcile_unknown.match_unattributed_orders()
    assert result == {"adopted": [], "alerted": [reference]}
    assert len(mail.outbox) == 1 and reference in mail.outbox[0].body
    assert mail.outbox[0].to == ["staff@example.mn"]


def test_the_sweep_does_not_escalate_an_order_whose_purchase_is_being_looked_for(fake, bundle, settings):
    settings.ORDERS_ATTENTION_AFTER_SECONDS = 60
    order = OrderFactory(invoice=InvoiceFactory(bundle=bundle))
    fake.purchase_failures = ["timeout"]
    with pytest.raises(provisioning.TransientProvisioningError):
        provisioning.provision_order(order.pk)
    Order.objects.filter(pk=order.pk).update(created_at=timezone.now() - timedelta(minutes=5))
    with mock.patch("orders.tasks.provision_order_task.delay"):
        requeued, escalated = services.sweep_undelivered_orders()
    assert escalated == [] and requeued == [order.pk]


def test_the_esim_page_says_delivery_takes_longer_while_the_purchase_is_unknown(fake, bundle, client):
    order = OrderFactory(invoice=InvoiceFactory(bundle=bundle))
    fake.purchase_failures = ["timeout"]
    with pytest.raises(provisioning.TransientProvisioningError):
        provisioning.provision_order(order.pk)
    page = client.get(order.get_absolute_url()).content.decode()
    assert "Delivery is taking longer than usual" in page and "will e-mail it to you" in page


def test_celery_wiring_queues_names_and_time_limits():
    from esimshop.celery import app

    app.loader.import_default_modules()
    ours = {
        name: task
        for name, task in app.tasks.items()
        if name.split(".")[0] in ("orders", "payments", "catalog", "staff")
    }
    assert app.amqp.router.route({}, "orders.tasks.provision_order_task")["queue"].name == "provisioning"
    assert app.amqp.router.route({}, "payments.check_invoice_payment")["queue"].name == "celery"
    assert {q.name for q in app.conf.task_queues} == {"celery", "provisioning"}
    assert app.conf.task_time_limit and app.conf.task_soft_time_limit  # the default for every task
    assert app.conf.task_acks_late and app.conf.task_reject_on_worker_lost
    for name, task in ours.items():
        assert task.name == name
        limit = task.time_limit or app.conf.task_time_limit
        assert limit and limit <= 1800, name
    assert ours["orders.tasks.provision_order_task"].time_limit <= 180
