"""Telegram Mini App initData: validation exactly as Telegram documents it, and signing (sandbox, tests).

https://core.telegram.org/bots/webapps#validating-data-received-via-the-mini-app
  data_check_string = every received field except `hash`, sorted by key, as `key=value` lines
                      joined by "\\n" (values URL-decoded);
  secret_key        = HMAC_SHA256(key="WebAppData", msg=bot_token);
  hash              = hex(HMAC_SHA256(key=secret_key, msg=data_check_string)).
The comparison is constant-time, and `auth_date` must be recent: a hash never expires by itself.
Pure functions (no Django models), so the algorithm is tested on its own.
"""

import hashlib
import hmac
import json
import time
from dataclasses import dataclass
from urllib.parse import parse_qsl, urlencode

MAX_INIT_DATA_BYTES = 4096  # Telegram's are a few hundred bytes; anything far bigger is not theirs
CLOCK_SKEW_SECONDS = 60  # an auth_date this far in the future is still accepted (clock drift)


class InvalidInitData(Exception):
    """Refused initData; `reason` is safe to show (it never echoes the data)."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class InitData:
    hash: str
    auth_date: int
    user: dict
    start_param: str
    fields: dict


def secret_key(bot_token: str) -> bytes:
    return hmac.new(b"WebAppData", bot_token.encode(), hashlib.sha256).digest()


def data_check_string(fields: dict) -> str:
    return "\n".join(f"{key}={fields[key]}" for key in sorted(fields) if key != "hash")


def compute_hash(fields: dict, bot_token: str) -> str:
    return hmac.new(secret_key(bot_token), data_check_string(fields).encode(), hashlib.sha256).hexdigest()


def sign(fields: dict, bot_token: str) -> str:
    """initData as Telegram would send it for these fields (the sandbox and tests use this)."""
    fields = {key: str(value) for key, value in fields.items() if key != "hash"}
    return urlencode({**fields, "hash": compute_hash(fields, bot_token)})


def signed_for_user(user: dict, bot_token: str, *, auth_date: int | None = None, **extra) -> str:
    fields = {
        "auth_date": int(time.time()) if auth_date is None else auth_date,
        "user": json.dumps(user, separators=(",", ":"), ensure_ascii=False),
        **extra,
    }
    return sign(fields, bot_token)


def parse(raw: str) -> dict:
    if not isinstance(raw, str) or not raw or len(raw.encode()) > MAX_INIT_DATA_BYTES:
        raise InvalidInitData("initData is missing or too long")
    try:
        pairs = parse_qsl(raw, keep_blank_values=True, strict_parsing=True)
    except ValueError:
        raise InvalidInitData("initData is not a query string") from None
    fields = dict(pairs)
    if len(fields) != len(pairs):
        raise InvalidInitData("initData repeats a field")
    return fields


def validate(raw: str, bot_token: str, *, max_age_seconds: int, now: float | None = None) -> InitData:
    """The validated initData, or InvalidInitData saying why (forged, tampered, stale, malformed)."""
    if not bot_token:
        raise InvalidInitData("the Telegram bot is not configured")
    fields = parse(raw)
    received = fields.get("hash", "")
    if not received:
        raise InvalidInitData("initData has no hash")
    expected = compute_hash(fields, bot_token)
    if not hmac.compare_digest(expected.encode(), received.lower().encode()):
        raise InvalidInitData("initData signature does not match: not signed by our bot")
    try:
        auth_date = int(fields.get("auth_date", ""))
    except ValueError:
        raise InvalidInitData("initData has no valid auth_date") from None
    now = time.time() if now is None else now
    if auth_date < now - max_age_seconds:
        raise InvalidInitData("initData is too old: please reopen the shop from the bot")
    if auth_date > now + CLOCK_SKEW_SECONDS:
        raise InvalidInitData("initData auth_date is in the future")
    try:
        user = json.loads(fields.get("user", ""))
    except ValueError:
        raise InvalidInitData("initData has no valid user") from None
    if not isinstance(user, dict) or not isinstance(user.get("id"), int) or isinstance(user.get("id"), bool):
        raise InvalidInitData("initData has no valid user")
    return InitData(
        hash=received.lower(), auth_date=auth_date, user=user, start_param=fields.get("start_param", ""), fields=fields
    )
