"""QPay's access token: where it is kept (the Django cache, failing open), when it expires and
what its JWT payload says (docs/providers/qpay.md, Tokens). The token is never logged."""

from __future__ import annotations

import base64
import hashlib
import json
import time
from typing import Any

from django.core.cache import cache as _shared_cache

from esimshop.infrastructure import CACHE_ERRORS
from integrations.qpay.errors import QPayMalformedResponse

TOKEN_RENEW_LEEWAY_SECONDS = 60
# Anything below this is a TTL, not a unix timestamp (10**9 s after the epoch is 2001).
ABSOLUTE_TIMESTAMP_THRESHOLD = 1_000_000_000


class _FailOpenCache:
    """The shared token cache, failing open: with Redis down every process fetches its own token
    (QPay allows it) instead of failing the payment check or purchase that needed one."""

    def get(self, key: str, default: Any = None) -> Any:
        try:
            return _shared_cache.get(key, default)
        except CACHE_ERRORS:
            return default

    def add(self, key: str, value: Any, timeout: int) -> bool:
        try:
            return _shared_cache.add(key, value, timeout)
        except CACHE_ERRORS:
            return True  # as if the renewal lock were ours: fetch the token ourselves

    def set(self, key: str, value: Any, timeout: int) -> None:
        try:
            _shared_cache.set(key, value, timeout)
        except CACHE_ERRORS:
            pass

    def delete(self, key: str) -> None:
        try:
            _shared_cache.delete(key)
        except CACHE_ERRORS:
            pass

    def delete_many(self, keys: list[str]) -> None:
        try:
            _shared_cache.delete_many(keys)
        except CACHE_ERRORS:
            pass


cache = _FailOpenCache()


def token_cache_key(base_url: str, client_id: str) -> str:
    digest = hashlib.sha256(f"{base_url}|{client_id}".encode()).hexdigest()[:24]
    return f"qpay:token:{digest}"


def read_expiry(value: Any, now: float) -> float:
    """`expires_in` → absolute unix time. QPay sends a timestamp; tolerate a TTL."""
    try:
        number = float(value)
    except (TypeError, ValueError) as exc:
        raise QPayMalformedResponse(f"expires_in is not a number: {value!r}") from exc
    return number if number >= ABSOLUTE_TIMESTAMP_THRESHOLD else now + number


def jwt_claim(token: str, claim: str) -> str:
    """One claim of a JWT's payload, unverified: QPay issued the token to us over TLS; we read a
    label from it and never trust it for access. "" if the token is not a JWT or lacks the claim."""
    parts = str(token or "").split(".")
    if len(parts) != 3:
        return ""
    try:
        payload = json.loads(base64.urlsafe_b64decode(parts[1] + "=" * (-len(parts[1]) % 4)))
    except (ValueError, TypeError):
        return ""
    value = payload.get(claim) if isinstance(payload, dict) else None
    return str(value) if value not in (None, "") else ""


def store_token(key: str, data: dict[str, Any]) -> dict[str, Any]:
    """Cache a fresh token (and its refresh token) until shortly before it expires."""
    now = time.time()
    expires_at = read_expiry(data["expires_in"], now)
    refresh_expires_at = read_expiry(data.get("refresh_expires_in", data["expires_in"]), now)
    lifetime = expires_at - now
    # Renew 60 s early; for a short-lived token, renew at half its life instead.
    leeway = min(TOKEN_RENEW_LEEWAY_SECONDS, lifetime / 2)
    ttl = int(lifetime - leeway)
    token = {"access_token": data["access_token"], "expires_at": expires_at}
    if ttl > 0:
        cache.set(key, token, ttl)
    if data.get("refresh_token") and refresh_expires_at > now:
        cache.set(
            f"{key}:refresh",
            {"refresh_token": data["refresh_token"], "refresh_expires_at": refresh_expires_at},
            max(1, int(refresh_expires_at - now)),
        )
    return token
