"""POST /api/customer/transactions/purchase: the seed-000 contract."""

import contextlib
import json
import re
import threading
import uuid

import pytest
import requests
import responses
from django.db import connection
from django.test import Client

from payments import expiry, inbox, purchase
from payments.models import Customer, Invoice, InvoiceTransition
from tests.payments.conftest import ESIMGO_ORDERS, esimgo_validate_body
from tests.payments.qpay_mocks import BASE, add_invoice_create, add_token, calls_to, invoice_created_body

URL = "/api/customer/transactions/purchase"


def body(**overrides):
    data = {
        "phoneNumber": "99112233",
        "email": "Customer@Example.com",
        "amount": 19500,
        "packageCode": "esim_1GB_7D_JP_V2",
        "description": "Travel eSIM 1GB",
    }
    data.update(overrides)
    return {k: v for k, v in data.items() if v is not None}


def post(client, data):
    return client.post(URL, data=json.dumps(data), content_type="application/json")


@pytest.fixture
def qpay_ok(esimgo_valid):
    add_token(esimgo_valid)
    esimgo_valid.created = add_invoice_create(esimgo_valid)
    return esimgo_valid


def test_201_with_the_seed_fields_and_the_invoice_stored(client, bundle, qpay_ok):
    response = post(client, body())

    assert response.status_code == 201
    data = response.json()
    invoice = Invoice.objects.get()
    customer = Customer.objects.get()
    created = qpay_ok.created[0]
    assert data["invoice_id"] == created["invoice_id"] == invoice.qpay_invoice_id
    assert data["qr_image"] == created["qr_image"] and not data["qr_image"].startswith("data:")
    assert data["qr_link"] == created["qPay_shortUrl"]
    assert data["customerId"] == str(customer.pk)
    assert data["internalInvoiceId"] == str(invoice.pk)
    assert data["bankLinks"] == created["urls"] and data["shortUrl"] == created["qPay_shortUrl"]
    assert data["amount"] == 19500 and data["expiresAt"] == invoice.expires_at.isoformat()
    assert data["statusUrl"].endswith(f"/api/customer/transactions/{invoice.pk}/status?token={invoice.access_token}")
    assert data["paymentUrl"].endswith(f"/pay/{invoice.access_token}/")

    # Stored at creation: QPay cannot give QR, links or short URL again.
    assert invoice.qr_text == created["qr_text"] and invoice.qr_image == created["qr_image"]
    assert invoice.bank_urls == created["urls"] and invoice.short_url == created["qPay_shortUrl"]
    assert invoice.status == Invoice.Status.PENDING and invoice.amount_mnt == 19500
    assert (customer.phone_number, customer.email) == ("99112233", "customer@example.com")
    # The reference QPay shows (portal, statements) opens nothing: not the id, not the access token.
    assert re.fullmatch(r"ESIM[0-9A-F]{32}", invoice.sender_invoice_no)
    assert invoice.pk.hex.upper() not in invoice.sender_invoice_no
    assert invoice.access_token not in invoice.sender_invoice_no and len(invoice.access_token) >= 40
    assert list(InvoiceTransition.objects.values_list("name", "to_status")) == [("open", "PENDING")]


def test_a_cookieless_api_client_gets_no_session(client, bundle, qpay_ok, settings):
    """It would never send the cookie back: a session would only be a database row per purchase."""
    from django.contrib.sessions.models import Session

    response = post(client, body())
    assert response.status_code == 201
    assert settings.SESSION_COOKIE_NAME not in response.cookies and not Session.objects.exists()


def test_a_browser_purchase_is_remembered_for_my_esims(client, bundle, qpay_ok, settings):
    client.cookies[settings.CSRF_COOKIE_NAME] = "x" * 32  # a browser that has seen a shop page
    invoice_id = post(client, body()).json()["internalInvoiceId"]
    assert client.session["invoice_ids"] == [invoice_id]


def test_a_purchase_sends_one_task_that_schedules_the_checks(
    client, bundle, qpay_ok, monkeypatch, django_capture_on_commit_callbacks
):
    """One broker message on the request path, after commit; the worker enqueues the five ETA tasks."""
    from esimshop.celery import app
    from payments.tasks import (
        check_invoice_payment_task,
        expire_invoice_task,
        schedule_payment_checks_task,
    )

    app.conf.task_always_eager = False  # a broker exists (the autouse provider fixture turns eager back on per test)
    sent = []
    monkeypatch.setattr(schedule_payment_checks_task, "delay", lambda *args: sent.append(("schedule", args)))
    for task in (check_invoice_payment_task, expire_invoice_task):
        monkeypatch.setattr(task, "apply_async", lambda args=None, task=task, **kw: sent.append((task.name, kw["eta"])))
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        invoice_id = post(client, body()).json()["internalInvoiceId"]
    assert sent == []  # nothing before commit
    for callback in callbacks:
        callback()
    assert sent == [("schedule", (invoice_id,))]
    assert schedule_payment_checks_task.run(invoice_id) == 5
    invoice = Invoice.objects.get(pk=invoice_id)
    assert [name for name, _ in sent[1:]] == ["payments.check_invoice_payment"] * 4 + ["payments.expire_invoice"]
    assert sent[-1][1] == invoice.expires_at


def test_an_invoice_retired_while_qpay_was_slow_is_not_handed_out(
    client, bundle, esimgo_valid, monkeypatch, django_capture_on_commit_callbacks
):
    """The stale-row sweep cancelled our row while QPay was creating the invoice: 409, the row
    stays CANCELLED without QPay's QR, and the QPay invoice nobody will see is cancelled too."""
    from payments.tasks import cancel_qpay_invoice_task

    add_token(esimgo_valid)
    created = []

    def slow_qpay(request):
        invoice = Invoice.objects.get()
        expiry.cancel_invoice(invoice.pk, cause="abandoned while being created", actor="sweep")
        created.append(invoice_created_body())
        return 200, {}, json.dumps(created[-1])

    esimgo_valid.add_callback(responses.POST, f"{BASE}/invoice", callback=slow_qpay)
    cancelled = []
    monkeypatch.setattr(cancel_qpay_invoice_task, "delay", cancelled.append)
    with django_capture_on_commit_callbacks(execute=True):
        response = post(client, body())
    assert response.status_code == 409
    invoice = Invoice.objects.get()
    assert invoice.status == Invoice.Status.CANCELLED and not invoice.qpay_invoice_id and not invoice.qr_text
    assert cancelled == [created[0]["invoice_id"]]


def test_qpay_invoice_payload(client, bundle, qpay_ok):
    post(client, body())
    invoice = Invoice.objects.get()
    sent = json.loads(calls_to(qpay_ok, "/invoice", "POST")[0].request.body)
    callback = sent.pop("callback_url")
    assert callback == (
        f"https://shop.example.mn/payments/qpay/callback/{invoice.pk}/?token={inbox.callback_token(invoice.pk)}"
    )
    assert sent == {
        "invoice_code": "TEST_INVOICE",
        "sender_invoice_no": invoice.sender_invoice_no,
        "invoice_receiver_code": "terminal",
        "invoice_description": "Travel eSIM 1GB",
        "amount": 19500,
        "lines": [
            {
                "sender_product_code": "esim_1GB_7D_JP_V2",
                "line_description": "Travel eSIM 1GB",
                "line_quantity": 1,
                "line_unit_price": 19500,
            }
        ],
    }
    validate = json.loads(calls_to(qpay_ok, "/orders", "POST")[0].request.body)
    assert validate["type"] == "validate" and validate["order"][0]["item"] == "esim_1GB_7D_JP_V2"


def test_same_customer_is_found_not_duplicated(client, bundle, qpay_ok, django_capture_on_commit_callbacks):
    post(client, body())
    Invoice.objects.update(status=Invoice.Status.PAID)
    add_invoice_create(qpay_ok)
    second = post(client, body(email="customer@example.com"))
    assert second.status_code == 201
    assert Customer.objects.count() == 1 and Invoice.objects.count() == 2
    third = post(client, body(email="someone.else@example.com"))
    assert third.status_code == 201 and Customer.objects.count() == 2  # the (phone, e-mail) pair identifies


@pytest.mark.parametrize("field", ["phoneNumber", "email", "amount", "packageCode"])
def test_missing_field_is_a_400_on_that_field(client, bundle, mocked_responses, field):
    response = post(client, body(**{field: None}))
    assert response.status_code == 400
    assert set(response.json()["errors"]) == {field}
    assert len(mocked_responses.calls) == 0 and Invoice.objects.count() == 0


@pytest.mark.parametrize("phone", ["9911223", "991122334", "9911-22a3", "", "+1 202 555 0100"])
def test_phone_must_be_8_digits(client, bundle, mocked_responses, phone):
    response = post(client, body(phoneNumber=phone))
    assert response.status_code == 400 and list(response.json()["errors"]) == ["phoneNumber"]


def test_phone_formatting_and_country_code_are_accepted(client, bundle, qpay_ok):
    assert post(client, body(phoneNumber="+976 9911-2233")).status_code == 201
    assert Customer.objects.get().phone_number == "99112233"


@pytest.mark.parametrize("email", ["not-an-email", "a@", "@example.com", "a b@example.com"])
def test_bad_email(client, bundle, mocked_responses, email):
    response = post(client, body(email=email))
    assert response.status_code == 400 and list(response.json()["errors"]) == ["email"]


def test_unknown_package(client, bundle, mocked_responses):
    response = post(client, body(packageCode="esim_nope"))
    assert response.status_code == 400
    assert list(response.json()["errors"]) == ["packageCode"]


def test_unavailable_package(client, bundle, mocked_responses):
    bundle.is_available = False
    bundle.save()
    response = post(client, body())
    assert response.status_code == 400 and list(response.json()["errors"]) == ["packageCode"]


def test_a_package_priced_at_zero_is_not_for_sale(client, bundle, mocked_responses):
    bundle.computed_price_mnt = 0
    bundle.save()
    response = post(client, body(amount=1))  # (an amount of 0 is refused by the API itself)
    assert response.status_code == 400 and list(response.json()["errors"]) == ["packageCode"]
    assert Invoice.objects.count() == 0


@pytest.mark.parametrize("amount", [19400, 19501, 0, -19500, 19500.5, "abc", True, None])
def test_amount_must_equal_the_current_retail_price(client, bundle, mocked_responses, amount):
    response = post(client, body(amount=amount))
    assert response.status_code == 400 and list(response.json()["errors"]) == ["amount"]
    assert Invoice.objects.count() == 0 and calls_to(mocked_responses, "/invoice") == []


def test_price_override_is_the_price(client, bundle, qpay_ok):
    bundle.price_override_mnt = 21000
    bundle.save()
    assert post(client, body()).status_code == 400
    assert post(client, body(amount=21000)).status_code == 201


def test_amount_as_a_whole_number_in_any_json_form(client, bundle, qpay_ok):
    assert post(client, body(amount=19500.0)).status_code == 201


def test_invalid_json_is_a_400(client, bundle):
    response = client.post(URL, data="{not json", content_type="application/json")
    assert response.status_code == 400
    response = client.post(URL, data=json.dumps([1, 2]), content_type="application/json")
    assert response.status_code == 400


def test_esimgo_refusal_is_a_400_on_package_and_no_qpay_invoice(client, bundle, mocked_responses):
    mocked_responses.add(responses.POST, ESIMGO_ORDERS, json=esimgo_validate_body(valid=False))
    response = post(client, body())
    assert response.status_code == 400 and list(response.json()["errors"]) == ["packageCode"]
    mocked_responses.replace(responses.POST, ESIMGO_ORDERS, status=400, json={"message": "incorrect data"})
    response = post(client, body())
    assert response.status_code == 400 and list(response.json()["errors"]) == ["packageCode"]
    assert calls_to(mocked_responses, "/invoice") == [] and Invoice.objects.count() == 0


@pytest.mark.parametrize(
    "message, status, field",
    [
        # eSIM Go's 403 for a bundle the organisation cannot buy: the shopper hears "cannot be bought".
        ("no Bundles left", 400, "packageCode"),
        # 403 "access denied" is our key: the shopper hears "provider not reachable, try again".
        ("access denied", 503, None),
    ],
)
def test_esimgo_403_tells_the_shopper_the_right_thing(client, bundle, mocked_responses, message, status, field):
    mocked_responses.add(responses.POST, ESIMGO_ORDERS, status=403, json={"message": message})
    response = post(client, body())
    assert response.status_code == status
    if field:
        assert list(response.json()["errors"]) == [field]
    assert calls_to(mocked_responses, "/invoice") == [] and Invoice.objects.count() == 0


def test_esimgo_price_moved_beyond_tolerance_is_refused(client, bundle, mocked_responses, settings):
    settings.ESIMGO_PRICE_TOLERANCE_PERCENT = 10
    mocked_responses.add(responses.POST, ESIMGO_ORDERS, json=esimgo_validate_body(total=5.0))  # +11 %
    response = post(client, body())
    assert response.status_code == 400 and list(response.json()["errors"]) == ["packageCode"]
    assert calls_to(mocked_responses, "/invoice") == []


def test_esimgo_price_within_tolerance_is_fine(client, bundle, esimgo_valid):
    esimgo_valid.replace(responses.POST, ESIMGO_ORDERS, json=esimgo_validate_body(total="4.90"))  # +8.9 %
    add_token(esimgo_valid)
    add_invoice_create(esimgo_valid)
    assert post(client, body()).status_code == 201


def test_esimgo_down_is_a_503_and_no_qpay_invoice(client, bundle, mocked_responses):
    mocked_responses.add(responses.POST, ESIMGO_ORDERS, status=503, json={"message": "Processing"})
    response = post(client, body())
    assert response.status_code == 503 and "error" in response.json()
    assert calls_to(mocked_responses, "/invoice") == [] and Invoice.objects.count() == 0


@pytest.mark.parametrize(
    "failure",
    [
        {"status": 503, "json": {"error": "SERVICE_UNAVAILABLE"}},
        {"body": requests.ReadTimeout()},
        {"body": requests.ConnectionError("Failed to establish a new connection")},
        {"status": 400, "json": {"error": "INVOICE_CODE_INVALID", "message": "bad code"}},
    ],
)
def test_qpay_unreachable_is_a_503_and_leaves_nothing_payable(client, bundle, esimgo_valid, failure):
    add_token(esimgo_valid)
    esimgo_valid.add(responses.POST, f"{BASE}/invoice", **failure)

    response = post(client, body())

    assert response.status_code == 503
    assert response.json()["error"]
    invoice = Invoice.objects.get()
    assert invoice.status == Invoice.Status.CANCELLED and not invoice.is_payable
    assert invoice.qpay_invoice_id is None
    assert invoice.transitions.last().name == "cancel"
    assert "QPay invoice creation failed" in invoice.transitions.last().cause


def test_qpay_auth_failure_is_a_503(client, bundle, esimgo_valid):
    esimgo_valid.add(responses.POST, f"{BASE}/auth/token", status=401, json={"error": "AUTHENTICATION_FAILED"})
    assert post(client, body()).status_code == 503


def test_after_a_qpay_failure_the_shopper_can_retry(client, bundle, esimgo_valid):
    add_token(esimgo_valid)
    esimgo_valid.add(responses.POST, f"{BASE}/invoice", status=503, json={})
    assert post(client, body()).status_code == 503
    add_invoice_create(esimgo_valid)
    assert post(client, body()).status_code == 201
    assert Invoice.objects.filter(status=Invoice.Status.PENDING).count() == 1


def post_with_key(client, data, key):
    return client.post(URL, data=json.dumps(data), content_type="application/json", HTTP_IDEMPOTENCY_KEY=key)


def test_two_callers_with_the_same_phone_email_and_plan_get_two_invoices(bundle, qpay_ok):
    """Issue 9: the second caller is never handed (nor able to cancel) the first shopper's invoice."""
    first = post(Client(), body())
    second = post(Client(), body(email="customer@example.com"))  # case-folded: the same customer
    assert first.status_code == second.status_code == 201
    assert first.json()["internalInvoiceId"] != second.json()["internalInvoiceId"]
    assert first.json()["paymentUrl"] != second.json()["paymentUrl"]
    assert Invoice.objects.filter(status=Invoice.Status.PENDING).count() == 2  # nobody cancelled the first
    assert len(calls_to(qpay_ok, "/invoice", "POST")) == 2


def test_the_same_idempotency_key_gets_the_same_invoice(client, bundle, qpay_ok):
    key = str(uuid.uuid4())
    first = post_with_key(client, body(), key)
    second = post_with_key(Client(), body(), key)
    assert first.status_code == second.status_code == 201
    assert first.json() == second.json()
    assert Invoice.objects.count() == 1 and len(calls_to(qpay_ok, "/invoice", "POST")) == 1


def test_a_replay_of_a_key_whose_purchase_failed_is_the_same_503_not_a_201_without_a_qr(client, bundle, esimgo_valid):
    """A client that lost the 503 and sends the same Idempotency-Key again gets the same answer."""
    add_token(esimgo_valid)
    esimgo_valid.add(responses.POST, f"{BASE}/invoice", status=400, json={"error": "INVOICE_CODE_INVALID"})
    key = str(uuid.uuid4())
    assert post_with_key(client, body(), key).status_code == 503
    replay = post_with_key(Client(), body(), key)
    assert replay.status_code == 503 and replay.json()["error"]
    assert Invoice.objects.count() == 1 and Invoice.objects.get().status == Invoice.Status.CANCELLED


def test_a_reused_idempotency_key_with_another_body_is_422(client, bundle, qpay_ok):
    key = str(uuid.uuid4())
    assert post_with_key(client, body(), key).status_code == 201
    response = post_with_key(client, body(phoneNumber="88112233"), key)
    assert response.status_code == 422 and "Idempotency-Key" in response.json()["error"]
    assert Invoice.objects.count() == 1


@pytest.mark.parametrize("key", ["short", "x" * 256, "спасибо-спасибо-спасибо"])
def test_a_malformed_idempotency_key_is_400_naming_the_header(client, bundle, qpay_ok, key):
    response = client.post(
        URL, data=json.dumps(body()), content_type="application/json", headers={"Idempotency-Key": key}
    )
    assert response.status_code == 400 and "Idempotency-Key" in response.json()["errors"]
    assert not Invoice.objects.exists()


def test_the_schema_documents_the_idempotency_key(client):
    schema = client.get("/api/schema/", headers={"Accept": "application/json"}).content.decode()
    assert "Idempotency-Key" in schema and "every call creates a new invoice" in schema


def test_a_sessions_invoice_about_to_expire_is_superseded(bundle, qpay_ok, django_capture_on_commit_callbacks):
    from datetime import timedelta

    from django.utils import timezone

    owner = purchase.PurchaseOwner(key="s:" + "a" * 64)
    first = purchase.start_purchase(
        phone_number="99112233", email="a@example.mn", bundle=bundle, amount_mnt=19500, owner=owner
    )
    assert (
        purchase.start_purchase(
            phone_number="99112233", email="a@example.mn", bundle=bundle, amount_mnt=19500, owner=owner
        ).pk
        == first.pk
    )  # a double click
    Invoice.objects.update(expires_at=timezone.now() + timedelta(minutes=1))
    qpay_ok.add(responses.DELETE, f"{BASE}/invoice/{first.qpay_invoice_id}", json={})
    with django_capture_on_commit_callbacks(execute=True):
        second = purchase.start_purchase(
            phone_number="99112233", email="a@example.mn", bundle=bundle, amount_mnt=19500, owner=owner
        )
    assert second.pk != first.pk
    first.refresh_from_db()
    assert first.status == Invoice.Status.CANCELLED and first.transitions.last().cause == "superseded by a new purchase"
    assert len(calls_to(qpay_ok, f"/invoice/{first.qpay_invoice_id}", "DELETE")) == 1  # cancelled at QPay too


@pytest.mark.django_db(transaction=True)
def test_concurrent_submits_with_one_idempotency_key_make_one_invoice(bundle, qpay_ok):
    """A double click / retry storm with one key: the partial unique constraint decides, not memory."""
    barrier = threading.Barrier(4)
    results = []
    key = str(uuid.uuid4())
    # SQLite's shared in-memory test DB answers "table is locked" instead of waiting: one at a time there.
    turn = threading.Lock() if connection.vendor == "sqlite" else contextlib.nullcontext()

    def submit():
        try:
            barrier.wait(5)
            with turn:
                results.append(post_with_key(Client(), body(), key).json())
        finally:
            connection.close()

    threads = [threading.Thread(target=submit) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert len({r["internalInvoiceId"] for r in results}) == 1, results
    assert Invoice.objects.count() == 1
    assert len(calls_to(qpay_ok, "/invoice", "POST")) == 1


def test_start_purchase_contract_for_topups(bundle, qpay_ok):
    invoice = purchase.start_purchase(
        phone_number="99112233",
        email="a@example.mn",
        bundle=bundle,
        amount_mnt=19500,
        topup_iccid="8944500000000000001",
    )
    assert invoice.topup_iccid == "8944500000000000001" and invoice.is_payable
    validate = json.loads(calls_to(qpay_ok, "/orders", "POST")[0].request.body)
    assert validate["order"][0]["iccids"] == ["8944500000000000001"]
    with pytest.raises(purchase.InvalidPurchase) as exc:
        purchase.start_purchase(phone_number="99112233", email="a@example.mn", bundle=bundle, amount_mnt=1)
    assert exc.value.field == "amount"
    assert uuid.UUID(str(invoice.pk)).version == 4
