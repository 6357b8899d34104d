"""The one error base both provider clients (integrations.qpay.client, integrations.esimgo.client) raise from.

It holds the two notions every caller needs, with one meaning for both providers
(docs/providers/errors.md; the lead moves this module to integrations/ with the clients):

* `transient` (per class): a later attempt of the same request may succeed. True for rate
  limits, 5xx, timeouts, connection errors and a malformed answer (a truncated body or a proxy's
  error page may be gone next time). Callers schedule that later attempt; nothing else is.
* `reached_provider` (per error): the provider may have received the request and acted on it.
  False only when that is certain not to have happened: the connection was never made, or the
  provider refused the request with 429 before doing anything.

One rule decides every retry inside a client (`may_retry_now`): the failure is transient, the
class is one worth repeating at once (not a malformed answer: the same server gives the same
answer a second later), and repeating cannot do anything twice — the request is idempotent or
it certainly did not reach the provider. A purchase is therefore never repeated blind.
"""

from __future__ import annotations

from typing import Any

import requests
from urllib3.exceptions import NewConnectionError


class ProviderError(Exception):
    """Any failure talking to a provider. `status` is the HTTP status when there was an answer."""

    provider = ""
    transient = False
    retry_in_client = False  # worth repeating at once inside the client (see may_retry_now)

    def __init__(
        self,
        message: object,
        *,
        status: int | None = None,
        code: str = "",
        retry_after: float | None = None,
        reached_provider: bool = True,
    ) -> None:
        super().__init__(message)
        self.message = str(message)
        self.status = status
        self.code = code
        self.retry_after = retry_after
        self.reached_provider = reached_provider


class ProviderRateLimited(ProviderError):
    """429: refused before acting, so it never counts as having reached the provider."""

    transient = True
    retry_in_client = True

    def __init__(self, message: object, **kwargs: Any) -> None:
        kwargs["reached_provider"] = False
        super().__init__(message, **kwargs)


class ProviderUnavailable(ProviderError):
    """5xx, timeouts, connection errors."""

    transient = True
    retry_in_client = True


class ProviderMalformedResponse(ProviderError):
    """The provider answered, but not in a shape we can read: retried later, never at once."""

    transient = True


def may_retry_now(error: ProviderError, *, idempotent: bool) -> bool:
    """The retry rule of both clients (see the module docstring)."""
    return error.transient and error.retry_in_client and (idempotent or not error.reached_provider)


def never_sent(exc: requests.RequestException) -> bool:
    """True when `requests` failed before any byte of the request reached the provider: a
    connect timeout, or a refused/unresolvable connection. A reset or a read timeout may come
    after the provider received (and acted on) the request."""
    if isinstance(exc, requests.ConnectTimeout):
        return True
    if not isinstance(exc, requests.ConnectionError):
        return False
    reason = exc.args[0] if exc.args else None
    reason = getattr(reason, "reason", reason)  # urllib3 MaxRetryError wraps the cause
    return isinstance(reason, NewConnectionError)
