"""The status poll is answered from Redis, and every state change is seen by the next poll."""

from datetime import timedelta

import pytest
from django.db import transaction
from django.utils import timezone

from orders.models import Order
from payments import selectors, services, status_cache
from payments.models import Invoice
from tests.orders.factories import OrderFactory
from tests.payments.factories import InvoiceFactory


def status_url(invoice):
    """The status URL the shopper is given: the id and the invoice's access token (issue 9)."""
    if isinstance(invoice, str):  # an unknown id
        return f"/api/customer/transactions/{invoice}/status?token=x"
    return f"/api/customer/transactions/{invoice.pk}/status?token={invoice.access_token}"


@pytest.fixture
def invoice(bundle):
    return InvoiceFactory(bundle=bundle)


def test_a_repeated_poll_does_not_touch_the_database(client, invoice, django_assert_num_queries):
    first = client.get(status_url(invoice)).json()
    with django_assert_num_queries(0):
        again = client.get(status_url(invoice))
    assert again.status_code == 200 and again.json() == first and first["status"] == "PENDING"


def test_an_unknown_invoice_is_still_not_found(client, db):
    assert client.get(status_url("00000000-0000-0000-0000-000000000000")).status_code == 404


# The test's own transaction never commits: django_capture_on_commit_callbacks runs what a real
# commit would run (the generation bump) when the block exits.


def test_an_invoice_transition_is_seen_by_the_next_poll(
    client, invoice, paid_handler, django_capture_on_commit_callbacks
):
    assert client.get(status_url(invoice)).json()["status"] == "PENDING"
    with django_capture_on_commit_callbacks(execute=True), transaction.atomic():
        locked = Invoice.objects.select_for_update().get(pk=invoice.pk)
        services._transition(
            locked, "mark_paid", cause="test", actor="test", paid_amount=invoice.amount_mnt, paid_at=timezone.now()
        )
        # Not committed yet: the cache is not invalidated before the commit (other connections
        # still see PENDING in the database until then).
        assert client.get(status_url(invoice)).json()["status"] == "PENDING"
    data = client.get(status_url(invoice)).json()
    assert data["status"] == "PAID" and data["paidAmount"] == invoice.amount_mnt


def test_expiry_is_seen_by_the_next_poll(client, invoice, django_capture_on_commit_callbacks):
    assert client.get(status_url(invoice)).json()["status"] == "PENDING"
    with django_capture_on_commit_callbacks(execute=True), transaction.atomic():
        services._transition(
            Invoice.objects.select_for_update().get(pk=invoice.pk), "expire", cause="test", actor="test"
        )
    assert client.get(status_url(invoice)).json()["status"] == "EXPIRED"


def test_an_order_transition_is_seen_by_the_next_poll(client, bundle, django_capture_on_commit_callbacks):
    order = OrderFactory(invoice__bundle=bundle, status=Order.Status.PROVISIONING)
    assert client.get(status_url(order.invoice)).json()["status"] == "PAID"
    with django_capture_on_commit_callbacks(execute=True), transaction.atomic():
        locked = Order.objects.select_for_update().get(pk=order.pk)
        locked.apply_transition("flag_for_attention", actor="test", cause="test")
    assert client.get(status_url(order.invoice)).json()["status"] == "FAILED"


def test_an_answer_read_before_a_commit_is_never_served_after_it(invoice, django_capture_on_commit_callbacks):
    """The race the generation counter exists for: a reader fetched the generation, read the old
    row, and only stores its answer after the writer's commit bumped the generation."""
    _, generation = status_cache.get(invoice.pk)
    stale = selectors.status_snapshot(invoice)  # read before the change commits
    with django_capture_on_commit_callbacks(execute=True), transaction.atomic():
        services._transition(Invoice.objects.select_for_update().get(pk=invoice.pk), "cancel", cause="t", actor="t")
    status_cache.put(stale, generation)  # stored late, under the old generation
    snapshot, _ = status_cache.get(invoice.pk)
    assert snapshot is None  # a miss: the next reader goes to the database and sees CANCELLED


def test_a_poll_that_asks_qpay_answers_from_the_database(
    client, invoice, mocked_responses, paid_handler, django_capture_on_commit_callbacks
):
    """In-process mode runs the check at once: the poll that asked must report what it found."""
    from tests.payments.qpay_mocks import add_check, add_token, paid_row

    Invoice.objects.filter(pk=invoice.pk).update(created_at=timezone.now() - timedelta(minutes=2))
    with django_capture_on_commit_callbacks(execute=True):
        status_cache.invalidate(invoice.pk)  # the update above bypassed the transition helper
    add_token(mocked_responses)
    add_check(mocked_responses, paid_row("19500.00"))
    assert client.get(status_url(invoice)).json()["status"] == "PAID"


def test_a_cache_outage_falls_back_to_the_database(client, invoice, monkeypatch):
    def broken(*args, **kwargs):
        raise ConnectionError("redis down")

    monkeypatch.setattr(status_cache.cache, "get_many", broken)
    assert client.get(status_url(invoice)).json()["status"] == "PENDING"
