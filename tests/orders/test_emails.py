"""Shopper e-mails: sent on commit, plain text + HTML, QR inline, never twice for the same event."""

import threading

import pytest
from django.core import mail
from django.db import connection

from orders import emails, services
from orders.models import EmailLog
from tests.orders.factories import DeliveredOrderFactory, ESimFactory, InvoiceFactory, OrderFactory

pytestmark = pytest.mark.django_db


def test_esim_ready_email_has_text_html_and_inline_qr(bundle, django_capture_on_commit_callbacks):
    esim = ESimFactory(smdp_address="rsp.example-smdp.io", matching_id="K2-ABC-123")
    order = DeliveredOrderFactory(invoice=InvoiceFactory(bundle=bundle, customer=esim.customer), esim=esim)
    with django_capture_on_commit_callbacks(execute=True):
        services.queue_email(order, EmailLog.Kind.ESIM_READY)
    [message] = mail.outbox
    assert message.to == [order.customer.email]
    assert "ready" in message.subject
    lpa = "LPA:1$rsp.example-smdp.io$K2-ABC-123"
    assert lpa in message.body and "K2-ABC-123" in message.body
    assert (
        "https://esimsetup.apple.com/esim_qrcode_provisioning?carddata=LPA%3A1%24rsp.example-smdp.io%24K2-ABC-123"
        in message.body
    )
    assert f"https://shop.example.mn/esims/{order.access_token}/" in message.body
    html, mimetype = message.alternatives[0]
    assert mimetype == "text/html"
    assert 'src="cid:esim-qr"' in html
    raw = message.message().as_string()
    assert "multipart/related" in raw
    assert "Content-ID: <esim-qr>" in raw and "image/png" in raw


def test_same_event_is_claimed_once(bundle, django_capture_on_commit_callbacks):
    order = DeliveredOrderFactory(invoice=InvoiceFactory(bundle=bundle))
    with django_capture_on_commit_callbacks(execute=True):
        first = services.queue_email(order, EmailLog.Kind.ESIM_READY)
        second = services.queue_email(order, EmailLog.Kind.ESIM_READY)
    assert first[1] is True and second[1] is False
    assert len(mail.outbox) == 1
    # Re-running the send task for the same row sends nothing.
    assert emails.send_logged_email(first[0].pk) is False
    assert len(mail.outbox) == 1
    assert EmailLog.objects.get(pk=first[0].pk).status == EmailLog.Status.SENT


def test_failed_send_is_recorded_and_retried_without_duplicates(bundle, settings, monkeypatch):
    order = OrderFactory(invoice=InvoiceFactory(bundle=bundle))
    log, _ = services.queue_email(order, EmailLog.Kind.PAYMENT_RECEIVED)
    calls = []

    def flaky_send(self, fail_silently=False):
        calls.append(1)
        if len(calls) == 1:
            raise ConnectionRefusedError("smtp down")
        mail.outbox.append(self)
        return 1

    monkeypatch.setattr("django.core.mail.EmailMultiAlternatives.send", flaky_send)
    with pytest.raises(emails.EmailSendError):
        emails.send_logged_email(log.pk)
    log.refresh_from_db()
    assert (log.status, log.attempts) == (EmailLog.Status.PENDING, 1)
    assert "smtp down" in log.last_error
    assert emails.send_logged_email(log.pk) is True
    assert emails.send_logged_email(log.pk) is False
    log.refresh_from_db()
    assert (log.status, log.attempts) == (EmailLog.Status.SENT, 2)
    assert len(mail.outbox) == 1


def test_payment_received_email_in_shoppers_language(bundle, django_capture_on_commit_callbacks):
    invoice = InvoiceFactory(bundle=bundle, language="en")
    order = OrderFactory(invoice=invoice)
    with django_capture_on_commit_callbacks(execute=True):
        services.queue_email(order, EmailLog.Kind.PAYMENT_RECEIVED)
    [message] = mail.outbox
    assert "Payment received" in message.subject
    assert "19,500₮" in message.body
    assert message.alternatives and "19,500₮" in message.alternatives[0][0]


def test_payment_received_in_mongolian(bundle, django_capture_on_commit_callbacks):
    order = OrderFactory(invoice=InvoiceFactory(bundle=bundle, language="mn"), language="mn")
    with django_capture_on_commit_callbacks(execute=True):
        services.queue_email(order, EmailLog.Kind.PAYMENT_RECEIVED)
    [message] = mail.outbox
    assert "Payment received" not in message.subject
    assert any("\u0400" <= ch <= "\u04ff" for ch in message.subject)  # Cyrillic


def test_no_address_means_skipped_not_failed(bundle):
    order = OrderFactory(invoice=InvoiceFactory(bundle=bundle))
    order.customer.email = ""
    order.customer.save()
    log, created = services.queue_email(order, EmailLog.Kind.PAYMENT_RECEIVED)
    assert created and log.status == EmailLog.Status.SKIPPED
    assert mail.outbox == []


@pytest.mark.django_db(transaction=True)
def test_two_workers_sending_the_same_email_send_it_once(bundle):
    order = OrderFactory(invoice=InvoiceFactory(bundle=bundle))
    log = EmailLog.objects.create(order=order, kind=EmailLog.Kind.PAYMENT_RECEIVED, to=order.customer.email)
    results = []
    barrier = threading.Barrier(2)

    def worker():
        barrier.wait()
        try:
            results.append(emails.send_logged_email(log.pk))
        except Exception as exc:  # noqa: BLE001
            results.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(20)
    assert len(mail.outbox) == 1
    assert results.count(True) == 1
