"""The QPay client's errors, on the shared base of integrations.errors (docs/providers/errors.md)."""

from __future__ import annotations

from integrations.errors import ProviderError, ProviderMalformedResponse, ProviderRateLimited, ProviderUnavailable


class QPayError(ProviderError):
    """Any QPay failure. `code` is QPay's `error` key when it sent one. `transient` and
    `reached_provider` mean what integrations.errors says, as for eSIM Go."""

    provider = "qpay"

    def __init__(
        self,
        message: str,
        *,
        code: str = "",
        status: int | None = None,
        retry_after: float | None = None,
        reached_provider: bool = True,
    ) -> None:
        super().__init__(message, code=code, status=status, retry_after=retry_after, reached_provider=reached_provider)

    def __str__(self) -> str:
        parts = [p for p in (self.code, self.message) if p]
        if self.status:
            parts.insert(0, f"HTTP {self.status}")
        return ": ".join(parts) or self.__class__.__name__


class QPayAuthError(QPayError):
    """Bad credentials / no permission (401/403 after one re-auth). Permanent."""


class QPayNotFound(QPayError):
    """INVOICE_NOTFOUND, PAYMENT_NOTFOUND, ... or HTTP 404."""


class QPayBadRequest(QPayError):
    """Any other 4xx: QPay refused the request. Permanent; never retried."""


class QPayRateLimited(QPayError, ProviderRateLimited):
    """429: QPay refused the request before acting on it."""


class QPayUnavailable(QPayError, ProviderUnavailable):
    """5xx, timeouts, connection errors."""


class QPayMalformedResponse(QPayError, ProviderMalformedResponse):
    """A 2xx whose body is not the JSON shape we need."""
