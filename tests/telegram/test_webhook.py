"""The bot's webhook: Telegram's secret-token header, raw update stored first, duplicates
ignored, 200 at once; /start answers with a web_app button; a shared contact is verified."""

import json

import pytest

from telegram.models import BotMessage, TelegramUpdate, TelegramUser
from tests.telegram.conftest import WEBHOOK_SECRET

USER = {"id": 5550002, "is_bot": False, "first_name": "Saraa", "language_code": "en"}


def update(update_id, **message):
    return {
        "update_id": update_id,
        "message": {
            "message_id": 1,
            "date": 1767000000,
            "from": USER,
            "chat": {"id": USER["id"], "type": "private"},
            **message,
        },
    }


def post(client, body, secret=WEBHOOK_SECRET):
    headers = {"HTTP_X_TELEGRAM_BOT_API_SECRET_TOKEN": secret} if secret is not None else {}
    data = body if isinstance(body, (bytes, str)) else json.dumps(body)
    return client.post("/telegram/webhook/", data, content_type="application/json", **headers)


@pytest.mark.django_db
@pytest.mark.parametrize("secret", [None, "", "wrong", WEBHOOK_SECRET[:-1], WEBHOOK_SECRET + "x"])
def test_missing_or_wrong_secret_token_is_403_and_stores_nothing(client, secret, mocked_responses):
    response = post(client, update(1, text="/start"), secret=secret)
    assert response.status_code == 403
    assert response.json()["ok"] is False and response.json()["code"] == "forbidden"
    assert TelegramUpdate.objects.count() == 0 and TelegramUser.objects.count() == 0
    assert len(mocked_responses.calls) == 0


@pytest.mark.django_db
def test_no_configured_secret_refuses_even_an_empty_header(client, settings):
    settings.TELEGRAM_WEBHOOK_SECRET = ""
    assert post(client, update(1, text="/start"), secret="").status_code == 403
    assert TelegramUpdate.objects.count() == 0


@pytest.mark.django_db(transaction=True)
def test_start_is_stored_raw_then_answered_once_with_a_web_app_button(client, mocked_responses, send_url):
    mocked_responses.post(send_url, json={"ok": True, "result": {"message_id": 42}})
    body = json.dumps(update(1001, text="/start"))
    response = post(client, body)
    assert response.status_code == 200 and response.json() == {"ok": True, "duplicate": False}
    row = TelegramUpdate.objects.get(update_id=1001)
    assert row.body == body and row.kind == "start" and row.processed_at and row.result == "welcomed"
    # Telegram resends the same update (our 200 got lost): stored once, answered once.
    again = post(client, body)
    assert again.status_code == 200 and again.json() == {"ok": True, "duplicate": True}
    assert TelegramUpdate.objects.count() == 1
    assert len(mocked_responses.calls) == 1
    sent = json.loads(mocked_responses.calls[0].request.body)
    assert sent["chat_id"] == USER["id"]
    button = sent["reply_markup"]["inline_keyboard"][0][0]
    assert button["web_app"]["url"] == "https://shop.example.mn/telegram/app/"
    assert button["text"] == "Open the shop"  # the user's Telegram language is English
    message = BotMessage.objects.get()
    assert (message.kind, message.status, message.telegram_message_id) == ("welcome", "SENT", 42)


@pytest.mark.django_db(transaction=True)
def test_start_in_mongolian_by_default(client, mocked_responses, send_url):
    mocked_responses.post(send_url, json={"ok": True, "result": {"message_id": 1}})
    post(
        client,
        {
            "update_id": 7,
            "message": {
                "message_id": 1,
                "date": 1,
                "text": "/start",
                "from": {"id": 99, "first_name": "Dorj"},
                "chat": {"id": 99, "type": "private"},
            },
        },
    )
    sent = json.loads(mocked_responses.calls[0].request.body)
    assert sent["reply_markup"]["inline_keyboard"][0][0]["text"] == "Дэлгүүрийг нээх"


@pytest.mark.django_db
@pytest.mark.parametrize(
    "body,reason",
    [
        (b"not json", "not JSON"),
        (b"[]", "not an Update object"),
        (b'{"message": {}}', "no update_id"),
        (b'{"update_id": "1"}', "no update_id"),
        (b'{"update_id": true}', "no update_id"),
    ],
)
def test_garbage_is_200_with_a_reason_and_not_stored(client, body, reason):
    response = post(client, body)
    assert response.status_code == 200 and response.json() == {"ok": False, "reason": reason}
    assert TelegramUpdate.objects.count() == 0


@pytest.mark.django_db(transaction=True)
def test_an_unknown_update_is_stored_and_ignored(client, mocked_responses):
    assert post(client, update(5, text="hello")).status_code == 200
    assert TelegramUpdate.objects.get().result == "ignored"
    assert len(mocked_responses.calls) == 0


@pytest.mark.django_db(transaction=True)
def test_own_shared_contact_is_saved_as_verified_phone(client):
    post(client, update(11, contact={"phone_number": "+976 9911 2233", "first_name": "Saraa", "user_id": USER["id"]}))
    user = TelegramUser.objects.get(telegram_id=USER["id"])
    assert user.phone_number == "97699112233" and user.phone_verified_at is not None


@pytest.mark.django_db(transaction=True)
def test_someone_elses_contact_is_not_taken_as_the_senders_phone(client):
    post(client, update(12, contact={"phone_number": "97688887777", "first_name": "Other", "user_id": 1234}))
    assert TelegramUpdate.objects.get().result.startswith("contact refused")
    assert not TelegramUser.objects.filter(phone_number="97688887777").exists()
