"""The bot delivers: eSIM ready, 80 %/100 % usage and refund messages, each once (Celery may
run twice), in the shopper's language, never with an activation code; 429 honours
retry_after; a shopper who blocked the bot is marked and not retried."""

import json

import pytest

from orders import services as order_services
from orders.models import EmailLog
from telegram import bot, tasks
from telegram.models import BotMessage, TelegramPurchase, TelegramUser
from tests.orders.factories import DeliveredOrderFactory


@pytest.fixture
def shopper(db):
    return TelegramUser.objects.create(telegram_id=5550003, first_name="Tuya", language_code="en")


@pytest.fixture
def order(shopper):
    order = DeliveredOrderFactory()
    TelegramPurchase.objects.create(invoice=order.invoice, telegram_user=shopper)
    return order


def sent_bodies(mocked_responses):
    return [json.loads(call.request.body) for call in mocked_responses.calls]


def secrets_of(order):
    esim = order.esim
    return [esim.matching_id, esim.smdp_address, f"LPA:1${esim.smdp_address}${esim.matching_id}", esim.iccid]


@pytest.mark.django_db(transaction=True)
def test_esim_ready_is_sent_once_with_a_button_to_the_esim_page(
    order, mocked_responses, send_url, django_capture_on_commit_callbacks
):
    mocked_responses.post(send_url, json={"ok": True, "result": {"message_id": 9}})
    order_services.queue_email(order, EmailLog.Kind.ESIM_READY)
    order_services.queue_email(order, EmailLog.Kind.ESIM_READY)  # provisioning ran twice
    message = BotMessage.objects.get()
    tasks.send_bot_message_task.apply(args=(message.pk,))  # Celery delivered the task twice
    bodies = [b for b in sent_bodies(mocked_responses)]
    assert len(bodies) == 1
    body = bodies[0]
    assert body["chat_id"] == 5550003
    assert body["text"].startswith("Your eSIM is ready")
    url = body["reply_markup"]["inline_keyboard"][0][0]["web_app"]["url"]
    assert url.startswith("https://shop.example.mn/telegram/app/?next=")
    assert order.access_token in url
    message.refresh_from_db()
    assert (message.status, message.attempts) == ("SENT", 1)


@pytest.mark.django_db(transaction=True)
def test_usage_80_and_100_each_once_per_event(order, mocked_responses, send_url):
    mocked_responses.post(send_url, json={"ok": True, "result": {"message_id": 9}})
    for _ in range(2):
        order_services.queue_email(order, EmailLog.Kind.USAGE_80, event_key="assignment-1")
        order_services.queue_email(order, EmailLog.Kind.USAGE_100, event_key="assignment-1")
    texts = [b["text"] for b in sent_bodies(mocked_responses)]
    assert len(texts) == 2
    assert texts[0].startswith("You have used 80% of your data")
    assert texts[1].startswith("You have used all your data")
    assert BotMessage.objects.filter(status="SENT").count() == 2


@pytest.mark.django_db(transaction=True)
def test_refund_notice(order, mocked_responses, send_url):
    mocked_responses.post(send_url, json={"ok": True, "result": {"message_id": 9}})
    order_services.mark_refunded(order.pk, cause="refund #1")
    order_services.mark_refunded(order.pk, cause="refund #1")  # already refunded: no second notice
    texts = [b["text"] for b in sent_bodies(mocked_responses)]
    assert texts == [
        f"Your payment of {order.invoice.amount_mnt:,}₮ for {texts[0].split(' for ', 1)[1][: -len(' was refunded.')]} was refunded."
    ]


@pytest.mark.django_db(transaction=True)
def test_mongolian_unless_telegram_says_english(order, shopper, mocked_responses, send_url):
    mocked_responses.post(send_url, json={"ok": True, "result": {"message_id": 9}})
    TelegramUser.objects.filter(pk=shopper.pk).update(language_code="ru")
    order_services.queue_email(order, EmailLog.Kind.ESIM_READY)
    assert sent_bodies(mocked_responses)[0]["text"].startswith("Таны eSIM бэлэн боллоо")


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("language", ["en", "mn"])
def test_no_activation_code_in_any_bot_message(order, shopper, mocked_responses, send_url, language):
    mocked_responses.post(send_url, json={"ok": True, "result": {"message_id": 9}})
    TelegramUser.objects.filter(pk=shopper.pk).update(language_code=language)
    order_services.queue_email(order, EmailLog.Kind.ESIM_READY)
    order_services.queue_email(order, EmailLog.Kind.USAGE_80, event_key="a")
    order_services.queue_email(order, EmailLog.Kind.USAGE_100, event_key="a")
    order_services.mark_refunded(order.pk)
    bot.queue_message(shopper, BotMessage.Kind.WELCOME, event_key="update:1")
    raw_bodies = [
        call.request.body.decode() if isinstance(call.request.body, bytes) else call.request.body
        for call in mocked_responses.calls
    ]
    assert len(raw_bodies) == 5
    for body in raw_bodies:
        for secret in secrets_of(order):
            assert secret not in body


@pytest.mark.django_db(transaction=True)
def test_an_order_bought_on_the_web_gets_no_bot_message(mocked_responses):
    order = DeliveredOrderFactory()
    order_services.queue_email(order, EmailLog.Kind.ESIM_READY)
    assert BotMessage.objects.count() == 0 and len(mocked_responses.calls) == 0


@pytest.mark.django_db(transaction=True)
def test_429_goes_back_to_pending_and_the_retry_waits_retry_after(order, mocked_responses, send_url, monkeypatch):
    mocked_responses.post(
        send_url,
        status=429,
        json={
            "ok": False,
            "error_code": 429,
            "description": "Too Many Requests: retry after 17",
            "parameters": {"retry_after": 17},
        },
    )
    message, _ = bot.queue_message(
        order.invoice.telegram_purchase.telegram_user, BotMessage.Kind.ESIM_READY, event_key="x", order=order
    )
    # Eager mode leaves it pending (no instant retry storm) ...
    message.refresh_from_db()
    assert (message.status, message.attempts) == ("PENDING", 1)
    assert "429" in message.last_error
    # ... and a worker retries after Telegram's retry_after, not before.
    countdowns = []

    class Retry(Exception):
        pass

    def fake_retry(exc=None, countdown=None, **kwargs):
        countdowns.append(countdown)
        return Retry()

    monkeypatch.setattr(tasks.send_bot_message_task, "retry", fake_retry)
    with pytest.raises(Retry):
        tasks.send_bot_message_task.run(message.pk)
    assert countdowns == [18.0]  # retry_after + 1 s margin
    assert tasks.retry_countdown(bot.TransientSendError("5xx"), 0) >= tasks.BACKOFF_BASE_SECONDS


@pytest.mark.django_db(transaction=True)
def test_retries_exhausted_marks_failed(order, mocked_responses, send_url, settings, monkeypatch):
    mocked_responses.post(send_url, status=502, body="Bad Gateway")
    settings.TELEGRAM_SEND_MAX_RETRIES = 0
    message, _ = bot.queue_message(
        order.invoice.telegram_purchase.telegram_user, BotMessage.Kind.ESIM_READY, event_key="x", order=order
    )
    message.refresh_from_db()
    assert message.status == "FAILED" and "retries exhausted" in message.last_error
    assert tasks.send_bot_message_task.run(message.pk) == bot.ALREADY


@pytest.mark.django_db(transaction=True)
def test_blocked_by_the_user_is_marked_and_never_retried(order, shopper, mocked_responses, send_url):
    mocked_responses.post(
        send_url,
        status=403,
        json={"ok": False, "error_code": 403, "description": "Forbidden: bot was blocked by the user"},
    )
    order_services.queue_email(order, EmailLog.Kind.ESIM_READY)
    message = BotMessage.objects.get()
    assert message.status == "BLOCKED"
    shopper.refresh_from_db()
    assert shopper.blocked_at is not None
    assert tasks.send_bot_message_task.run(message.pk) == bot.ALREADY
    order_services.queue_email(order, EmailLog.Kind.USAGE_80, event_key="a")
    assert BotMessage.objects.get(kind="usage_80").status == "BLOCKED"
    assert len(mocked_responses.calls) == 1  # nothing more was sent to a user who blocked us


@pytest.mark.django_db(transaction=True)
def test_a_failing_bot_never_breaks_the_delivery(order, monkeypatch):
    def boom(*args, **kwargs):
        raise RuntimeError("telegram side broke")

    monkeypatch.setattr(bot, "notify_order_event", boom)
    log, created = order_services.queue_email(order, EmailLog.Kind.ESIM_READY)
    assert created and EmailLog.objects.filter(pk=log.pk).exists()


@pytest.mark.django_db(transaction=True)
def test_sweep_resends_a_message_left_pending_and_reopens_a_dead_workers_claim(
    order, shopper, mocked_responses, send_url
):
    from datetime import timedelta

    from django.utils import timezone

    mocked_responses.post(
        send_url,
        status=429,
        json={"ok": False, "error_code": 429, "description": "slow down", "parameters": {"retry_after": 5}},
    )
    message, _ = bot.queue_message(shopper, BotMessage.Kind.ESIM_READY, event_key="x", order=order)
    message.refresh_from_db()
    assert message.status == "PENDING"  # in-process mode left it for the sweep
    mocked_responses.replace("POST", send_url, json={"ok": True, "result": {"message_id": 3}})
    stuck, _ = bot.queue_message(shopper, BotMessage.Kind.USAGE_80, event_key="y", order=order)
    BotMessage.objects.filter(pk=stuck.pk).update(status="SENDING", claimed_at=timezone.now() - timedelta(minutes=11))
    later = timezone.now() + timedelta(minutes=3)
    assert sorted(bot.sweep_bot_messages(now=later)) == sorted([message.pk, stuck.pk])
    assert bot.sweep_bot_messages(now=later) == []  # once per window
    assert set(BotMessage.objects.values_list("status", flat=True)) == {"SENT"}
