"""QPay merchant API v2 client. Speaks HTTP only; knows nothing of our models.

Wire facts this client relies on (docs/providers/qpay.md):
- POST /v2/auth/token with Basic auth returns `expires_in` as an ABSOLUTE unix timestamp
  (about +24 h), and `refresh_expires_in` equal to it. We cache the token in the Django cache
  (Redis in production, shared by every web and worker process) and re-authenticate with
  Basic auth shortly before it expires. A small value is read as a TTL, in case QPay ever
  fixes its OAuth deviation. Refresh is only tried as an optimisation.
- Errors are `{"error": "<CODE>", "message": "<text>"}`; the HTTP status per code is not
  reliable (INVOICE_NOTFOUND has been seen as 422), so classification keys off `error` first.
- Amounts arrive as strings ("10.00") or numbers: always Decimal(str(x)).
- Field spellings vary: payment_wallet/payemnt_wallet, trx_fee/payment_fee,
  payment_type/transaction_type/paid_by, CANCELED/CANCELLED.

Retries: only 429, 5xx, timeouts and connection errors, with exponential backoff honouring
Retry-After, at most QPAY_MAX_RETRIES. Never on 4xx. Invoice creation is the exception: it
is retried only when the request certainly did not reach QPay (connect timeout / refused)
or was refused with 429. A read timeout or 5xx after sending may have created the invoice
at QPay; QPay does not dedupe `sender_invoice_no`, so a blind retry could leave two
payable invoices. The caller treats that failure as "unreachable", cancels its own row,
and the orphan (if any) is unpayable in practice because nobody ever saw its QR.
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import os
import random
import time
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from functools import lru_cache
from typing import Any

import requests
from django.conf import settings
from django.core.cache import cache as _shared_cache

from esimshop.infrastructure import CACHE_ERRORS
from integrations.errors import (
    ProviderError,
    ProviderMalformedResponse,
    ProviderRateLimited,
    ProviderUnavailable,
    may_retry_now,
    never_sent,
)

logger = logging.getLogger(__name__)


class _FailOpenCache:
    """The shared token cache, failing open: with Redis down every process fetches its own token
    (QPay allows it) instead of failing the payment check or purchase that needed one."""

    def get(self, key, default=None):
        try:
            return _shared_cache.get(key, default)
        except CACHE_ERRORS:
            return default

    def add(self, key, value, timeout):
        try:
            return _shared_cache.add(key, value, timeout)
        except CACHE_ERRORS:
            return True  # as if the renewal lock were ours: fetch the token ourselves

    def set(self, key, value, timeout):
        try:
            _shared_cache.set(key, value, timeout)
        except CACHE_ERRORS:
            pass

    def delete(self, key):
        try:
            _shared_cache.delete(key)
        except CACHE_ERRORS:
            pass

    def delete_many(self, keys):
        try:
            _shared_cache.delete_many(keys)
        except CACHE_ERRORS:
            pass


cache = _FailOpenCache()

TOKEN_RENEW_LEEWAY_SECONDS = 60
# Anything below this is a TTL, not a unix timestamp (10**9 s after the epoch is 2001).
ABSOLUTE_TIMESTAMP_THRESHOLD = 1_000_000_000
TOKEN_LOCK_SECONDS = 15
TOKEN_LOCK_WAIT_SECONDS = 5.0
MAX_BACKOFF_SECONDS = 8.0
CHECK_PAGE_LIMIT = 100
CHECK_MAX_PAGES = 20


# --- Errors -------------------------------------------------------------------------------


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
    ):
        super().__init__(message, code=code, status=status, retry_after=retry_after, reached_provider=reached_provider)

    def __str__(self):
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


# --- Parsing helpers ----------------------------------------------------------------------


def to_decimal(value: Any) -> Decimal | None:
    """QPay amounts: strings or numbers; None/"" stay None. Never via float."""
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        raise QPayMalformedResponse(f"amount is a boolean: {value!r}")
    try:
        return Decimal(str(value))
    except (InvalidOperation, ValueError) as exc:
        raise QPayMalformedResponse(f"amount is not a number: {value!r}") from exc


def normalise_invoice_status(value: Any) -> str:
    """OPEN / CLOSED / CANCELLED (QPay sends CANCELED in practice, its docs say CANCELLED)."""
    status = str(value or "").strip().upper()
    return "CANCELLED" if status in ("CANCELED", "CANCELLED") else status


def _first(data: dict, *keys, default=None):
    for key in keys:
        if key in data and data[key] is not None:
            return data[key]
    return default


@dataclass(frozen=True)
class CreatedInvoice:
    invoice_id: str
    qr_text: str
    qr_image: str  # bare base64 PNG
    short_url: str
    urls: list[dict]
    raw: dict


@dataclass(frozen=True)
class InvoiceInfo:
    invoice_id: str
    status: str  # normalised: OPEN, CLOSED, CANCELLED, ...
    total_amount: Decimal | None
    sender_invoice_no: str
    raw: dict


@dataclass(frozen=True)
class PaymentRow:
    payment_id: str
    status: str
    amount: Decimal
    currency: str
    fee: Decimal | None
    payment_type: str
    wallet: str
    payment_date: str
    object_type: str
    object_id: str
    raw: dict

    @property
    def is_paid(self) -> bool:
        return self.status == "PAID"

    @classmethod
    def from_wire(cls, row: dict) -> PaymentRow:
        if not isinstance(row, dict) or not row.get("payment_id"):
            raise QPayMalformedResponse(f"payment row without payment_id: {row!r}"[:300])
        amount = to_decimal(_first(row, "payment_amount", "amount"))
        return cls(
            payment_id=str(row["payment_id"]),
            status=str(row.get("payment_status") or "").upper(),
            amount=amount if amount is not None else Decimal("0"),
            currency=str(_first(row, "payment_currency", "currency", default="MNT")),
            fee=to_decimal(_first(row, "trx_fee", "payment_fee")),
            payment_type=str(_first(row, "payment_type", "transaction_type", "paid_by", default="")).upper(),
            wallet=str(_first(row, "payment_wallet", "payemnt_wallet", default="")),
            payment_date=str(_first(row, "payment_date", "payment_datetime", default="")),
            object_type=str(row.get("object_type") or ""),
            object_id=str(row.get("object_id") or ""),
            raw=row,
        )


@dataclass(frozen=True)
class PaymentCheck:
    count: int
    paid_amount: Decimal | None  # absent (None) when nothing was paid
    rows: list[PaymentRow] = field(default_factory=list)

    @property
    def paid_rows(self) -> list[PaymentRow]:
        return [r for r in self.rows if r.is_paid]

    @property
    def total_paid(self) -> Decimal:
        """Money in: only PAID rows count (a REFUNDED row keeps its positive amount)."""
        return sum((r.amount for r in self.paid_rows), Decimal("0"))


# --- Token cache ----------------------------------------------------------------------------


def _token_cache_key(base_url: str, client_id: str) -> str:
    digest = hashlib.sha256(f"{base_url}|{client_id}".encode()).hexdigest()[:24]
    return f"qpay:token:{digest}"


def read_expiry(value: Any, now: float) -> float:
    """`expires_in` → absolute unix time. QPay sends a timestamp; tolerate a TTL."""
    try:
        number = float(value)
    except (TypeError, ValueError) as exc:
        raise QPayMalformedResponse(f"expires_in is not a number: {value!r}") from exc
    return number if number >= ABSOLUTE_TIMESTAMP_THRESHOLD else now + number


# --- Client ---------------------------------------------------------------------------------

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


class QPayClient:
    def __init__(
        self,
        *,
        base_url=None,
        client_id=None,
        client_secret=None,
        invoice_code=None,
        connect_timeout=None,
        read_timeout=None,
        max_retries=None,
        session=None,
    ):
        self.base_url = (base_url or settings.QPAY_BASE_URL).rstrip("/")
        self.client_id = client_id if client_id is not None else settings.QPAY_CLIENT_ID
        self.client_secret = client_secret if client_secret is not None else settings.QPAY_CLIENT_SECRET
        self.invoice_code = invoice_code if invoice_code is not None else settings.QPAY_INVOICE_CODE
        self.timeout = (
            connect_timeout if connect_timeout is not None else getattr(settings, "QPAY_CONNECT_TIMEOUT", 5.0),
            read_timeout if read_timeout is not None else getattr(settings, "QPAY_READ_TIMEOUT", 20.0),
        )
        self.max_retries = max_retries if max_retries is not None else getattr(settings, "QPAY_MAX_RETRIES", 2)
        self.session = session or new_session(self.base_url)
        self._token_key = _token_cache_key(self.base_url, self.client_id)

    def _url(self, path: str) -> str:
        return f"{self.base_url}/v2/{path.lstrip('/')}"

    # -- auth --

    def get_access_token(self, *, rejected: str | None = None) -> str:
        """A valid bearer token, shared through the cache; one process renews at a time.

        `rejected` is a token QPay just answered 401 to: any other cached token is fine
        (another process may have renewed already), that one is not.
        """
        cached = cache.get(self._token_key)
        if cached and cached["access_token"] != rejected:
            return cached["access_token"]
        lock_key = f"{self._token_key}:lock"
        deadline = time.monotonic() + TOKEN_LOCK_WAIT_SECONDS
        while not cache.add(lock_key, "1", TOKEN_LOCK_SECONDS):
            # Someone else is fetching: wait for their token rather than stampede QPay.
            time.sleep(0.05)
            cached = cache.get(self._token_key)
            if cached and cached["access_token"] != rejected:
                return cached["access_token"]
            if time.monotonic() > deadline:
                break  # the holder died or hangs; its lock expires by itself, fetch ourselves
        try:
            cached = cache.get(self._token_key)
            if cached and cached["access_token"] != rejected:
                return cached["access_token"]
            return self._store_token(self._fetch_token())["access_token"]
        finally:
            cache.delete(lock_key)

    def _fetch_token(self) -> dict:
        previous = cache.get(f"{self._token_key}:refresh")
        if previous and previous["refresh_expires_at"] - TOKEN_RENEW_LEEWAY_SECONDS / 2 > time.time():
            try:
                return self._auth_call("auth/refresh", headers={"Authorization": f"Bearer {previous['refresh_token']}"})
            except QPayError as exc:
                logger.info("QPay token refresh failed (%s); falling back to Basic auth", exc.code or exc.status)
        return self._auth_call("auth/token", auth=(self.client_id, self.client_secret))

    def _auth_call(self, path: str, **kwargs) -> dict:
        data = self._send("POST", path, retry="all", **kwargs)
        if not isinstance(data, dict) or not data.get("access_token") or "expires_in" not in data:
            raise QPayMalformedResponse("token response without access_token/expires_in")
        return data

    def _store_token(self, data: dict) -> dict:
        now = time.time()
        expires_at = read_expiry(data["expires_in"], now)
        refresh_expires_at = read_expiry(data.get("refresh_expires_in", data["expires_in"]), now)
        lifetime = expires_at - now
        # Renew 60 s early; for a short-lived token, renew at half its life instead.
        leeway = min(TOKEN_RENEW_LEEWAY_SECONDS, lifetime / 2)
        ttl = int(lifetime - leeway)
        token = {"access_token": data["access_token"], "expires_at": expires_at}
        if ttl > 0:
            cache.set(self._token_key, token, ttl)
        if data.get("refresh_token") and refresh_expires_at > now:
            cache.set(
                f"{self._token_key}:refresh",
                {"refresh_token": data["refresh_token"], "refresh_expires_at": refresh_expires_at},
                max(1, int(refresh_expires_at - now)),
            )
        return token

    def merchant_id(self) -> str:
        """QPay's id for this merchant, the `object_id` of an object_type MERCHANT list: settings
        QPAY_MERCHANT_ID, else the `merchant_id` claim of QPay's access token (a JWT; the public
        sandbox's says "KKTT", docs/providers/qpay.md). "" when neither says: never list with it."""
        if settings.QPAY_MERCHANT_ID:
            return str(settings.QPAY_MERCHANT_ID)
        return jwt_claim(self.get_access_token(), "merchant_id")

    def forget_token(self) -> None:
        cache.delete_many([self._token_key, f"{self._token_key}:refresh"])

    # -- transport --

    def _call(self, method: str, path: str, *, json=None, retry: str = "all") -> Any:
        """An authenticated call. One re-authentication on 401, then give up."""
        token = self.get_access_token()
        try:
            return self._send(method, path, json=json, retry=retry, headers={"Authorization": f"Bearer {token}"})
        except QPayAuthError as exc:
            if exc.status != 401:
                raise
            logger.info("QPay answered 401 to %s %s; re-authenticating once", method, path)
            token = self.get_access_token(rejected=token)
            return self._send(method, path, json=json, retry=retry, headers={"Authorization": f"Bearer {token}"})

    def _send(self, method: str, path: str, *, retry: str, json=None, headers=None, auth=None) -> Any:
        """retry: "all" (429/5xx/timeouts/connection) or "unsent" (only when nothing reached QPay)."""
        attempt = 0
        while True:
            try:
                return self._send_once(method, path, json=json, headers=headers, auth=auth)
            except QPayError as exc:
                if not exc.transient or attempt >= self.max_retries or not self._may_retry(exc, retry):
                    raise
                delay = exc.retry_after if exc.retry_after is not None else min(MAX_BACKOFF_SECONDS, 0.5 * 2**attempt)
                delay = min(MAX_BACKOFF_SECONDS, delay) * (0.8 + random.random() * 0.4)
                logger.warning("QPay %s %s failed (%s); retry %d in %.2fs", method, path, exc, attempt + 1, delay)
                time.sleep(delay)
                attempt += 1

    @staticmethod
    def _may_retry(exc: QPayError, retry: str) -> bool:
        # "unsent" marks a request that must not be repeated once QPay may have acted on it.
        return may_retry_now(exc, idempotent=retry == "all")

    def _send_once(self, method, path, *, json=None, headers=None, auth=None) -> Any:
        url = self._url(path)
        try:
            response = self.session.request(method, url, json=json, headers=headers, auth=auth, timeout=self.timeout)
        except requests.ConnectTimeout as exc:
            raise QPayUnavailable(f"connect timeout to {self.base_url}", reached_provider=False) from exc
        except requests.Timeout as exc:
            raise QPayUnavailable(f"read timeout from {self.base_url}") from exc
        except requests.ConnectionError as exc:
            # A refused connection never reached QPay; a reset mid-response might have.
            raise QPayUnavailable(
                f"cannot connect to {self.base_url}: {exc.__class__.__name__}", reached_provider=not never_sent(exc)
            ) from exc
        except requests.RequestException as exc:
            raise QPayUnavailable(f"request to {self.base_url} failed: {exc.__class__.__name__}") from exc
        return self._parse(response)

    @staticmethod
    def _parse(response: requests.Response) -> Any:
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

    # -- invoices --

    def create_invoice(
        self,
        *,
        sender_invoice_no: str,
        amount: int,
        description: str,
        callback_url: str,
        receiver_code: str = "terminal",
        lines: list[dict] | None = None,
        receiver_data: dict | None = None,
        note: str = "",
    ) -> CreatedInvoice:
        if not isinstance(amount, int) or isinstance(amount, bool) or amount <= 0:
            raise ValueError("amount must be a positive integer number of MNT")
        payload = {
            "invoice_code": self.invoice_code,
            "sender_invoice_no": sender_invoice_no,
            "invoice_receiver_code": receiver_code,
            "invoice_description": description[:255],
            "amount": amount,
            "callback_url": callback_url,
        }
        if lines:
            payload["lines"] = lines
        if receiver_data:
            payload["invoice_receiver_data"] = receiver_data
        if note:
            payload["note"] = note[:1000]
        data = self._call("POST", "invoice", json=payload, retry="unsent")
        if not isinstance(data, dict) or not data.get("invoice_id"):
            raise QPayMalformedResponse("invoice response without invoice_id")
        qr_image = str(data.get("qr_image") or "")
        if qr_image.startswith("data:") and "," in qr_image:  # tolerate a prefixed image
            qr_image = qr_image.split(",", 1)[1]
        urls: list = data["urls"] if isinstance(data.get("urls"), list) else []
        return CreatedInvoice(
            invoice_id=str(data["invoice_id"]),
            qr_text=str(data.get("qr_text") or ""),
            qr_image=qr_image,
            short_url=_http_url(_first(data, "qPay_shortUrl", "qpay_shortUrl", "short_url", default="")),
            urls=[
                {k: str(u.get(k) or "") for k in ("name", "description", "logo", "link")}
                for u in urls
                if isinstance(u, dict) and _safe_link(u.get("link"))
            ],
            raw=data,
        )

    def get_invoice(self, invoice_id: str) -> InvoiceInfo:
        data = self._call("GET", f"invoice/{invoice_id}")
        if not isinstance(data, dict):
            raise QPayMalformedResponse("invoice is not an object")
        return InvoiceInfo(
            invoice_id=str(data.get("invoice_id") or invoice_id),
            status=normalise_invoice_status(data.get("invoice_status")),
            total_amount=to_decimal(_first(data, "total_amount", "gross_amount", "amount")),
            sender_invoice_no=str(data.get("sender_invoice_no") or ""),
            raw=data,
        )

    def cancel_invoice(self, invoice_id: str) -> dict:
        """DELETE /v2/invoice/{id} → {} (status becomes CANCELED at QPay)."""
        return self._call("DELETE", f"invoice/{invoice_id}")

    # -- payments --

    def check_payment(
        self, invoice_id: str, *, object_type: str = "INVOICE", page_limit: int = CHECK_PAGE_LIMIT
    ) -> PaymentCheck:
        """POST /v2/payment/check by OUR stored QPay invoice id (never a payment id), all pages."""
        rows: list[PaymentRow] = []
        count = 0
        paid_amount = None
        for page in range(1, CHECK_MAX_PAGES + 1):
            data = self._call(
                "POST",
                "payment/check",
                json={
                    "object_type": object_type,
                    "object_id": invoice_id,
                    "offset": {"page_number": page, "page_limit": page_limit},
                },
            )
            if not isinstance(data, dict) or not isinstance(data.get("rows", []), list):
                raise QPayMalformedResponse("payment/check is not {count, rows}")
            page_rows = [PaymentRow.from_wire(r) for r in data.get("rows") or []]
            rows.extend(page_rows)
            try:
                count = int(data.get("count") or 0)
            except (TypeError, ValueError) as exc:
                raise QPayMalformedResponse(f"count is not a number: {data.get('count')!r}") from exc
            if data.get("paid_amount") is not None:
                paid_amount = to_decimal(data["paid_amount"])
            if len(page_rows) < page_limit or len(rows) >= count:
                break
        return PaymentCheck(count=count, paid_amount=paid_amount, rows=rows)

    def get_payment(self, payment_id: str) -> PaymentRow:
        return PaymentRow.from_wire(self._call("GET", f"payment/{payment_id}"))

    def list_payments(
        self, *, object_type: str = "INVOICE", object_id: str, page_number: int = 1, page_limit: int = CHECK_PAGE_LIMIT
    ) -> tuple[int, list[PaymentRow]]:
        data = self._call(
            "POST",
            "payment/list",
            json={
                "object_type": object_type,
                "object_id": object_id,
                "offset": {"page_number": page_number, "page_limit": page_limit},
            },
        )
        if not isinstance(data, dict):
            raise QPayMalformedResponse("payment/list is not an object")
        return int(data.get("count") or 0), [PaymentRow.from_wire(r) for r in data.get("rows") or []]

    def cancel_payment(self, payment_id: str, *, callback_url: str = "", note: str = "") -> dict:
        """Card payments only (QPay refuses P2P). Not retried on transport errors: it moves money."""
        return self._call(
            "DELETE", f"payment/cancel/{payment_id}", json=_money_body(callback_url, note), retry="unsent"
        )

    def refund_payment(self, payment_id: str, *, callback_url: str = "", note: str = "") -> dict:
        """Card payments only; bank-app (P2P) payments are refunded by hand in the merchant portal."""
        return self._call(
            "DELETE", f"payment/refund/{payment_id}", json=_money_body(callback_url, note), retry="unsent"
        )

    # -- e-barimt (VAT receipt) v3 --

    def create_ebarimt(
        self,
        *,
        payment_id: str,
        receiver_type: str,
        receiver: str = "",
        district_code: str = "",
        classification_code: str = "",
    ) -> dict:
        """POST /v2/ebarimt_v3/create for one PAID payment. Not retried once sent: a repeat could
        register a second receipt for the same sale."""
        if receiver_type not in ("CITIZEN", "COMPANY"):
            raise ValueError("receiver_type must be CITIZEN or COMPANY")
        body = {"payment_id": payment_id, "ebarimt_receiver_type": receiver_type}
        if receiver:
            body["ebarimt_receiver"] = receiver
        if district_code:
            body["district_code"] = district_code
        if classification_code:
            body["classification_code"] = classification_code
        data = self._call("POST", "ebarimt_v3/create", json=body, retry="unsent")
        if not isinstance(data, dict):
            raise QPayMalformedResponse("ebarimt response is not an object")
        return data

    def cancel_ebarimt(self, payment_id: str) -> dict:
        """DELETE /v2/ebarimt_v3/{payment_id} → barimt_status CANCELED."""
        data = self._call("DELETE", f"ebarimt_v3/{payment_id}", retry="unsent")
        return data if isinstance(data, dict) else {}


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


def _safe_link(link) -> bool:
    """Bank deeplinks are custom schemes (khanbank://...); never script or data URLs in our pages."""
    text = str(link or "").strip().lower()
    return bool(text) and "://" in text and not text.startswith(("javascript:", "data:", "vbscript:"))


def _http_url(value) -> str:
    text = str(value or "").strip()
    return text if text.lower().startswith(("https://", "http://")) else ""


def _money_body(callback_url: str, note: str) -> dict:
    body = {}
    if callback_url:
        body["callback_url"] = callback_url
    if note:
        body["note"] = note
    return body
