"""The eSIM Go client's errors, on the shared base of integrations.errors (docs/providers/errors.md)."""

from __future__ import annotations

from integrations.errors import ProviderError, ProviderMalformedResponse, ProviderRateLimited, ProviderUnavailable


class ESIMGoError(ProviderError):
    """Base error. `transient` and `reached_provider` mean what integrations.errors says,
    as for QPay."""

    provider = "esimgo"

    def __init__(
        self,
        message: str,
        status: int | None = None,
        retry_after: float | None = None,
        *,
        outcome_unknown: bool = False,
        reached_provider: bool = True,
    ) -> None:
        super().__init__(message, status=status, retry_after=retry_after, reached_provider=reached_provider)
        # True when a non-idempotent request (purchase, revoke) may have been executed.
        self.outcome_unknown = outcome_unknown and reached_provider

    def __str__(self) -> str:
        return f"{self.message} (HTTP {self.status})" if self.status else self.message


class ESIMGoAuthError(ESIMGoError):
    """401, or 403 "access denied"/"api token invalid": our key is wrong or lacks access (eSIM Go
    also answers "access denied" to malformed bodies and unknown paths: our bug, not the shopper's)."""


class ESIMGoNotFound(ESIMGoError):
    """404."""


class ESIMGoBadRequest(ESIMGoError):
    """400 and any other 4xx except 401/403/404/429: eSIM Go refused the request."""


class ESIMGoRefused(ESIMGoBadRequest):
    """403 about the thing asked for, not the key: "no Bundles left", "ICCID not accessible by the
    user" (docs/providers/esimgo.md, Errors). The shopper is told the plan cannot be bought."""


class ESIMGoRateLimited(ESIMGoError, ProviderRateLimited):
    """429: over the rate limit; `retry_after` seconds when eSIM Go said so."""


class ESIMGoUnavailable(ESIMGoError, ProviderUnavailable):
    """5xx, timeouts, connection errors."""


class ESIMGoMalformedResponse(ESIMGoError, ProviderMalformedResponse):
    """The response is not the JSON shape we expect (non-JSON, missing keys, garbage values).
    Transient like QPay's: a later attempt may read fine; never repeated at once."""


# eSIM Go's 403 body for a bad or unauthorised key (and for paths it does not know); any other
# 403 message is about the bundle or eSIM asked for (docs/providers/esimgo.md, Errors).
AUTH_403_MESSAGES = ("access denied", "api token invalid", "invalid api key", "unauthorised", "unauthorized")


def is_auth_403(message: str) -> bool:
    text = message.strip().lower()
    return not text or any(marker in text for marker in AUTH_403_MESSAGES)
