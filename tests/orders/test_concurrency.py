"""Races between real database connections (threads): the database, not timing, decides.

Each thread has its own connection, so row locks and constraints behave as between two
Celery workers. The fake eSIM Go holds the first purchase open until the other side has
finished, which makes the overlap certain instead of lucky.
"""

import threading
from datetime import timedelta

import pytest
from django.db import connection, transaction
from django.utils import timezone

from orders import provisioning, services
from orders.models import ESim, Order, OrderTransition
from payments.models import Invoice
from tests.orders.factories import InvoiceFactory, OrderFactory
from tests.orders.fake_esimgo import FakeESIMGo

pytestmark = pytest.mark.django_db(transaction=True)


def run_in_threads(*functions, timeout=30):
    """Run each function in its own thread (own DB connection); return their results or exceptions."""
    results = [None] * len(functions)

    def runner(index, function):
        try:
            results[index] = function()
        except BaseException as exc:  # noqa: BLE001 - reported to the test
            results[index] = exc
        finally:
            connection.close()

    threads = [threading.Thread(target=runner, args=(i, f)) for i, f in enumerate(functions)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout)
        assert not thread.is_alive(), "thread hung"
    return results


def unexpected_errors(results):
    """Errors other than the database refusing a racing writer.

    PostgreSQL makes the loser wait on the row lock, so no error is acceptable there. SQLite
    (local runs only; CI is PostgreSQL) has no row locks: its shared-cache test database
    refuses the loser at once with "database table is locked" — the database still decides.
    """
    from django.db import OperationalError

    errors = [r for r in results if isinstance(r, BaseException)]
    if connection.vendor == "sqlite":
        errors = [e for e in errors if not (isinstance(e, OperationalError) and "locked" in str(e))]
    return errors


@pytest.fixture
def fake(mocked_responses):
    return FakeESIMGo(mocked_responses)


def hold_first_purchase_until(fake, released: threading.Event):
    """The first purchase call waits (max 10 s) until `released` is set."""
    calls = []

    def hook():
        calls.append(1)
        if len(calls) == 1:
            released.wait(10)

    fake.before_purchase = hook


def test_same_order_provisioned_from_two_connections_buys_once(fake):
    order = OrderFactory()
    one_finished = threading.Event()  # the held purchaser cannot finish first, so this is the other
    hold_first_purchase_until(fake, one_finished)
    start = threading.Barrier(2)

    def worker():
        start.wait()
        try:
            return provisioning.provision_order(order.pk)
        finally:
            one_finished.set()

    # Whichever thread reaches eSIM Go first is held there; the other must not buy meanwhile.
    first, second = run_in_threads(worker, worker)
    assert not unexpected_errors([first, second]), (first, second)
    outcomes = sorted(r.outcome if isinstance(r, provisioning.ProvisionResult) else repr(r) for r in (first, second))
    assert fake.purchase_calls == 1, outcomes
    assert len(fake.sold) == 1
    order.refresh_from_db()
    assert order.status == Order.Status.DELIVERED
    assert ESim.objects.count() == 1
    assert provisioning.DELIVERED in outcomes
    assert OrderTransition.objects.filter(order=order, name="deliver").count() == 1


def test_payment_verified_twice_concurrently_creates_one_order(fake):
    """The callback and the payment-check task both verify the same payment at once."""
    invoice = InvoiceFactory(status=Invoice.Status.PENDING)
    start = threading.Barrier(2)

    def verify(actor):
        start.wait()
        # What payments does: lock the invoice, mark it PAID if it is not yet, call orders.
        with transaction.atomic():
            locked = Invoice.objects.select_for_update().get(pk=invoice.pk)
            if locked.status == Invoice.Status.PAID:
                return None
            locked.status = Invoice.Status.PAID
            locked.paid_at = timezone.now()
            locked.save()
            return services.handle_invoice_paid(locked, actor=actor)

    results = run_in_threads(lambda: verify("callback"), lambda: verify("task"))
    assert not unexpected_errors(results), results
    assert Order.objects.filter(invoice=invoice).count() == 1
    order = Order.objects.get(invoice=invoice)
    assert order.status == Order.Status.DELIVERED  # eager tasks ran on commit
    assert len(fake.sold) == 1
    assert OrderTransition.objects.filter(order=order, name="create_paid").count() == 1


def test_callback_and_sweep_racing_buy_once(fake, settings):
    """The payment callback provisions while the sweep re-enqueues the same order."""
    settings.ORDERS_SWEEP_AFTER_SECONDS = 0
    invoice = InvoiceFactory()
    one_finished = threading.Event()
    hold_first_purchase_until(fake, one_finished)
    order_committed = threading.Event()

    def callback_path():
        try:
            with transaction.atomic():
                transaction.on_commit(order_committed.set)  # runs before the provisioning task
                return services.handle_invoice_paid(
                    Invoice.objects.select_for_update().get(pk=invoice.pk), actor="callback"
                )
        finally:
            order_committed.set()
            one_finished.set()

    def sweep_path():
        try:
            assert order_committed.wait(10)
            return services.sweep_undelivered_orders(now=timezone.now() + timedelta(seconds=5))
        finally:
            one_finished.set()

    results = run_in_threads(callback_path, sweep_path)
    assert not unexpected_errors(results), results
    order = Order.objects.get(invoice=invoice)
    if not isinstance(results[1], BaseException):
        assert results[1] == ([order.pk], [])  # the sweep did pick the order up
    if connection.vendor == "sqlite":
        # SQLite may refuse both racing writers; the next sweep run finishes the job.
        provisioning.provision_order(order.pk)
    order.refresh_from_db()
    assert order.status == Order.Status.DELIVERED
    assert fake.purchase_calls == 1 and len(fake.sold) == 1
