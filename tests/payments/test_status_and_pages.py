"""The public status endpoint, the checkout form and the payment page."""

import re
import uuid
from datetime import timedelta
from types import SimpleNamespace

import pytest
import responses
from django.utils import timezone

from payments import selectors
from payments.models import Invoice
from tests.payments.factories import InvoiceFactory
from tests.payments.qpay_mocks import BASE, add_check, add_invoice_create, add_token, check_requests, paid_row


def status_url(invoice):
    """The status URL its creator is given (the access token is the capability)."""
    if isinstance(invoice, uuid.UUID):
        return f"/api/customer/transactions/{invoice}/status?token=x"
    return f"/api/customer/transactions/{invoice.pk}/status?token={invoice.access_token}"


@pytest.fixture
def invoice(bundle):
    return InvoiceFactory(bundle=bundle)


def test_status_of_a_pending_invoice(client, invoice, mocked_responses):
    response = client.get(status_url(invoice))
    assert response.status_code == 200 and response["Cache-Control"] == "no-store"
    assert response.json() == {
        "internalInvoiceId": str(invoice.pk),
        "status": "PENDING",
        "paidAmount": 0,
        "expectedAmount": 19500,
        "expiresAt": invoice.expires_at.isoformat(),
        "paidAt": None,
        "esimUrl": None,
        "paymentState": "NONE",
        "remainingAmount": 0,
        "extraAmount": 0,  # additive (issue 13)
    }
    assert len(mocked_responses.calls) == 0  # a fresh invoice: the callback normally comes first


def test_status_asks_qpay_at_most_once_a_minute(client, invoice, mocked_responses, paid_handler):
    Invoice.objects.filter(pk=invoice.pk).update(created_at=timezone.now() - timedelta(minutes=2))
    add_token(mocked_responses)
    add_check(mocked_responses)
    for _ in range(5):
        assert client.get(status_url(invoice)).json()["status"] == "PENDING"
    assert len(check_requests(mocked_responses)) == 1


def test_status_poll_can_discover_the_payment(client, invoice, mocked_responses, paid_handler):
    Invoice.objects.filter(pk=invoice.pk).update(created_at=timezone.now() - timedelta(minutes=2))
    add_token(mocked_responses)
    add_check(mocked_responses, paid_row("19500.00"))
    data = client.get(status_url(invoice)).json()
    assert data["status"] == "PAID" and data["paidAmount"] == 19500 and data["paidAt"]


def test_status_expires_an_overdue_invoice_lazily(client, bundle, mocked_responses):
    invoice = InvoiceFactory(bundle=bundle, expires_at=timezone.now() - timedelta(seconds=5))
    add_token(mocked_responses)
    add_check(mocked_responses)
    mocked_responses.add(responses.DELETE, f"{BASE}/invoice/{invoice.qpay_invoice_id}", json={})
    assert client.get(status_url(invoice)).json()["status"] == "EXPIRED"


def test_status_processed_and_failed_follow_the_order(bundle, monkeypatch):
    invoice = InvoiceFactory(bundle=bundle, status=Invoice.Status.PAID, paid_amount=19500, paid_at=timezone.now())
    order = SimpleNamespace(status="DELIVERED", get_absolute_url=lambda: "/esims/abc/")
    monkeypatch.setattr(selectors, "order_for", lambda inv: order)
    data = selectors.public_status(invoice)
    assert data["status"] == "PROCESSED" and data["esimUrl"] == "/esims/abc/"
    order.status = "NEEDS_ATTENTION"
    assert selectors.public_status(invoice)["status"] == "FAILED"
    order.status = "PROVISIONING"
    assert selectors.public_status(invoice)["status"] == "PAID"
    monkeypatch.setattr(selectors, "order_for", lambda inv: None)
    assert selectors.public_status(invoice)["status"] == "PAID"


def test_status_without_an_order_row_yet(client, bundle):
    invoice = InvoiceFactory(bundle=bundle, status=Invoice.Status.PAID, paid_amount=19500)
    assert client.get(status_url(invoice)).json()["status"] == "PAID"


def test_status_unknown_invoice_is_a_json_404(client, db):
    response = client.get(status_url(uuid.uuid4()))
    assert response.status_code == 404 and response.json()["error"]
    assert client.get("/api/customer/transactions/not-a-uuid/status").status_code == 404


def test_status_is_rate_limited_per_client(client, invoice, settings):
    settings.PAYMENTS_STATUS_RATE_LIMIT_PER_MINUTE = 3
    codes = [client.get(status_url(invoice)).status_code for _ in range(4)]
    assert codes == [200, 200, 200, 429]
    limited = client.get(status_url(invoice))
    assert limited.json()["error"] and int(limited["Retry-After"]) >= 1
    other = client.get(status_url(invoice), REMOTE_ADDR="10.0.0.9")
    assert other.status_code == 200


# --- checkout ---------------------------------------------------------------------------------


def test_checkout_form_shows_the_bundle_and_price(client, bundle):
    response = client.get(f"/checkout/{bundle.name}/")
    html = response.content.decode()
    assert response.status_code == 200
    assert "19,500₮" in html and 'name="csrfmiddlewaretoken"' in html
    assert 'name="phone_number"' in html and 'name="email"' in html and 'name="company_register"' in html


def test_checkout_and_payment_pages_name_the_plan_for_people(client, invoice):
    """'Japan 1 GB · 7 days' in the shopper's language, not eSIM Go's raw description."""
    client.cookies["django_language"] = "en"
    for url in (f"/checkout/{invoice.bundle.name}/", f"/pay/{invoice.access_token}/"):
        html = client.get(url).content.decode()
        assert "Japan 1 GB · 7 days" in html, url


def test_checkout_of_unknown_or_retired_bundle_is_404(client, bundle):
    assert client.get("/checkout/esim_nope/").status_code == 404
    bundle.is_available = False
    bundle.save()
    assert client.get(f"/checkout/{bundle.name}/").status_code == 404


def test_checkout_invalid_input_rerenders_the_form(client, bundle, mocked_responses):
    response = client.post(f"/checkout/{bundle.name}/", {"phone_number": "123", "email": "x", "amount": 19500})
    assert response.status_code == 400
    html = response.content.decode()
    assert html.count('class="errorlist"') == 3 and 'value="123"' in html  # phone, e-mail, the device confirm
    assert 'id="error-summary" tabindex="-1"' in html and html.count('aria-invalid="true"') == 3
    assert Invoice.objects.count() == 0 and len(mocked_responses.calls) == 0


def test_checkout_price_change_is_shown_before_paying(client, bundle, mocked_responses):
    response = client.post(
        f"/checkout/{bundle.name}/",
        {"phone_number": "99112233", "email": "a@example.mn", "amount": 18000, "device_confirmed": "on"},
    )
    assert response.status_code == 200 and "19,500₮" in response.content.decode()
    assert 'value="19500"' in response.content.decode() and Invoice.objects.count() == 0


def test_checkout_creates_the_invoice_and_goes_to_the_payment_page(client, bundle, esimgo_valid):
    add_token(esimgo_valid)
    add_invoice_create(esimgo_valid)
    response = client.post(
        f"/checkout/{bundle.name}/",
        {
            "phone_number": "9911 2233",
            "email": "a@example.mn",
            "company_register": "1234567",
            "amount": 19500,
            "device_confirmed": "on",
        },
    )
    invoice = Invoice.objects.get()
    assert response.status_code == 302 and response["Location"] == f"/pay/{invoice.access_token}/"
    assert client.session["invoice_ids"] == [str(invoice.pk)]
    assert invoice.company_register == "1234567" and invoice.customer.phone_number == "99112233"


def test_checkout_when_qpay_is_down_rerenders_with_a_message(client, bundle, esimgo_valid):
    add_token(esimgo_valid)
    esimgo_valid.add(responses.POST, f"{BASE}/invoice", status=503, json={})
    response = client.post(
        f"/checkout/{bundle.name}/",
        {"phone_number": "99112233", "email": "a@example.mn", "amount": 19500, "device_confirmed": "on"},
    )
    assert response.status_code == 503 and 'id="error-summary"' in response.content.decode()


def test_checkout_needs_the_device_confirmed(client, bundle, mocked_responses):
    """Issue 13: the shopper confirms the phone takes an eSIM; the form links the device list,
    the terms and the refund policy."""
    html = client.get(f"/checkout/{bundle.name}/").content.decode()
    assert 'name="device_confirmed"' in html and 'href="/help/compatibility/"' in html
    assert 'href="/help/terms/"' in html and 'href="/help/refund/"' in html and "*#06#" in html
    response = client.post(
        f"/checkout/{bundle.name}/", {"phone_number": "99112233", "email": "a@example.mn", "amount": 19500}
    )
    assert response.status_code == 400 and Invoice.objects.count() == 0 and len(mocked_responses.calls) == 0
    assert 'id="id_device_confirmed"' in response.content.decode()
    assert response.context["form"].errors["device_confirmed"]


def test_checkout_requires_csrf(bundle):
    from django.test import Client

    response = Client(enforce_csrf_checks=True).post(f"/checkout/{bundle.name}/", {"phone_number": "99112233"})
    assert response.status_code == 403


# --- payment page -------------------------------------------------------------------------------


def test_payment_page_shows_qr_bank_links_countdown_and_refresh(client, invoice, settings):
    settings.SANDBOX = True
    html = client.get(f"/pay/{invoice.access_token}/").content.decode()
    assert f'src="data:image/png;base64,{invoice.qr_image}"' in html
    assert 'href="khanbank://q?qPay_QRcode=' in html and "Хаан банк" in html
    assert f'href="{invoice.short_url}"' in html
    assert f'datetime="{invoice.expires_at.isoformat()}"' in html
    assert f'data-status-url="/api/customer/transactions/{invoice.pk}/status?token={invoice.access_token}"' in html
    assert '<meta http-equiv="refresh"' in html  # inside <noscript>: works with JS off
    assert re.search(r'<form method="get"[^>]*class="pay-refresh"', html)
    assert "payments/pay.js" in html
    assert f"/sandbox/qpay/pay/{invoice.qpay_invoice_id}/?return=%2Fpay%2F{invoice.access_token}%2F" in html


def test_payment_page_in_production_has_no_sandbox_link(client, invoice, settings):
    settings.SANDBOX = False
    assert "/sandbox/qpay/" not in client.get(f"/pay/{invoice.access_token}/").content.decode()


def test_payment_page_when_paid_and_when_delivered(client, bundle, monkeypatch):
    invoice = InvoiceFactory(bundle=bundle, status=Invoice.Status.PAID, paid_amount=19500)
    html = client.get(f"/pay/{invoice.access_token}/").content.decode()
    assert "data:image/png" not in html and 'data-status="PAID"' in html
    monkeypatch.setattr(
        selectors, "order_for", lambda inv: SimpleNamespace(status="DELIVERED", get_absolute_url=lambda: "/esims/xyz/")
    )
    response = client.get(f"/pay/{invoice.access_token}/")
    assert response.status_code == 302 and response["Location"] == "/esims/xyz/"


def test_payment_page_when_expired_offers_to_start_again(client, bundle):
    invoice = InvoiceFactory(bundle=bundle, status=Invoice.Status.EXPIRED)
    html = client.get(f"/pay/{invoice.access_token}/").content.decode()
    assert 'name="action" value="restart"' in html and "data:image/png" not in html
    assert "payments/pay.js" not in html
    assert "Keep this page open" not in html and "хааж болохгүй" not in html
    # "Start again" keeps the phone number and e-mail (issue 13).
    response = client.post(f"/pay/{invoice.access_token}/", {"action": "restart"})
    assert response.status_code == 302 and response["Location"] == f"/checkout/{bundle.name}/"
    checkout = client.get(response["Location"]).content.decode()
    assert f'value="{invoice.customer.phone_number}"' in checkout and f'value="{invoice.customer.email}"' in checkout


def test_payment_page_is_translated(client, invoice):
    client.cookies["django_language"] = "mn"
    mn = client.get(f"/pay/{invoice.access_token}/").content.decode()
    client.cookies["django_language"] = "en"
    en = client.get(f"/pay/{invoice.access_token}/").content.decode()
    assert "Waiting for payment" in en and "Waiting for payment" not in mn


def test_unknown_payment_page_is_404(client, db):
    assert client.get(f"/pay/{uuid.uuid4()}/").status_code == 404


def test_payment_page_stops_offering_the_qr_once_past_expiry(client, bundle, settings, monkeypatch):
    invoice = InvoiceFactory(bundle=bundle, expires_at=timezone.now() - timedelta(seconds=5))
    monkeypatch.setattr("payments.views.request_check", lambda inv: None)  # the expiry task has not run yet
    html = client.get(f"/pay/{invoice.access_token}/").content.decode()
    assert "data:image/png" not in html and "khanbank://" not in html
