"""QPay callback: token, raw inbox, idempotency, verification by OUR QPay invoice id."""

import pytest
import responses
from django.core import mail

from payments import inbox, verification
from payments.models import Invoice, InvoiceTransition, Payment, QPayCallback
from payments.tasks import check_invoice_payment_task
from tests.payments.factories import InvoiceFactory
from tests.payments.qpay_mocks import BASE, add_check, add_token, calls_to, check_requests, paid_row


def callback_url(invoice, token=None, **params):
    token = inbox.callback_token(invoice.pk) if token is None else token
    query = "&".join(f"{k}={v}" for k, v in {"token": token, **params}.items() if v is not None)
    return f"/payments/qpay/callback/{invoice.pk}/?{query}"


@pytest.fixture
def invoice(bundle):
    return InvoiceFactory(bundle=bundle)


@pytest.fixture
def qpay(mocked_responses):
    add_token(mocked_responses)
    return mocked_responses


@pytest.mark.parametrize("token", ["", "0" * 64, "wrong"])
def test_wrong_or_missing_token_is_a_404_and_nothing_happens(client, invoice, qpay, token, caplog):
    response = client.get(callback_url(invoice, token=token, qpay_payment_id="1"))
    assert response.status_code == 404
    assert QPayCallback.objects.count() == 0
    assert len(qpay.calls) == 0
    assert any("wrong token" in r.getMessage() for r in caplog.records)
    assert inbox.callback_token(invoice.pk) not in caplog.text


def test_token_of_another_invoice_is_rejected(client, bundle, qpay):
    a, b = InvoiceFactory(bundle=bundle), InvoiceFactory()
    url = f"/payments/qpay/callback/{a.pk}/?token={inbox.callback_token(b.pk)}"
    assert client.get(url).status_code == 404
    assert QPayCallback.objects.count() == 0


def test_paid_callback_marks_paid_once_and_hands_over_to_orders(
    client, invoice, qpay, paid_handler, django_capture_on_commit_callbacks
):
    row = paid_row("19500.00", payment_id="493622150113497")
    add_check(qpay, row)

    with django_capture_on_commit_callbacks(execute=True):
        response = client.get(callback_url(invoice, qpay_payment_id="493622150113497"))

    assert response.status_code == 200
    assert response.content == b"SUCCESS" and response["Content-Type"].startswith("text/plain")
    invoice.refresh_from_db()
    assert invoice.status == Invoice.Status.PAID
    assert invoice.paid_amount == 19500 and invoice.paid_at is not None
    assert paid_handler.calls == [(invoice.pk, "callback")]
    assert paid_handler.enqueued == [invoice.pk]
    transition = invoice.transitions.get(name="mark_paid")
    assert (transition.from_status, transition.to_status, transition.actor) == ("PENDING", "PAID", "callback")
    callback = QPayCallback.objects.get()
    assert callback.outcome == "PAID" and callback.qpay_payment_id == "493622150113497"
    assert "token" not in callback.query_string and callback.query_string == "qpay_payment_id=493622150113497"
    payment = Payment.objects.get()
    assert (payment.qpay_payment_id, payment.status, payment.amount) == ("493622150113497", "PAID", 19500)
    # Verified by OUR stored QPay invoice id, never by the payment id from the URL.
    assert check_requests(qpay) == [
        {
            "object_type": "INVOICE",
            "object_id": invoice.qpay_invoice_id,
            "offset": {"page_number": 1, "page_limit": 100},
        }
    ]


def test_duplicate_callback_replies_at_once_without_asking_qpay(client, invoice, qpay, paid_handler):
    row = paid_row("19500.00", payment_id="111")
    add_check(qpay, row)
    client.get(callback_url(invoice, qpay_payment_id="111"))
    client.get(callback_url(invoice, qpay_payment_id="111"))
    response = client.get(callback_url(invoice, qpay_payment_id="111"))

    assert response.content == b"SUCCESS" and response["X-Callback-Outcome"] == "DUPLICATE"
    assert len(check_requests(qpay)) == 1  # idempotency first: no second QPay call
    assert len(paid_handler.calls) == 1
    assert list(QPayCallback.objects.order_by("received_at").values_list("outcome", flat=True)) == [
        "PAID",
        "DUPLICATE",
        "DUPLICATE",
    ]
    assert InvoiceTransition.objects.filter(name="mark_paid").count() == 1


def test_post_is_accepted_and_its_body_ignored(client, invoice, qpay, paid_handler):
    add_check(qpay)  # QPay: nothing paid
    response = client.post(
        callback_url(invoice, qpay_payment_id="1"),
        data={"payment_status": "PAID", "payment_amount": 19500},
        content_type="application/json",
    )
    assert response.status_code == 200 and response.content == b"SUCCESS"
    invoice.refresh_from_db()
    assert invoice.status == Invoice.Status.PENDING  # the body said PAID; QPay did not
    callback = QPayCallback.objects.get()
    assert callback.method == "POST" and "PAID" in callback.body and callback.outcome == "NOT_PAID"


def test_forged_callback_for_an_unpaid_invoice_stays_pending(client, invoice, qpay, paid_handler):
    add_check(qpay, paid_row("19500.00", status="NEW"))
    response = client.get(callback_url(invoice, qpay_payment_id="999999999999999"))
    assert response.status_code == 200 and response["X-Callback-Outcome"] == "NOT_PAID"
    invoice.refresh_from_db()
    assert invoice.status == Invoice.Status.PENDING and paid_handler.calls == []


def test_refunded_rows_are_not_money_in(client, invoice, qpay, paid_handler):
    add_check(qpay, paid_row("19500.00", status="REFUNDED"))
    client.get(callback_url(invoice, qpay_payment_id="1"))
    invoice.refresh_from_db()
    assert invoice.status == Invoice.Status.PENDING and QPayCallback.objects.get().outcome == "NOT_PAID"


def test_short_payment_is_amount_mismatch_and_flagged(
    client, invoice, qpay, paid_handler, django_capture_on_commit_callbacks
):
    add_check(qpay, paid_row("9750.00"))
    with django_capture_on_commit_callbacks(execute=True):
        response = client.get(callback_url(invoice, qpay_payment_id="1"))
    assert response.content == b"SUCCESS" and response["X-Callback-Outcome"] == "AMOUNT_MISMATCH"
    invoice.refresh_from_db()
    assert invoice.status == Invoice.Status.PENDING and paid_handler.calls == []
    assert invoice.needs_staff_attention and "short payment" in invoice.staff_attention_reason
    assert len(mail.outbox) == 1 and mail.outbox[0].to == ["staff@example.mn"]


def test_within_one_tugrik_counts_as_paid(client, invoice, qpay, paid_handler):
    add_check(qpay, paid_row(f"{invoice.amount_mnt - 1}.00"))
    client.get(callback_url(invoice, qpay_payment_id="1"))
    invoice.refresh_from_db()
    assert invoice.status == Invoice.Status.PAID


def test_two_payments_that_together_cover_the_invoice(client, invoice, qpay, paid_handler):
    add_check(qpay, paid_row("9750.00", payment_id="a"), paid_row(9750, payment_id="b"))
    client.get(callback_url(invoice, qpay_payment_id="b"))
    invoice.refresh_from_db()
    assert invoice.status == Invoice.Status.PAID and invoice.paid_amount == 19500


def test_qpay_down_is_verify_failed_then_recovered_by_the_retry_task(client, invoice, qpay, paid_handler, monkeypatch):
    monkeypatch.setattr("integrations.qpay.client.time.sleep", lambda s: None)
    add_check(qpay, status=503, body={"error": "SERVICE_UNAVAILABLE", "message": "down"})
    response = client.get(callback_url(invoice, qpay_payment_id="1"))

    assert response.status_code == 200 and response.content == b"SUCCESS"
    assert response["X-Callback-Outcome"] == "VERIFY_FAILED"
    assert len(check_requests(qpay)) == 1  # no retries inside QPay's own request
    invoice.refresh_from_db()
    assert invoice.status == Invoice.Status.PENDING  # never treated as unpaid-and-final
    assert QPayCallback.objects.get().outcome == "VERIFY_FAILED"

    qpay.replace(
        responses.POST, f"{BASE}/payment/check", json={"count": 1, "paid_amount": 19500, "rows": [paid_row("19500.00")]}
    )
    assert check_invoice_payment_task.apply(args=[str(invoice.pk)]).get() == "PAID"
    invoice.refresh_from_db()
    assert invoice.status == Invoice.Status.PAID
    assert invoice.transitions.get(name="mark_paid").actor == "task"
    assert len(paid_handler.calls) == 1


def test_verify_failed_schedules_a_retry_when_a_broker_exists(
    client, invoice, qpay, monkeypatch, django_capture_on_commit_callbacks
):
    from esimshop.celery import app

    app.conf.task_always_eager = False  # a broker exists (the autouse conftest fixture resets it)
    monkeypatch.setattr("integrations.qpay.client.time.sleep", lambda s: None)
    sent = []
    monkeypatch.setattr(check_invoice_payment_task, "apply_async", lambda **kw: sent.append(kw))
    add_check(qpay, status=502, body={})
    with django_capture_on_commit_callbacks(execute=True):
        client.get(callback_url(invoice, qpay_payment_id="1"))
    assert len(sent) == 1 and sent[0]["countdown"] == 60 and sent[0]["args"] == [str(invoice.pk)]


def test_internal_error_still_replies_success_and_is_recorded(client, invoice, qpay, monkeypatch):
    def broken(invoice, actor):
        raise RuntimeError("orders exploded")

    monkeypatch.setattr("orders.services.handle_invoice_paid", broken)
    add_check(qpay, paid_row("19500.00"))
    response = client.get(callback_url(invoice, qpay_payment_id="1"))
    assert response.status_code == 200 and response.content == b"SUCCESS"
    invoice.refresh_from_db()
    assert invoice.status == Invoice.Status.PENDING  # rolled back together; the retry schedule will redo it
    callback = QPayCallback.objects.get()
    assert callback.outcome == "VERIFY_FAILED" and "RuntimeError" in callback.detail


def test_payment_after_cancel_is_flagged_for_staff(
    client, bundle, qpay, paid_handler, django_capture_on_commit_callbacks
):
    invoice = InvoiceFactory(bundle=bundle, status=Invoice.Status.EXPIRED)
    add_check(qpay, paid_row("19500.00"))
    with django_capture_on_commit_callbacks(execute=True):
        response = client.get(callback_url(invoice, qpay_payment_id="1"))
    assert response.content == b"SUCCESS" and response["X-Callback-Outcome"] == "LATE_PAYMENT"
    invoice.refresh_from_db()
    assert invoice.status == Invoice.Status.EXPIRED and paid_handler.calls == []
    assert invoice.needs_staff_attention and "after the invoice was EXPIRED" in invoice.staff_attention_reason
    assert InvoiceTransition.objects.filter(invoice=invoice, name="flag_for_staff").count() == 1
    assert len(mail.outbox) == 1 and invoice.sender_invoice_no in mail.outbox[0].subject

    # A repeat of the same callback does not e-mail staff again.
    with django_capture_on_commit_callbacks(execute=True):
        client.get(callback_url(invoice, qpay_payment_id="1"))
    assert len(mail.outbox) == 1

    # Staff accept it: the eSIM is delivered after all.
    verification.accept_late_payment(invoice.pk, actor="staff:alice")
    invoice.refresh_from_db()
    assert invoice.status == Invoice.Status.PAID and paid_handler.calls == [(invoice.pk, "staff:alice")]


def test_paying_twice_is_noticed(client, invoice, qpay, paid_handler, django_capture_on_commit_callbacks):
    first = paid_row("19500.00", payment_id="first")
    add_check(qpay, first)
    client.get(callback_url(invoice, qpay_payment_id="first"))
    qpay.replace(
        responses.POST,
        f"{BASE}/payment/check",
        json={"count": 2, "paid_amount": 39000, "rows": [first, paid_row("19500.00", payment_id="second")]},
    )
    with django_capture_on_commit_callbacks(execute=True):
        response = client.get(callback_url(invoice, qpay_payment_id="second"))
    assert response["X-Callback-Outcome"] == "DUPLICATE"
    invoice.refresh_from_db()
    assert invoice.needs_staff_attention and "paid more than once" in invoice.staff_attention_reason
    assert Payment.objects.filter(invoice=invoice).count() == 2
    assert len(paid_handler.calls) == 1 and len(mail.outbox) == 1


def test_unknown_invoice_with_a_valid_looking_url_is_404(client, db, qpay):
    import uuid

    missing = uuid.uuid4()
    response = client.get(f"/payments/qpay/callback/{missing}/?token={inbox.callback_token(missing)}")
    assert response.status_code == 404 and QPayCallback.objects.count() == 0


def test_other_methods_are_refused(client, invoice):
    assert client.put(callback_url(invoice)).status_code == 405


def test_invoice_never_created_at_qpay_is_not_paid(client, bundle, qpay):
    invoice = InvoiceFactory(bundle=bundle, qpay_invoice_id=None, status=Invoice.Status.CANCELLED)
    response = client.get(callback_url(invoice, qpay_payment_id="1"))
    assert response["X-Callback-Outcome"] == "NOT_PAID" and calls_to(qpay, "/payment/check") == []
