"""The periodic sweep: re-enqueues stuck paid orders, escalates old ones, re-sends lost e-mails."""

from datetime import timedelta

import pytest
from django.core import mail
from django.utils import timezone

from orders import services
from orders.models import EmailLog, Order
from tests.orders.factories import DeliveredOrderFactory, InvoiceFactory, OrderFactory
from tests.orders.fake_esimgo import FakeESIMGo

pytestmark = pytest.mark.django_db


def test_sweep_requeues_stuck_orders_and_leaves_fresh_and_finished_ones(mocked_responses, bundle):
    fake = FakeESIMGo(mocked_responses)
    stuck = OrderFactory(invoice=InvoiceFactory(bundle=bundle))
    fresh = OrderFactory(invoice=InvoiceFactory(bundle=bundle))
    done = DeliveredOrderFactory(invoice=InvoiceFactory(bundle=bundle))
    Order.objects.filter(pk__in=[stuck.pk, done.pk]).update(created_at=timezone.now() - timedelta(minutes=5))

    requeued, escalated = services.sweep_undelivered_orders()  # eager tasks: provisioning runs now

    assert (requeued, escalated) == ([stuck.pk], [])
    stuck.refresh_from_db()
    fresh.refresh_from_db()
    assert stuck.status == Order.Status.DELIVERED
    assert fresh.status == Order.Status.PAID
    assert len(fake.sold) == 1
    assert stuck.transitions.filter(name="start_provisioning", actor="sweep").exists()


def test_sweep_escalates_orders_undelivered_for_too_long(bundle, django_capture_on_commit_callbacks):
    old = OrderFactory(invoice=InvoiceFactory(bundle=bundle), status=Order.Status.PROVISIONING)
    Order.objects.filter(pk=old.pk).update(created_at=timezone.now() - timedelta(hours=1))
    with django_capture_on_commit_callbacks(execute=True):
        requeued, escalated = services.sweep_undelivered_orders()
    assert (requeued, escalated) == ([], [old.pk])
    old.refresh_from_db()
    assert old.status == Order.Status.NEEDS_ATTENTION
    transition = old.transitions.last()
    assert (transition.name, transition.actor) == ("flag_for_attention", "sweep")
    # The shopper is told; staff get the watchdog's deduplicated alert (tests/ops), not one per order.
    assert [m.to[0] for m in mail.outbox] == [old.customer.email]


def test_sweep_resends_pending_and_reopens_stuck_emails(bundle):
    order = OrderFactory(invoice=InvoiceFactory(bundle=bundle))
    lost = EmailLog.objects.create(order=order, kind=EmailLog.Kind.PAYMENT_RECEIVED, to=order.customer.email)
    stuck = EmailLog.objects.create(
        order=order,
        kind=EmailLog.Kind.PROVISIONING_DELAYED,
        to=order.customer.email,
        status=EmailLog.Status.SENDING,
        claimed_at=timezone.now() - timedelta(minutes=30),
    )
    EmailLog.objects.filter(pk__in=[lost.pk, stuck.pk]).update(created_at=timezone.now() - timedelta(minutes=30))
    services.sweep_undelivered_orders()
    assert set(EmailLog.objects.values_list("status", flat=True)) == {EmailLog.Status.SENT}
    assert len(mail.outbox) == 2
    services.sweep_undelivered_orders()
    assert len(mail.outbox) == 2


def test_every_periodic_task_is_registered_in_one_place(settings):
    """esimshop/beat.py is the one schedule; each entry names a task that exists, with an
    explicit name, and the sweep's period comes from settings."""
    from esimshop.beat import beat_schedule
    from esimshop.celery import app

    settings.ORDERS_SWEEP_INTERVAL_SECONDS = 45
    schedule = beat_schedule()
    assert schedule["orders: sweep undelivered orders"] == {
        "task": "orders.tasks.sweep_undelivered_orders_task",
        "schedule": 45.0,
    }
    app.loader.import_default_modules()
    assert {entry["task"] for entry in schedule.values()} <= set(app.tasks)
    assert "orders.match_unattributed_esimgo_orders" in {entry["task"] for entry in schedule.values()}
