"""Regression tests for the defects the fuzz suite and the chaos run found, one per fix.

Several were PostgreSQL-only 500s (its text type cannot hold NUL). These tests also assert what
the fix guarantees on any database (nothing with a NUL is stored or queried), so they fail
without the fix on SQLite too.
"""

import hashlib
import hmac

import pytest
from django.conf import settings as django_settings

from orders.models import ESIMGoCallback

pytestmark = pytest.mark.django_db


def _signed(body: bytes) -> dict:
    signature = hmac.new(django_settings.ESIMGO_API_KEY.encode(), body, hashlib.sha256).hexdigest()
    return {"HTTP_X_SIGNATURE_SHA256": signature}


def test_esimgo_callback_with_a_nul_byte_is_stored_not_a_500(client, django_capture_on_commit_callbacks):
    """Defect: a signed eSIM Go callback whose body held a raw NUL byte was a 500 on PostgreSQL
    (text fields cannot contain NUL) and the callback was lost."""
    body = b'{"alertType": "Utilisation", "iccid": "8944000000000000001", "note": "a\x00b"}'
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post("/esimgo/callback/", data=body, content_type="application/json", **_signed(body))
    assert response.status_code == 200, response.content
    row = ESIMGoCallback.objects.get()
    assert row.body_sha256 == hashlib.sha256(body).hexdigest()
    assert "\x00" not in row.body and "a\ufffdb" in row.body
    assert row.iccid == "8944000000000000001"
    assert row.processed_at is not None  # the processing task ran on the stored row


@pytest.fixture
def unpaid_invoice(mocked_responses):
    from tests.payments.factories import InvoiceFactory
    from tests.payments.qpay_mocks import add_check, add_token

    add_token(mocked_responses)
    add_check(mocked_responses)
    return InvoiceFactory()


def test_authentic_qpay_callback_with_nul_characters_is_kept(client, unpaid_invoice):
    """Defect: an authentic QPay callback (right token) whose qpay_payment_id or POST body held a
    NUL was a 500 on PostgreSQL and never reached the inbox (a lost callback)."""
    from payments.inbox import callback_token
    from payments.models import QPayCallback

    url = f"/payments/qpay/callback/{unpaid_invoice.pk}/?token={callback_token(unpaid_invoice.pk)}"
    by_get = client.get(url + "&qpay_payment_id=4936%0022150113497")
    by_post = client.post(url + "&qpay_payment_id=493622150113497", data=b"payment\x00id", content_type="text/plain")
    assert (by_get.status_code, by_get.content) == (200, b"SUCCESS")
    assert (by_post.status_code, by_post.content) == (200, b"SUCCESS")
    rows = list(QPayCallback.objects.order_by("received_at", "pk"))
    assert len(rows) == 2
    assert rows[0].qpay_payment_id == "4936\ufffd22150113497"
    assert rows[1].body == "payment\ufffdid"
    assert all("\x00" not in f"{r.qpay_payment_id}{r.body}{r.query_string}{r.user_agent}" for r in rows)
    assert all(r.outcome == "NOT_PAID" for r in rows)


@pytest.mark.parametrize("path", ["/checkout/esim_1GB%00_7D_MN_V2/", "/bundles/esim_1GB_7D%00/", "/api/packages%00/"])
def test_a_nul_in_the_path_is_not_found_before_any_query(client, path, django_assert_num_queries):
    """Defect: /checkout/<name>/ and /bundles/<name>/ with %00 in the name were 500s on PostgreSQL
    (the bundle lookup sent a NUL to the database)."""
    from tests.catalog.factories import BundleFactory

    BundleFactory(name="esim_1GB_7D_MN_V2", countries=["MN"])
    with django_assert_num_queries(0):
        response = client.get(path)
    assert response.status_code == 404
    if path.startswith("/api/"):
        assert response.json() == {"code": "not_found", "error": "Олдсонгүй."}


@pytest.mark.parametrize("amount", [None, "", "abc", "0", "12500.5"])
def test_checkout_with_a_garbled_price_check_says_so(client, amount):
    """Defect: a checkout POST whose hidden `amount` was missing or garbled came back 400 with no
    message at all (the error sat on the hidden field, which the page does not show)."""
    from payments.models import Invoice
    from tests.catalog.factories import BundleFactory

    BundleFactory(name="esim_1GB_7D_MN_V2", countries=["MN"], computed_price_mnt=12500)
    data = {"phone_number": "99112233", "email": "shopper@example.mn", "company_register": "", "device_confirmed": "on"}
    if amount is not None:
        data["amount"] = amount
    response = client.post("/checkout/esim_1GB_7D_MN_V2/", data=data, HTTP_COOKIE="django_language=en")
    assert response.status_code == 400
    form = response.context["form"]
    assert form["amount"].value() == "12500" and not form["amount"].errors
    assert "The price changed to 12,500₮. Please check and confirm again." in response.content.decode()
    assert Invoice.objects.count() == 0


def test_empty_magic_link_request_names_the_email_field(client):
    """Defect: POST /my-esims/ with no fields answered 400 without any error (the empty POST left
    the form unbound, so it had no errors to show)."""
    response = client.post("/my-esims/", data={}, HTTP_COOKIE="django_language=en")
    assert response.status_code == 400
    assert set(response.context["form"].errors) == {"email"}
    assert "This field is required." in response.content.decode()


def test_empty_topup_post_names_the_bundle_field(client, mocked_responses, settings):
    """Same defect on the top-up page: an empty POST was a 400 that said nothing."""
    from tests.catalog.factories import BundleFactory
    from tests.orders.factories import DeliveredOrderFactory, ESimFactory, InvoiceFactory
    from tests.orders.fake_esimgo import FakeESIMGo

    settings.ESIMGO_MAX_RETRIES = 0
    fake = FakeESIMGo(mocked_responses)
    bundle = BundleFactory(name="esim_1GB_7D_JP_V2", countries=["JP"], computed_price_mnt=19500)
    BundleFactory(name="esim_3GB_15D_JP_V2", countries=["JP"], computed_price_mnt=39500)
    esim = ESimFactory(iccid="8944500000000000777")
    fake.esims[esim.iccid] = {
        "matchingId": esim.matching_id,
        "smdpAddress": esim.smdp_address,
        "customerRef": "",
        "bundles": [bundle.name],
    }
    order = DeliveredOrderFactory(invoice=InvoiceFactory(bundle=bundle, customer=esim.customer), esim=esim)
    response = client.post(f"/esims/{order.access_token}/topup/", data={}, HTTP_COOKIE="django_language=en")
    assert response.status_code == 400
    assert set(response.context["form"].errors) == {"bundle"}
    assert "This field is required." in response.content.decode()


def test_a_double_payment_is_one_staff_alert(
    unpaid_invoice, mocked_responses, monkeypatch, mailoutbox, settings, django_capture_on_commit_callbacks
):
    """Defect (chaos run): an invoice paid twice, whose first check already saw both payments, was
    flagged "overpaid" and then again "paid more than once" by the later re-check of the second
    payment's callback: two staff alerts (and two flag transitions) for one double payment."""
    import responses as rsps_lib

    from payments import verification
    from payments.models import InvoiceTransition
    from tests.payments.qpay_mocks import BASE, check_body, paid_row

    settings.STAFF_ALERT_EMAILS = ["staff@example.mn"]
    monkeypatch.setattr("orders.services.handle_invoice_paid", lambda invoice, actor: None)
    amount = f"{unpaid_invoice.amount_mnt}.00"
    mocked_responses.replace(
        rsps_lib.POST,
        f"{BASE}/payment/check",
        json=check_body(paid_row(amount, payment_id="100000000000001"), paid_row(amount, payment_id="100000000000002")),
    )
    with django_capture_on_commit_callbacks(execute=True):
        first = verification.verify_invoice_payment(unpaid_invoice.pk, cause="callback", actor="callback")
        again = verification.verify_invoice_payment(unpaid_invoice.pk, cause="recheck", actor="task", recheck_paid=True)
    assert (first.outcome, again.outcome) == ("PAID", "DUPLICATE")
    flags = InvoiceTransition.objects.filter(invoice=unpaid_invoice, name="flag_for_staff")
    due = unpaid_invoice.amount_mnt
    assert [f.cause for f in flags] == [f"paid more than once: {2 * due}.00 MNT for a {due} MNT invoice"]
    assert len([m for m in mailoutbox if "needs attention" in m.subject]) == 1


def test_sweep_enqueues_each_stuck_order_once_per_window(settings):
    """Defect (2,000-purchase chaos run): with the workers behind, every sweep re-enqueued every
    undelivered order again (and every pending e-mail), so the queue the orders were stuck in kept
    growing (past 10,000 tasks, 1,393 provisioning runs with nothing to do)."""
    from datetime import timedelta
    from unittest import mock

    from django.core.cache import cache
    from django.utils import timezone

    from orders import services
    from orders.models import EmailLog, Order
    from tests.orders.factories import InvoiceFactory, OrderFactory

    orders = [OrderFactory(invoice=InvoiceFactory()) for _ in range(3)]
    Order.objects.update(created_at=timezone.now() - timedelta(minutes=5))
    email = EmailLog.objects.create(order=orders[0], kind=EmailLog.Kind.PAYMENT_RECEIVED, to="a@example.mn")
    EmailLog.objects.filter(pk=email.pk).update(created_at=timezone.now() - timedelta(minutes=5))
    with (
        mock.patch("orders.tasks.provision_order_task.delay") as provision,
        mock.patch("orders.tasks.send_email_task.delay") as send,
    ):
        first, _ = services.sweep_undelivered_orders()
        second, _ = services.sweep_undelivered_orders()
        assert sorted(first) == sorted(o.pk for o in orders) and second == []
        assert provision.call_count == 3 and send.call_count == 1
        cache.clear()  # the window has passed: still stuck, so enqueued again (a lost task is recovered)
        third, _ = services.sweep_undelivered_orders()
        assert sorted(third) == sorted(o.pk for o in orders)
        assert provision.call_count == 6 and send.call_count == 2
