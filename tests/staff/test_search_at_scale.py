"""Staff search by the shape of the term, each field on its own index (staff/search.py), and the
admin lists that must not read a whole big table per page view."""

import pytest
from django.db import connection
from django.urls import reverse

from orders.models import Order
from payments.models import Customer, Invoice
from staff.search import EstimatedCountPaginator, term_shape
from tests.orders.factories import DeliveredOrderFactory, OrderFactory

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    "term, shape, value",
    [
        ("99112233", "phone", "99112233"),
        ("+976 9911-2233", "phone", "99112233"),
        ("9911", "partial_phone", "9911"),
        ("8944000000000000123", "long_number", "8944000000000000123"),
        ("someone@Example.mn", "email", "someone@Example.mn"),
        ("5b1f6c3e-0000-4000-8000-000000000000", "uuid", "5b1f6c3e-0000-4000-8000-000000000000"),
        ("esim3f2a", "upper_text", "ESIM3F2A"),
    ],
)
def test_term_shapes(term, shape, value):
    assert term_shape(term)[shape] == value


def test_two_digits_are_not_a_partial_phone():
    assert "partial_phone" not in term_shape("99")  # trigram indexes need three characters


def found(admin_client, name, term):
    return [o.pk for o in admin_client.get(reverse(f"admin:{name}_changelist"), {"q": term}).context["cl"].result_list]


def test_partial_phone_and_part_of_an_email_find_the_order(admin_client):
    order = DeliveredOrderFactory(
        invoice__customer__phone_number="99118877", invoice__customer__email="Bat.Erdene@Example.mn"
    )
    DeliveredOrderFactory(invoice__customer__phone_number="88001122", invoice__customer__email="other@example.mn")
    assert found(admin_client, "orders_order", "1188") == [order.pk]
    assert found(admin_client, "orders_order", "bat.erdene@example.mn") == [order.pk]
    assert found(admin_client, "orders_order", "bat.erdene") == [order.pk]
    assert found(admin_client, "payments_invoice", "118877") == [order.invoice_id]
    assert found(admin_client, "payments_customer", "1188") == [order.customer_id]


def test_a_whole_address_finds_its_own_customer_and_part_of_one_every_match(admin_client):
    bob = DeliveredOrderFactory(invoice__customer__email="bob@example.mn")
    jimbob = DeliveredOrderFactory(invoice__customer__email="jimbob@example.mn")
    # A whole address: its exact (case-insensitive) match, found by the btree on UPPER(email).
    assert found(admin_client, "orders_order", "BOB@example.mn") == [bob.pk]
    assert found(admin_client, "payments_customer", "bob@Example.mn") == [bob.customer_id]
    # No customer has exactly this address: every address containing it, as before.
    assert set(found(admin_client, "orders_order", "bob@example")) == {bob.pk, jimbob.pk}


def test_an_invoice_number_is_found_however_it_is_typed(admin_client):
    order = DeliveredOrderFactory()
    number = order.invoice.sender_invoice_no
    assert found(admin_client, "payments_invoice", number.lower()) == [order.invoice_id]
    assert found(admin_client, "orders_order", number) == [order.pk]


def test_a_term_matching_nothing_finds_nothing(admin_client):
    DeliveredOrderFactory()
    assert found(admin_client, "orders_order", "nothing-like-this") == []
    assert found(admin_client, "orders_order", "00000000") == []


def test_needs_attention_unites_flagged_stuck_and_payment_issues(admin_client):
    flagged = OrderFactory(status=Order.Status.NEEDS_ATTENTION)
    payment_issue = DeliveredOrderFactory()
    Invoice.objects.filter(pk=payment_issue.invoice_id).update(needs_staff_attention=True)
    DeliveredOrderFactory()
    listed = admin_client.get(reverse("admin:orders_order_changelist"), {"attention": "1"}).context["cl"].result_list
    assert {o.pk for o in listed} == {flagged.pk, payment_issue.pk}


@pytest.mark.skipif(connection.vendor != "postgresql", reason="reads PostgreSQL's table statistics (CI has PostgreSQL)")
def test_big_unfiltered_lists_are_counted_from_the_statistics():
    DeliveredOrderFactory()
    with connection.cursor() as cursor:  # as ANALYZE would leave it for a big table (rolled back with the test)
        cursor.execute("UPDATE pg_class SET reltuples = 1234567 WHERE oid = %s::regclass", [Customer._meta.db_table])
    unfiltered = EstimatedCountPaginator(Customer.objects.order_by("pk"), 100)
    filtered = EstimatedCountPaginator(Customer.objects.filter(phone_number="0").order_by("pk"), 100)
    assert unfiltered.count == 1234567  # no COUNT(*) over the table
    assert filtered.count == 0  # filtered lists are always counted exactly


def test_small_tables_are_counted_exactly():
    DeliveredOrderFactory()
    assert EstimatedCountPaginator(Customer.objects.order_by("pk"), 100).count == Customer.objects.count() == 1
