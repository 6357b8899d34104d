"""The watchdog's alerts: each condition raised once, deduplicated, reminded after the window,
resolved once; a storm is one alert; webhook and e-mail outages; race-safe state."""

import json
from datetime import timedelta

import pytest
import requests
import responses
from django.core import mail
from django.core.management import call_command
from django.utils import timezone

from ops import alerts, heartbeats, watchdog
from ops.models import AlertState, Heartbeat
from orders.models import EmailLog, Order
from staff.models import ReconciliationMismatch
from tests.ops.conftest import WEBHOOK_URL, organisation, qpay_token
from tests.orders.factories import OrderFactory

pytestmark = pytest.mark.django_db


def run(condition_func, now=None):
    now = now or timezone.now()
    return alerts.process(condition_func(now), now=now)


def test_an_alert_storm_of_100_orders_is_one_alert_then_a_reminder_then_resolved():
    first = OrderFactory()
    OrderFactory.create_batch(99, invoice__bundle=first.bundle)
    Order.objects.update(status=Order.Status.NEEDS_ATTENTION, attention_reason="eSIM Go refused")
    now = timezone.now()

    note = run(watchdog.orders_needing_attention, now)
    assert note.kind == alerts.RAISED
    assert len(mail.outbox) == 1
    message = mail.outbox[0]
    assert message.to == ["staff@example.mn"]
    assert message.subject == "[esimshop] ALERT: 100 paid order(s) need attention"
    assert "https://shop.example.mn/admin/orders/order/?status__exact=NEEDS_ATTENTION" in message.body
    assert "… and 90 more" in message.body

    # Every minute while it lasts: nothing new inside the window.
    for minute in range(1, 60):
        assert run(watchdog.orders_needing_attention, now + timedelta(minutes=minute)) is None
    assert len(mail.outbox) == 1
    # After the window, one reminder.
    assert run(watchdog.orders_needing_attention, now + timedelta(minutes=60)).kind == alerts.REMINDER
    assert len(mail.outbox) == 2 and mail.outbox[1].subject.startswith("[esimshop] STILL FAILING: ")

    Order.objects.update(status=Order.Status.REFUNDED)
    resolved = run(watchdog.orders_needing_attention, now + timedelta(minutes=61))
    assert resolved.kind == alerts.RESOLVED
    assert mail.outbox[2].subject == "[esimshop] RESOLVED: 100 paid order(s) need attention"
    assert run(watchdog.orders_needing_attention, now + timedelta(minutes=62)) is None
    assert len(mail.outbox) == 3
    state = AlertState.objects.get(condition="orders_needing_attention")
    assert (state.active, state.notifications) == (False, 3)


def test_a_new_storm_after_resolution_raises_again():
    order = OrderFactory(status=Order.Status.NEEDS_ATTENTION)
    now = timezone.now()
    assert run(watchdog.orders_needing_attention, now).kind == alerts.RAISED
    Order.objects.filter(pk=order.pk).update(status=Order.Status.REFUNDED)
    assert run(watchdog.orders_needing_attention, now + timedelta(minutes=1)).kind == alerts.RESOLVED
    Order.objects.filter(pk=order.pk).update(status=Order.Status.NEEDS_ATTENTION)
    assert run(watchdog.orders_needing_attention, now + timedelta(minutes=2)).kind == alerts.RAISED
    assert [m.subject.split(":")[0] for m in mail.outbox] == [
        "[esimshop] ALERT",
        "[esimshop] RESOLVED",
        "[esimshop] ALERT",
    ]


def test_paid_order_without_an_esim_after_n_minutes(settings):
    order = OrderFactory(status=Order.Status.PROVISIONING)
    now = timezone.now()
    assert run(watchdog.undelivered_paid_orders, now + timedelta(minutes=9)) is None  # not yet N minutes
    note = run(watchdog.undelivered_paid_orders, now + timedelta(minutes=11))
    assert note.kind == alerts.RAISED and str(order.public_id) in note.text()
    assert "the oldest was paid 11 min ago" in mail.outbox[0].body
    Order.objects.filter(pk=order.pk).update(status=Order.Status.REFUNDED)
    assert run(watchdog.undelivered_paid_orders, now + timedelta(minutes=12)).kind == alerts.RESOLVED


def test_esimgo_balance_below_threshold(mocked_responses):
    organisation(mocked_responses, balance=12.5)
    note = run(watchdog.esimgo_balance_low)
    assert note.kind == alerts.RAISED
    assert mail.outbox[0].subject == "[esimshop] ALERT: eSIM Go balance 12.5 USD is below 100"
    assert run(watchdog.esimgo_balance_low) is None
    mocked_responses.replace(
        responses.GET, organisation(mocked_responses).url, json={"organisations": [{"balance": 500, "currency": "USD"}]}
    )
    assert run(watchdog.esimgo_balance_low).kind == alerts.RESOLVED


def test_esimgo_unreachable_keeps_the_balance_state(mocked_responses):
    organisation(mocked_responses, status=503)
    assert run(watchdog.esimgo_balance_low) is None  # unknown is not "low"
    assert mail.outbox == []


def test_reconciliation_mismatch():
    mismatch = ReconciliationMismatch.objects.create(
        fingerprint="x1",
        kind=ReconciliationMismatch.Kind.choices[0][0],
        day=timezone.now().date(),
        detail="QPay payment 123 has no invoice",
    )
    note = run(watchdog.reconciliation_mismatch)
    assert note.kind == alerts.RAISED and "QPay payment 123 has no invoice" in note.text()
    assert "/admin/staff/reconciliationmismatch/?open=1" in note.text()
    assert run(watchdog.reconciliation_mismatch) is None
    ReconciliationMismatch.objects.filter(pk=mismatch.pk).update(resolved_at=timezone.now())
    assert run(watchdog.reconciliation_mismatch).kind == alerts.RESOLVED


def test_worker_and_beat_heartbeats_missing(celery_mode):
    now = timezone.now()
    conditions = {c.key: c for c in watchdog.heartbeat_conditions(now)}
    assert set(conditions) == {"heartbeat:beat", "heartbeat:worker:celery", "heartbeat:worker:provisioning"}
    assert all(c.active for c in conditions.values())
    assert len(alerts.process_all(conditions.values(), now=now)) == 3
    assert alerts.process_all(watchdog.heartbeat_conditions(now), now=now) == []  # deduplicated

    for queue in heartbeats.queues():
        Heartbeat.objects.create(queue=queue, sent_at=now, ran_at=now)
    later = now + timedelta(seconds=5)
    notes = alerts.process_all(watchdog.heartbeat_conditions(later), now=later)
    assert sorted(n.kind for n in notes) == [alerts.RESOLVED] * 3


def test_no_heartbeat_alerts_with_in_process_tasks(settings):
    settings.CELERY_TASK_ALWAYS_EAGER = True
    assert watchdog.heartbeat_conditions(timezone.now()) == []


def test_qpay_auth_failing(mocked_responses):
    qpay_token(mocked_responses, status=401)
    note = run(watchdog.qpay_auth)
    assert note.kind == alerts.RAISED and "QPayAuthError (HTTP 401)" in note.text()
    assert note.subject == "[esimshop] ALERT: QPay refuses the shop's credentials"
    assert run(watchdog.qpay_auth) is None
    mocked_responses.reset()
    qpay_token(mocked_responses)
    assert run(watchdog.qpay_auth).kind == alerts.RESOLVED


def test_emails_failing():
    order = OrderFactory()
    log = EmailLog.objects.create(
        order=order,
        kind=EmailLog.Kind.ESIM_READY,
        to="a@example.mn",
        status=EmailLog.Status.FAILED,
        last_error="SMTPServerDisconnected: gone",
    )
    note = run(watchdog.emails_failing)
    assert note.kind == alerts.RAISED and "SMTPServerDisconnected" in note.text()
    EmailLog.objects.filter(pk=log.pk).update(status=EmailLog.Status.SENT)
    assert run(watchdog.emails_failing).kind == alerts.RESOLVED


def test_the_webhook_gets_the_alert_as_json(settings, mocked_responses):
    settings.ALERT_WEBHOOK_URL = WEBHOOK_URL
    hook = mocked_responses.add(responses.POST, WEBHOOK_URL, json={"ok": True})
    OrderFactory(status=Order.Status.NEEDS_ATTENTION)
    run(watchdog.orders_needing_attention)
    payload = json.loads(hook.calls[0].request.body)
    assert payload["status"] == "alert" and payload["condition"] == "orders_needing_attention"
    assert payload["url"] == "https://shop.example.mn/admin/orders/order/?status__exact=NEEDS_ATTENTION"
    assert len(mail.outbox) == 1


def test_a_webhook_outage_still_sends_the_email(settings, mocked_responses):
    settings.ALERT_WEBHOOK_URL = WEBHOOK_URL
    mocked_responses.add(responses.POST, WEBHOOK_URL, body=requests.ConnectionError("refused"))
    OrderFactory(status=Order.Status.NEEDS_ATTENTION)
    assert run(watchdog.orders_needing_attention).kind == alerts.RAISED
    assert len(mail.outbox) == 1


def test_when_no_channel_works_the_alert_is_retried_next_run(settings, monkeypatch):
    OrderFactory(status=Order.Status.NEEDS_ATTENTION)

    def smtp_down(*args, **kwargs):
        raise OSError("SMTP unreachable")

    monkeypatch.setattr("django.core.mail.EmailMessage.send", smtp_down)
    assert run(watchdog.orders_needing_attention) is None
    assert not AlertState.objects.get(condition="orders_needing_attention").active
    monkeypatch.undo()
    assert run(watchdog.orders_needing_attention).kind == alerts.RAISED


def test_one_broken_evaluator_does_not_silence_the_others(monkeypatch, mocked_responses):
    qpay_token(mocked_responses)
    organisation(mocked_responses)

    def broken(now):
        raise RuntimeError("bug")

    monkeypatch.setattr(watchdog, "EVALUATORS", [broken, watchdog.orders_needing_attention])
    OrderFactory(status=Order.Status.NEEDS_ATTENTION)
    assert [c.key for c in watchdog.conditions() if c.active] == ["orders_needing_attention"]


def test_the_command_sends_each_alert_once(mocked_responses, settings):
    settings.CELERY_TASK_ALWAYS_EAGER = True
    qpay_token(mocked_responses)
    organisation(mocked_responses, balance=5)
    OrderFactory(status=Order.Status.NEEDS_ATTENTION)
    call_command("watchdog")
    call_command("watchdog")
    assert sorted(m.subject for m in mail.outbox) == [
        "[esimshop] ALERT: 1 paid order(s) need attention",
        "[esimshop] ALERT: eSIM Go balance 5 USD is below 100",
    ]
