"""Payment-check retries, expiry, and the sweep (Celery tasks calling the services)."""

from datetime import timedelta

import pytest
import responses
from django.core import mail
from django.utils import timezone

from esimshop.celery import app
from payments import expiry, purchase, schedules
from payments.models import Invoice, InvoiceTransition
from payments.tasks import (
    check_invoice_payment_task,
    expire_invoice_task,
    sweep_pending_invoices_task,
)
from tests.payments.factories import CustomerFactory, InvoiceFactory
from tests.payments.qpay_mocks import BASE, add_check, add_token, calls_to, check_requests, paid_row


@pytest.fixture
def qpay(mocked_responses, monkeypatch):
    monkeypatch.setattr("integrations.qpay.client.time.sleep", lambda s: None)
    add_token(mocked_responses)
    return mocked_responses


@pytest.fixture
def broker(monkeypatch):
    """A broker exists (tasks are sent, not run); records what is sent."""
    app.conf.task_always_eager = False
    sent = []
    for task in (check_invoice_payment_task, expire_invoice_task):
        monkeypatch.setattr(
            task,
            "apply_async",
            lambda args=None, kwargs=None, task=task, **options: sent.append((task, args, kwargs or {}, options)),
        )
        monkeypatch.setattr(
            task, "delay", lambda *args, task=task, **kwargs: sent.append((task, list(args), kwargs, {}))
        )
    return sent


def test_check_plan_is_bounded_with_backoff_and_a_pre_expiry_check():
    created = timezone.now()
    plan = schedules.payment_check_plan(created, created + timedelta(minutes=30))
    offsets = [(round((eta - created).total_seconds()), kind) for eta, kind in plan]
    assert offsets == [(60, "check"), (180, "check"), (600, "check"), (1740, "check"), (1800, "expire")]
    long_plan = schedules.payment_check_plan(created, created + timedelta(minutes=60))
    assert [round((eta - created).total_seconds()) for eta, _ in long_plan] == [60, 180, 600, 1800, 3540, 3600]


def test_creating_an_invoice_schedules_the_checks(bundle, broker):
    invoice = InvoiceFactory(bundle=bundle)
    assert expiry.schedule_payment_checks(invoice.pk) == 5
    kinds = [(task.name, options["eta"]) for task, *_rest, options in broker]
    assert [name for name, _ in kinds] == ["payments.check_invoice_payment"] * 4 + ["payments.expire_invoice"]
    assert kinds[-1][1] == invoice.expires_at
    assert all(args == [str(invoice.pk)] for _, args, _, _ in broker)


def test_without_a_broker_nothing_is_scheduled_for_later(bundle, qpay):
    invoice = InvoiceFactory(bundle=bundle)
    assert expiry.schedule_payment_checks(invoice.pk) == 0  # eager would run ETA tasks immediately
    assert len(qpay.calls) == 0


def test_lost_callback_is_found_by_the_retry_schedule(bundle, qpay, broker, paid_handler):
    invoice = InvoiceFactory(bundle=bundle)
    expiry.schedule_payment_checks(invoice.pk)
    add_check(qpay)  # first checks: nothing paid yet
    checks = [(task, args, kwargs) for task, args, kwargs, _ in broker if task is check_invoice_payment_task]

    assert check_invoice_payment_task.apply(args=checks[0][1], kwargs=checks[0][2]).get() == "NOT_PAID"
    qpay.replace(
        responses.POST, f"{BASE}/payment/check", json={"count": 1, "paid_amount": 19500, "rows": [paid_row("19500.00")]}
    )
    assert check_invoice_payment_task.apply(args=checks[1][1], kwargs=checks[1][2]).get() == "PAID"
    # Later scheduled checks are no-ops: no further QPay calls.
    assert check_invoice_payment_task.apply(args=checks[2][1], kwargs=checks[2][2]).get() == "DUPLICATE"
    invoice.refresh_from_db()
    assert invoice.status == Invoice.Status.PAID and len(paid_handler.calls) == 1
    assert len(check_requests(qpay)) == 2
    assert check_requests(qpay)[0]["object_id"] == invoice.qpay_invoice_id


def test_check_task_run_twice_changes_nothing_the_second_time(bundle, qpay, paid_handler):
    invoice = InvoiceFactory(bundle=bundle)
    add_check(qpay, paid_row("19500.00"))
    check_invoice_payment_task.apply(args=[str(invoice.pk)])
    check_invoice_payment_task.apply(args=[str(invoice.pk)])
    assert InvoiceTransition.objects.filter(name="mark_paid").count() == 1 and len(paid_handler.calls) == 1


def test_check_task_retries_on_transport_errors_only(bundle, qpay, monkeypatch):
    invoice = InvoiceFactory(bundle=bundle)
    assert check_invoice_payment_task.autoretry_for and check_invoice_payment_task.acks_late
    add_check(qpay, status=503, body={"error": "DOWN"})
    result = check_invoice_payment_task.apply(args=[str(invoice.pk)])
    assert result.state == "RETRY" or result.failed()  # eager: autoretry raises Retry
    invoice.refresh_from_db()
    assert invoice.status == Invoice.Status.PENDING

    qpay.replace(
        responses.POST, f"{BASE}/payment/check", status=400, json={"error": "INVALID_OBJECT_TYPE", "message": "bad"}
    )
    result = check_invoice_payment_task.apply(args=[str(invoice.pk)])
    assert result.successful() and result.get() == "VERIFY_FAILED"  # a 4xx is not retried


def _overdue(bundle, **kwargs):
    return InvoiceFactory(bundle=bundle, expires_at=timezone.now() - timedelta(seconds=1), **kwargs)


def test_expiry_checks_once_more_then_cancels_at_qpay(bundle, qpay, paid_handler):
    invoice = _overdue(bundle)
    add_check(qpay)
    qpay.add(responses.DELETE, f"{BASE}/invoice/{invoice.qpay_invoice_id}", json={})

    assert expire_invoice_task.apply(args=[str(invoice.pk)]).get() == "EXPIRED"

    invoice.refresh_from_db()
    assert invoice.status == Invoice.Status.EXPIRED and invoice.qpay_cancelled_at is not None
    assert len(check_requests(qpay)) == 1
    assert len(calls_to(qpay, f"/invoice/{invoice.qpay_invoice_id}", "DELETE")) == 1
    transition = invoice.transitions.get(name="expire")
    assert transition.cause == "expired; cancelled at QPay" and transition.actor == "task"
    # Running it again is harmless.
    assert expire_invoice_task.apply(args=[str(invoice.pk)]).get() == "EXPIRED"
    assert len(calls_to(qpay, f"/invoice/{invoice.qpay_invoice_id}", "DELETE")) == 1


def test_expiry_finds_a_last_minute_payment(bundle, qpay, paid_handler):
    invoice = _overdue(bundle)
    add_check(qpay, paid_row("19500.00"))
    assert expire_invoice_task.apply(args=[str(invoice.pk)]).get() == "PAID"
    assert calls_to(qpay, "/invoice/", "DELETE") == [] and len(paid_handler.calls) == 1


def test_expiry_when_qpay_says_the_invoice_was_just_paid(bundle, qpay, paid_handler):
    invoice = _overdue(bundle)
    qpay.add(responses.POST, f"{BASE}/payment/check", json={"count": 0, "rows": []})
    qpay.add(
        responses.POST, f"{BASE}/payment/check", json={"count": 1, "paid_amount": 19500, "rows": [paid_row("19500.00")]}
    )
    qpay.add(
        responses.DELETE,
        f"{BASE}/invoice/{invoice.qpay_invoice_id}",
        status=400,
        json={"error": "INVOICE_PAID", "message": "paid"},
    )
    assert expire_invoice_task.apply(args=[str(invoice.pk)]).get() == "PAID"


def test_expiry_with_qpay_down_does_not_expire(bundle, qpay):
    invoice = _overdue(bundle)
    add_check(qpay)
    qpay.add(responses.DELETE, f"{BASE}/invoice/{invoice.qpay_invoice_id}", status=503, json={})
    result = expire_invoice_task.apply(args=[str(invoice.pk)])
    assert not result.successful()  # autoretry: try again later
    invoice.refresh_from_db()
    assert invoice.status == Invoice.Status.PENDING


def test_expiry_treats_already_cancelled_as_done(bundle, qpay):
    invoice = _overdue(bundle)
    add_check(qpay)
    qpay.add(
        responses.DELETE,
        f"{BASE}/invoice/{invoice.qpay_invoice_id}",
        status=400,
        json={"error": "INVOICE_ALREADY_CANCELED", "message": "already"},
    )
    assert expire_invoice_task.apply(args=[str(invoice.pk)]).get() == "EXPIRED"


def test_expiry_before_time_is_a_no_op(bundle, qpay):
    invoice = InvoiceFactory(bundle=bundle)
    assert expire_invoice_task.apply(args=[str(invoice.pk)]).get() == "NOT_DUE"
    assert len(qpay.calls) == 0


def test_payment_after_cancel_is_flagged_never_ignored(bundle, qpay, paid_handler, django_capture_on_commit_callbacks):
    invoice = _overdue(bundle)
    add_check(qpay)
    qpay.add(responses.DELETE, f"{BASE}/invoice/{invoice.qpay_invoice_id}", json={})
    expire_invoice_task.apply(args=[str(invoice.pk)])

    qpay.replace(
        responses.POST, f"{BASE}/payment/check", json={"count": 1, "paid_amount": 19500, "rows": [paid_row("19500.00")]}
    )
    with django_capture_on_commit_callbacks(execute=True):
        outcome = check_invoice_payment_task.apply(args=[str(invoice.pk)], kwargs={"recheck_paid": True}).get()
    assert outcome == "LATE_PAYMENT"
    invoice.refresh_from_db()
    assert invoice.status == Invoice.Status.EXPIRED and invoice.needs_staff_attention
    assert paid_handler.calls == []
    assert len(mail.outbox) == 1 and "needs attention" in mail.outbox[0].subject


def test_sweep_drives_the_database_schedule_and_expires_overdue(bundle, qpay, broker):
    """The checks live in Invoice.next_check_at: what is due is enqueued (a lost ETA message or a
    Redis restart changes nothing), what is planned later is not; closed invoices get late checks."""
    now = timezone.now()
    lost = InvoiceFactory(bundle=bundle)
    Invoice.objects.filter(pk=lost.pk).update(
        created_at=now - timedelta(minutes=12), next_check_at=now - timedelta(minutes=2)
    )
    planned = InvoiceFactory(bundle=bundle)
    Invoice.objects.filter(pk=planned.pk).update(next_check_at=now + timedelta(minutes=2))
    overdue = _overdue(bundle)
    abandoned = InvoiceFactory(bundle=bundle, qpay_invoice_id=None)
    Invoice.objects.filter(pk=abandoned.pk).update(created_at=now - timedelta(minutes=5))
    paid = InvoiceFactory(bundle=bundle, status=Invoice.Status.PAID, next_check_at=None)
    expired = InvoiceFactory(
        bundle=bundle,
        status=Invoice.Status.EXPIRED,
        closed_at=now - timedelta(minutes=61),
        next_check_at=now - timedelta(minutes=1),
    )

    counts = sweep_pending_invoices_task.apply().get()

    assert counts == {"expired": 1, "checked": 2, "abandoned": 1}
    sent = {(task.name, args[0]) for task, args, _, _ in broker}
    assert sent == {
        ("payments.check_invoice_payment", str(lost.pk)),
        ("payments.check_invoice_payment", str(expired.pk)),
        ("payments.expire_invoice", str(overdue.pk)),
    }
    abandoned.refresh_from_db()
    assert abandoned.status == Invoice.Status.CANCELLED
    assert {planned.pk, paid.pk}.isdisjoint({args[0] for _, args, _, _ in broker})
    # A second sweep right after does not enqueue the same work again (the sweep took a lease)...
    broker.clear()
    assert sweep_pending_invoices_task.apply().get() == {"expired": 0, "checked": 0, "abandoned": 0}
    # ...but a check whose message was lost is due again once the lease has run out.
    later = now + timedelta(seconds=schedules.lease_seconds() + 1)
    assert {args[0] for _, args, _, _ in broker} == set()
    assert expiry.sweep_pending_invoices(now=later)["checked"] >= 2


def test_a_finished_check_plans_the_next_one(bundle, qpay):
    add_check(qpay)
    invoice = InvoiceFactory(bundle=bundle)
    Invoice.objects.filter(pk=invoice.pk).update(next_check_at=timezone.now())
    assert check_invoice_payment_task.apply(args=[str(invoice.pk)]).get() == "NOT_PAID"
    invoice.refresh_from_db()
    plan = [
        eta for eta, kind in schedules.payment_check_plan(invoice.created_at, invoice.expires_at) if kind == "check"
    ]
    assert invoice.next_check_at == min(eta for eta in plan if eta > timezone.now())


def test_expiry_and_cancel_plan_late_checks_at_one_and_six_hours(bundle, qpay):
    invoice = _overdue(bundle)
    add_check(qpay)
    qpay.add(responses.DELETE, f"{BASE}/invoice/{invoice.qpay_invoice_id}", json={})
    assert expire_invoice_task.apply(args=[str(invoice.pk)]).get() == "EXPIRED"
    invoice.refresh_from_db()
    assert invoice.next_check_at == invoice.closed_at + timedelta(hours=1)
    assert schedules.next_check_after(invoice, invoice.closed_at + timedelta(hours=1)) == invoice.closed_at + timedelta(
        hours=6
    )
    assert schedules.next_check_after(invoice, invoice.closed_at + timedelta(hours=6)) is None
    cancelled = expiry.cancel_invoice(InvoiceFactory(bundle=bundle).pk, cause="test", actor="test")
    assert cancelled.next_check_at == cancelled.closed_at + timedelta(hours=1)


def test_a_new_invoice_carries_its_first_check(bundle, broker, settings):
    invoice = purchase._insert_invoice(
        customer=CustomerFactory(),
        bundle=bundle,
        amount_mnt=bundle.price_mnt,
        description="",
        topup_iccid="",
        company_register="",
        language="mn",
        actor="test",
    )
    created = invoice.expires_at - timedelta(minutes=settings.QPAY_INVOICE_TTL_MINUTES)
    assert invoice.next_check_at == created + timedelta(seconds=60)


def test_sweep_is_registered_as_a_periodic_task():
    app.loader.import_default_modules()
    app.finalize()
    schedule = app.conf.beat_schedule
    assert schedule["payments: sweep pending invoices"]["task"] == "payments.sweep_pending_invoices"
