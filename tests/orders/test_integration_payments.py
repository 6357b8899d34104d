"""Orders as payments sees it: the status API reaches PROCESSED/FAILED and links the eSIM page."""

import pytest

from orders.models import Order
from tests.orders.factories import DeliveredOrderFactory, InvoiceFactory, OrderFactory

pytestmark = pytest.mark.django_db


def status(client, invoice):
    response = client.get(f"/api/customer/transactions/{invoice.pk}/status?token={invoice.access_token}")
    assert response.status_code == 200
    return response.json()


def test_status_is_processed_with_esim_url_once_delivered(client, bundle):
    order = DeliveredOrderFactory(invoice=InvoiceFactory(bundle=bundle))
    data = status(client, order.invoice)
    assert data["status"] == "PROCESSED"
    assert data["esimUrl"].endswith(f"/esims/{order.access_token}/")


def test_status_is_paid_while_provisioning_and_failed_when_it_needs_attention(
    client, bundle, django_capture_on_commit_callbacks
):
    order = OrderFactory(invoice=InvoiceFactory(bundle=bundle), status=Order.Status.PROVISIONING)
    assert status(client, order.invoice)["status"] == "PAID"
    # Through the transition helper, as every status change goes: it invalidates the cached status.
    with django_capture_on_commit_callbacks(execute=True):
        order.apply_transition("flag_for_attention", actor="test", cause="test")
    data = status(client, order.invoice)
    assert data["status"] == "FAILED" and not data.get("esimUrl")


def test_admin_pages_render(admin_client, bundle):
    order = DeliveredOrderFactory(invoice=InvoiceFactory(bundle=bundle))
    for url in (
        "/admin/orders/order/",
        f"/admin/orders/order/{order.pk}/change/",
        "/admin/orders/emaillog/",
        "/admin/orders/esim/",
        "/admin/orders/esimgocallback/",
        "/admin/orders/magiclinktoken/",
    ):
        assert admin_client.get(url).status_code == 200, url
