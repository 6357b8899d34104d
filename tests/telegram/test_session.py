"""The Mini App entry: initData validated server side and bound to the session; forged, stale
or replayed initData is a 403 with a clear message and writes nothing."""

import time

import pytest
from django.contrib.sessions.models import Session

from telegram import identity, init_data
from telegram.models import InitDataUse, TelegramUser
from tests.telegram.conftest import BOT_TOKEN

USER = {"id": 5550001, "first_name": "Bat", "username": "bat", "language_code": "en"}


def signed(user=USER, token=BOT_TOKEN, auth_date=None):
    return init_data.signed_for_user(user, token, auth_date=auth_date, query_id="q1")


def enter(client, raw, next_path="/countries/"):
    return client.post("/telegram/session/", {"init_data": raw, "next": next_path})


def assert_nothing_written():
    assert TelegramUser.objects.count() == 0
    assert InitDataUse.objects.count() == 0
    assert Session.objects.count() == 0


@pytest.mark.django_db
def test_entry_page_renders_for_the_mini_app(client):
    response = client.get("/telegram/app/?next=/countries/")
    assert response.status_code == 200
    assert b'id="tg-entry"' in response.content and b'data-next="/countries/"' in response.content
    assert b"telegram/miniapp.js" in response.content


@pytest.mark.django_db
def test_valid_init_data_binds_the_session_to_the_telegram_user(client):
    response = enter(client, signed())
    assert response.status_code == 200, response.content
    assert response.json() == {"ok": True, "next": "/countries/"}
    user = TelegramUser.objects.get(telegram_id=USER["id"])
    assert (user.first_name, user.username, user.language) == ("Bat", "bat", "en")
    assert client.session[identity.SESSION_USER] == user.pk
    assert response.cookies["django_language"].value == "en"
    assert client.session[identity.SESSION_INIT_HASH] == InitDataUse.objects.get().hash


@pytest.mark.django_db
def test_same_session_may_present_its_init_data_again_but_another_session_may_not(client):
    from django.test import Client

    raw = signed()
    assert enter(client, raw).status_code == 200
    assert enter(client, raw).status_code == 200  # same session (reload): nothing new written
    assert InitDataUse.objects.count() == 1
    sessions = Session.objects.count()
    TelegramUser.objects.filter(telegram_id=USER["id"]).update(first_name="Original")

    thief = Client()
    response = enter(thief, raw)
    assert response.status_code == 403
    assert response.json()["code"] == "telegram_sign_in_refused" and response.json()["error"]
    assert "already used" in response.json()["reason"]
    assert Session.objects.count() == sessions  # no session for the replayer
    assert "sessionid" not in response.cookies
    assert TelegramUser.objects.get().first_name == "Original"  # the replay updated nothing


@pytest.mark.django_db
@pytest.mark.parametrize(
    "raw,message",
    [
        (lambda: signed(token="7000000001:not-our-bot"), "not signed by our bot"),
        (lambda: signed().replace("Bat", "Bot"), "not signed by our bot"),
        (lambda: signed(auth_date=int(time.time()) - 3601), "too old"),
        (lambda: "", "missing"),
        (lambda: "user=%7B%22id%22%3A1%7D&auth_date=1&hash=abc", "not signed by our bot"),
    ],
)
def test_forged_or_stale_init_data_is_403_with_a_reason_and_writes_nothing(client, raw, message):
    response = enter(client, raw())
    assert response.status_code == 403
    assert response.json()["code"] == "telegram_sign_in_refused" and response.json()["ok"] is False
    assert message in response.json()["reason"]
    assert_nothing_written()


@pytest.mark.django_db
def test_next_must_be_a_path_on_this_site(client):
    for evil in ("https://evil.example/", "//evil.example/", "javascript:alert(1)"):
        assert enter(client, signed(user={**USER, "id": USER["id"] + len(evil)}), evil).json()["next"] == "/"


@pytest.mark.django_db
def test_feature_off_without_a_bot_token(client, settings):
    settings.TELEGRAM_BOT_TOKEN = ""
    assert client.get("/telegram/app/").status_code == 404
    assert enter(client, signed()).status_code == 404
    assert client.post("/telegram/webhook/", b"{}", content_type="application/json").status_code == 404
    assert b"telegram/miniapp.js" not in client.get("/").content


@pytest.mark.django_db
def test_the_sweep_forgets_replay_guards_only_once_their_init_data_is_stale_anyway(client, settings):
    from datetime import timedelta

    from django.utils import timezone

    from telegram import bot

    assert enter(client, signed()).status_code == 200
    bot.sweep_bot_messages(now=timezone.now() + timedelta(seconds=settings.TELEGRAM_INIT_DATA_MAX_AGE_SECONDS))
    assert InitDataUse.objects.count() == 1
    bot.sweep_bot_messages(now=timezone.now() + timedelta(seconds=settings.TELEGRAM_INIT_DATA_MAX_AGE_SECONDS + 3700))
    assert InitDataUse.objects.count() == 0
