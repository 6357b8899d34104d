"""Admin pages for every payments/orders model: staff searches find a purchase, pages render with
query counts that do not grow with the data, and history is read-only."""

import pytest
from django.urls import reverse

from orders.models import Order, OrderTransition, ProvisioningAttempt
from payments.models import EbarimtReceipt, InvoiceTransition, Payment, QPayCallback, Refund
from staff.audit import record_staff_action
from tests.orders.factories import BundleFactory, DeliveredOrderFactory, InvoiceFactory, OrderFactory


def _purchase(n, bundle=None):
    """A delivered order with a payment, callbacks, attempts, transitions, a refund and a receipt."""
    order = DeliveredOrderFactory(invoice__bundle=bundle) if bundle else DeliveredOrderFactory()
    invoice = order.invoice
    payment = Payment.objects.create(
        invoice=invoice,
        qpay_payment_id=f"49362215011{n:04d}",
        status="PAID",
        amount=invoice.amount_mnt,
        payment_type="P2P",
    )
    for k in range(3):
        QPayCallback.objects.create(
            invoice=invoice,
            method="GET",
            query_string=f"qpay_payment_id={payment.qpay_payment_id}&k={k}",
            qpay_payment_id=payment.qpay_payment_id,
            outcome="PAID" if k == 0 else "DUPLICATE",
        )
        InvoiceTransition.objects.create(
            invoice=invoice, from_status="PENDING", to_status="PAID", name=f"t{k}", actor="task"
        )
        OrderTransition.objects.create(
            order=order, name=f"t{k}", from_status="PAID", to_status="DELIVERED", actor="task"
        )
    ProvisioningAttempt.objects.create(
        order=order, outcome="SUCCEEDED", actor="task", esimgo_order_reference=order.esimgo_order_reference
    )
    Refund.objects.create(
        invoice=invoice,
        payment=payment,
        amount_mnt=1000,
        method="MANUAL",
        status="SUCCEEDED",
        idempotency_key=__import__("uuid").uuid4(),
        requested_by_username="finance",
        note="portal",
    )
    EbarimtReceipt.objects.create(
        invoice=invoice,
        payment=payment,
        status="ISSUED",
        receiver_type="CITIZEN",
        receiver=invoice.customer.phone_number,
        lottery=f"HV {n:08d}",
    )
    return order


@pytest.fixture
def purchases(db):
    bundle = BundleFactory(name="esim_1GB_7D_JP_V2", countries=["JP"])
    korea = BundleFactory(name="esim_1GB_7D_KR_V2", countries=["KR"])
    orders = [_purchase(n, bundle) for n in range(4)] + [_purchase(10, korea)]
    OrderFactory(status=Order.Status.NEEDS_ATTENTION, attention_reason="eSIM Go 503")
    return orders


def _count(client, url, django_assert_max_num_queries, budget):
    with django_assert_max_num_queries(budget) as captured:
        response = client.get(url)
    assert response.status_code == 200, url
    return len(captured.captured_queries)


def test_order_page_shows_the_whole_purchase(purchases, admin_client, admin_user):
    order = purchases[0]
    record_staff_action(admin_user, "invoice.recheck_payment", order.invoice, message="Already paid; QPay agrees.")
    html = admin_client.get(reverse("admin:orders_order_change", args=[order.pk])).content.decode()
    for marker in (
        "panel-payments",
        "panel-callbacks",
        "panel-invoice-transitions",
        "panel-refunds",
        "panel-ebarimt",
        "panel-staff-actions",
        "eSIM Go calls made",
        "order history",
    ):
        assert marker.lower() in html.lower(), marker
    assert "qpay_payment_id=49362215011" in html  # the raw callback query string
    assert "Already paid; QPay agrees." in html  # the audit row of an action on the invoice
    assert order.esimgo_order_reference in html
    # Read-only: no save button on the order (history must not be edited).
    assert 'name="_save"' not in html


def test_change_pages_do_not_grow_queries_with_history(purchases, admin_client, django_assert_max_num_queries):
    small = _count(
        admin_client, reverse("admin:orders_order_change", args=[purchases[0].pk]), django_assert_max_num_queries, 40
    )
    for n in range(20):
        QPayCallback.objects.create(invoice=purchases[0].invoice, method="GET", outcome="DUPLICATE")
        OrderTransition.objects.create(order=purchases[0], name=f"x{n}", to_status="DELIVERED", actor="task")
        record_staff_action(None, "test.action", purchases[0])
    big = _count(
        admin_client, reverse("admin:orders_order_change", args=[purchases[0].pk]), django_assert_max_num_queries, 40
    )
    assert big == small
    _count(
        admin_client,
        reverse("admin:payments_invoice_change", args=[purchases[0].invoice_id]),
        django_assert_max_num_queries,
        35,
    )


@pytest.mark.parametrize(
    "name",
    [
        "orders_order",
        "orders_esim",
        "orders_provisioningattempt",
        "orders_ordertransition",
        "orders_emaillog",
        "orders_esimgocallback",
        "orders_magiclinktoken",
        "payments_customer",
        "payments_invoice",
        "payments_payment",
        "payments_qpaycallback",
        "payments_invoicetransition",
        "payments_refund",
        "payments_ebarimtreceipt",
        "staff_staffaction",
        "staff_reconciliationrun",
        "staff_reconciliationmismatch",
    ],
)
def test_every_changelist_renders_with_bounded_queries(purchases, admin_client, django_assert_max_num_queries, name):
    first = _count(admin_client, reverse(f"admin:{name}_changelist"), django_assert_max_num_queries, 25)
    for n in range(5):
        _purchase(100 + n)
    assert _count(admin_client, reverse(f"admin:{name}_changelist"), django_assert_max_num_queries, 25) == first


@pytest.mark.parametrize("field", ["phone", "email", "iccid", "qpay_invoice_id", "qpay_payment_id", "esimgo_reference"])
def test_orders_are_found_by_what_staff_search_for(purchases, admin_client, field):
    order = purchases[2]
    needle = {
        "phone": order.customer.phone_number,
        "email": order.customer.email.upper(),
        "iccid": order.esim.iccid,
        "qpay_invoice_id": order.invoice.qpay_invoice_id,
        "qpay_payment_id": order.invoice.payments.get().qpay_payment_id,
        "esimgo_reference": order.esimgo_order_reference,
    }[field]
    found = admin_client.get(reverse("admin:orders_order_changelist"), {"q": needle}).context["cl"].result_list
    assert [o.pk for o in found] == [order.pk]


def test_order_filters(purchases, admin_client):
    url = reverse("admin:orders_order_changelist")
    korea = admin_client.get(url, {"country": "KR"}).context["cl"].result_list
    attention = admin_client.get(url, {"attention": "1"}).context["cl"].result_list
    delivered = admin_client.get(url, {"status__exact": "DELIVERED"}).context["cl"].result_list
    assert [o.pk for o in korea] == [purchases[4].pk]
    assert [o.status for o in attention] == [Order.Status.NEEDS_ATTENTION]
    assert len(delivered) == 5


def test_invoices_found_by_payment_id_and_phone(purchases, admin_client):
    order = purchases[1]
    url = reverse("admin:payments_invoice_changelist")
    by_payment = admin_client.get(url, {"q": order.invoice.payments.get().qpay_payment_id}).context["cl"].result_list
    by_phone = admin_client.get(url, {"q": order.customer.phone_number}).context["cl"].result_list
    assert [i.pk for i in by_payment] == [order.invoice_id] and [i.pk for i in by_phone] == [order.invoice_id]


def test_history_cannot_be_edited_or_deleted(purchases, admin_client):
    transition = OrderTransition.objects.first()
    payment = Payment.objects.first()
    assert (
        admin_client.post(
            reverse("admin:orders_ordertransition_delete", args=[transition.pk]), {"post": "yes"}
        ).status_code
        == 403
    )
    assert (
        admin_client.post(reverse("admin:payments_payment_change", args=[payment.pk]), {"amount": "1"}).status_code
        == 403
    )
    assert admin_client.get(reverse("admin:payments_refund_add")).status_code == 403
    invoice = InvoiceFactory()
    assert (
        admin_client.post(reverse("admin:payments_invoice_delete", args=[invoice.pk]), {"post": "yes"}).status_code
        == 403
    )
