"""initData validation against Telegram's documented algorithm, with vectors built here from a
test bot token by an independent implementation of the documentation (not by the code under test)."""

import hashlib
import hmac
import json
from urllib.parse import quote

import pytest

from telegram import init_data
from tests.telegram.conftest import BOT_TOKEN

NOW = 1_767_000_000
USER = {
    "id": 279058397,
    "first_name": "Vladislav",
    "last_name": "Kibenko",
    "username": "vdkfrost",
    "language_code": "ru",
}


def documented_vector(fields: dict, token: str = BOT_TOKEN) -> str:
    """https://core.telegram.org/bots/webapps#validating-data-received-via-the-mini-app, step by step."""
    check_string = "\n".join(f"{key}={fields[key]}" for key in sorted(fields))
    secret = hmac.new(key=b"WebAppData", msg=token.encode(), digestmod=hashlib.sha256).digest()
    digest = hmac.new(key=secret, msg=check_string.encode(), digestmod=hashlib.sha256).hexdigest()
    return "&".join(f"{key}={quote(str(value), safe='')}" for key, value in fields.items()) + f"&hash={digest}"


def fields(**overrides):
    return {
        "query_id": "AAHdF6IQAAAAAN0XohDhrOrc",
        "user": json.dumps(USER, separators=(",", ":")),
        "auth_date": str(NOW - 60),
        **overrides,
    }


def test_known_good_vector_is_accepted_and_parsed():
    data = init_data.validate(documented_vector(fields()), BOT_TOKEN, max_age_seconds=3600, now=NOW)
    assert data.user["id"] == USER["id"]
    assert data.auth_date == NOW - 60
    assert len(data.hash) == 64


def test_our_signer_matches_the_documented_vector():
    raw = documented_vector(fields(start_param="esim"))
    ours = init_data.sign(fields(start_param="esim"), BOT_TOKEN)
    assert dict(p.split("=", 1) for p in ours.split("&"))["hash"] == raw.rsplit("hash=", 1)[1]


@pytest.mark.parametrize(
    "field,value",
    [
        ("user", json.dumps({**USER, "id": 1}, separators=(",", ":"))),  # someone else's account
        ("auth_date", str(NOW)),  # refreshed by the client
        ("query_id", "AAHdF6IQAAAAAN0XohDhrOrd"),
    ],
)
def test_tampered_field_is_refused(field, value):
    raw = documented_vector(fields())
    original = fields()[field]
    tampered = raw.replace(f"{field}={quote(original, safe='')}", f"{field}={quote(value, safe='')}")
    assert tampered != raw
    with pytest.raises(init_data.InvalidInitData, match="signature"):
        init_data.validate(tampered, BOT_TOKEN, max_age_seconds=3600, now=NOW)


def test_added_field_is_refused():
    raw = documented_vector(fields()) + "&chat_type=private"
    with pytest.raises(init_data.InvalidInitData, match="signature"):
        init_data.validate(raw, BOT_TOKEN, max_age_seconds=3600, now=NOW)


@pytest.mark.parametrize(
    "raw",
    [
        lambda: documented_vector(fields()).rsplit("hash=", 1)[0] + "hash=" + "0" * 64,  # wrong hash
        lambda: documented_vector(fields(), token="7000000001:another-bot"),  # signed by another bot
        lambda: documented_vector(fields()).rsplit("&hash=", 1)[0],  # no hash
        lambda: "",
        lambda: "not a query string",
        lambda: documented_vector(fields()) + "&hash=" + "0" * 64,  # hash twice
        lambda: "x" * 5000,
    ],
)
def test_wrong_or_missing_hash_is_refused(raw):
    with pytest.raises(init_data.InvalidInitData):
        init_data.validate(raw(), BOT_TOKEN, max_age_seconds=3600, now=NOW)


def test_stale_auth_date_is_refused_and_the_limit_is_configurable():
    raw = documented_vector(fields(auth_date=str(NOW - 3601)))
    with pytest.raises(init_data.InvalidInitData, match="too old"):
        init_data.validate(raw, BOT_TOKEN, max_age_seconds=3600, now=NOW)
    assert init_data.validate(raw, BOT_TOKEN, max_age_seconds=7200, now=NOW).auth_date == NOW - 3601


def test_future_auth_date_is_refused():
    raw = documented_vector(fields(auth_date=str(NOW + 3600)))
    with pytest.raises(init_data.InvalidInitData, match="future"):
        init_data.validate(raw, BOT_TOKEN, max_age_seconds=3600, now=NOW)


@pytest.mark.parametrize("user", ["", "{}", '{"id": "1"}', '{"id": true}', "[1]", "not json"])
def test_signed_but_without_a_valid_user_is_refused(user):
    raw = documented_vector(fields(user=user))
    with pytest.raises(init_data.InvalidInitData, match="user"):
        init_data.validate(raw, BOT_TOKEN, max_age_seconds=3600, now=NOW)


def test_no_bot_token_refuses_everything():
    with pytest.raises(init_data.InvalidInitData):
        init_data.validate(documented_vector(fields(), token=""), "", max_age_seconds=3600, now=NOW)
