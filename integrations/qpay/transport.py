"""QPay over HTTP: the session every client uses, and how an answer becomes JSON or an error
(docs/providers/qpay.md, Errors)."""

from __future__ import annotations

import os
from functools import lru_cache
from typing import Any

import requests

from integrations.qpay.errors import (
    QPayAuthError,
    QPayBadRequest,
    QPayMalformedResponse,
    QPayNotFound,
    QPayRateLimited,
    QPayUnavailable,
)

# What requests reads from the environment for a call: proxies, their exceptions and a CA bundle.
REQUESTS_ENVIRONMENT = (
    "HTTPS_PROXY",
    "https_proxy",
    "HTTP_PROXY",
    "http_proxy",
    "ALL_PROXY",
    "all_proxy",
    "NO_PROXY",
    "no_proxy",
    "REQUESTS_CA_BUNDLE",
    "CURL_CA_BUNDLE",
)


def new_session(base_url: str) -> requests.Session:
    """A session honouring the proxy and CA-bundle environment exactly as requests would, read once
    per base URL and environment instead of on every call. With trust_env, requests scans the whole
    environment twice per request for proxies (~0.5 ms of CPU per QPay call, profiled), and would
    also let a ~/.netrc entry overwrite our Authorization header."""
    environment = _environment_settings(base_url, tuple(os.environ.get(name) for name in REQUESTS_ENVIRONMENT))
    session = requests.Session()
    session.trust_env = False
    session.proxies.update(environment["proxies"])
    session.verify = environment["verify"]
    return session


@lru_cache(maxsize=16)
def _environment_settings(base_url: str, _environment: tuple) -> dict:
    """requests' own reading of the environment for this host (`_environment` is the cache key)."""
    return dict(requests.Session().merge_environment_settings(f"{base_url}/", {}, None, None, None))


def read_response(response: requests.Response) -> Any:
    """The JSON of a 2xx answer; any other answer raised as the QPayError its `error` code and
    status say (the code first: QPay's status per code is unreliable)."""
    status = response.status_code
    try:
        body = response.json() if response.content else {}
    except ValueError:
        body = None
    if 200 <= status < 300:
        if body is None:
            raise QPayMalformedResponse("response is not JSON", status=status)
        return body
    code = message = ""
    if isinstance(body, dict):
        err = body.get("error")
        if isinstance(err, dict):  # some docs show {"error": {"code", "message"}}
            code, message = str(err.get("code") or ""), str(err.get("message") or "")
        else:
            code, message = str(err or ""), str(body.get("message") or "")
    message = message or (response.text or "")[:200]
    retry_after = None
    if response.headers.get("Retry-After"):
        try:
            retry_after = float(response.headers["Retry-After"])
        except ValueError:
            retry_after = None
    kwargs: dict[str, Any] = {"code": code, "status": status, "retry_after": retry_after}
    if status == 429:
        raise QPayRateLimited(message or "rate limited", **kwargs)
    if status >= 500:
        raise QPayUnavailable(message or "server error", **kwargs)
    if status in (401, 403) or code in ("AUTHENTICATION_FAILED", "NO_CREDENDIALS", "PERMISSION_DENIED"):
        raise QPayAuthError(message or "unauthorised", **kwargs)
    if status == 404 or code.endswith("NOTFOUND"):
        raise QPayNotFound(message or "not found", **kwargs)
    raise QPayBadRequest(message or "bad request", **kwargs)
