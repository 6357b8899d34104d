"""The sandbox Bot API: Telegram's wire format, wrong token 401, every call recorded, blocked chats 403;
the pretend client's /start reaches the shop's webhook with the secret header."""

import json

import pytest

from sandbox.telegram.models import SandboxBotCall, SandboxWebhook
from telegram.bot_api import BotApi, BotApiError


@pytest.fixture
def sandbox_api(live_server, settings, transactional_db):
    settings.SITE_URL = live_server.url
    settings.TELEGRAM_BOT_TOKEN = settings.SANDBOX_TELEGRAM_BOT_TOKEN
    settings.TELEGRAM_WEBHOOK_SECRET = settings.SANDBOX_TELEGRAM_WEBHOOK_SECRET
    settings.TELEGRAM_BOT_API_BASE_URL = live_server.url + "/sandbox/telegram"
    return BotApi()


def test_send_message_is_recorded_and_answered_like_telegram(sandbox_api):
    result = sandbox_api.send_message(42, "hello", reply_markup={"inline_keyboard": []})
    assert result["chat"]["id"] == 42 and result["text"] == "hello" and isinstance(result["message_id"], int)
    call = SandboxBotCall.objects.get()
    assert (call.method, call.chat_id, call.text) == ("sendMessage", 42, "hello")


def test_wrong_token_is_401(sandbox_api):
    with pytest.raises(BotApiError) as caught:
        BotApi(token="1:wrong").send_message(42, "hello")
    assert caught.value.status == 401


def test_blocked_chat_is_403(sandbox_api, settings):
    settings.SANDBOX_TELEGRAM_BLOCKED_CHATS = [42]
    with pytest.raises(BotApiError) as caught:
        sandbox_api.send_message(42, "hello")
    assert caught.value.blocked


def test_set_webhook_is_recorded(sandbox_api, live_server):
    assert sandbox_api.set_webhook(live_server.url + "/telegram/webhook/", "s" * 40) is True
    hook = SandboxWebhook.objects.get()
    assert (hook.url, hook.secret_token) == (live_server.url + "/telegram/webhook/", "s" * 40)


def test_the_pretend_client_posts_start_to_the_webhook_and_the_bot_answers(sandbox_api, client):
    response = client.post(
        "/sandbox/telegram/", {"action": "start", "user_id": "777", "first_name": "Bat", "language_code": "en"}
    )
    assert response.status_code == 302
    answers = SandboxBotCall.objects.filter(method="sendMessage", chat_id=777)
    assert answers.count() == 1
    assert json.dumps(answers.get().payload).count("/telegram/app/") == 1
