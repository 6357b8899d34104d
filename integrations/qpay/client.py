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

import logging
import random
import time
from typing import Any

import requests
from django.conf import settings

from integrations.errors import may_retry_now, never_sent
from integrations.qpay.answers import (
    CancelledEbarimt,
    CreatedInvoice,
    InvoiceInfo,
    IssuedEbarimt,
    PaymentCheck,
    PaymentList,
    PaymentReversal,
    PaymentRow,
    to_count,
    to_decimal,
)
from integrations.qpay.errors import (
    QPayAuthError,
    QPayBadRequest,
    QPayError,
    QPayMalformedResponse,
    QPayNotFound,
    QPayRateLimited,
    QPayUnavailable,
)
from integrations.qpay.tokens import TOKEN_RENEW_LEEWAY_SECONDS, cache, jwt_claim, store_token, token_cache_key
from integrations.qpay.transport import REQUESTS_ENVIRONMENT, new_session, read_response

# The errors, answers and jwt_claim are part of the client's interface: callers import them from here.
__all__ = [
    "CancelledEbarimt",
    "CreatedInvoice",
    "InvoiceInfo",
    "IssuedEbarimt",
    "PaymentCheck",
    "PaymentList",
    "PaymentReversal",
    "PaymentRow",
    "QPayAuthError",
    "QPayBadRequest",
    "QPayClient",
    "QPayError",
    "QPayMalformedResponse",
    "QPayNotFound",
    "QPayRateLimited",
    "QPayUnavailable",
    "REQUESTS_ENVIRONMENT",
    "jwt_claim",
]

logger = logging.getLogger(__name__)

TOKEN_LOCK_SECONDS = 15
TOKEN_LOCK_WAIT_SECONDS = 5.0
MAX_BACKOFF_SECONDS = 8.0
CHECK_PAGE_LIMIT = 100
CHECK_MAX_PAGES = 20


class QPayClient:
    def __init__(
        self,
        *,
        base_url: str | None = None,
        client_id: str | None = None,
        client_secret: str | None = None,
        invoice_code: str | None = None,
        connect_timeout: float | None = None,
        read_timeout: float | None = None,
        max_retries: int | None = None,
        session: requests.Session | None = None,
    ) -> None:
        self.base_url = (base_url or settings.QPAY_BASE_URL).rstrip("/")
        self.client_id = client_id if client_id is not None else settings.QPAY_CLIENT_ID
        self.client_secret = client_secret if client_secret is not None else settings.QPAY_CLIENT_SECRET
        self.invoice_code = invoice_code if invoice_code is not None else settings.QPAY_INVOICE_CODE
        self.timeout: tuple[float, float] = (
            connect_timeout if connect_timeout is not None else settings.QPAY_CONNECT_TIMEOUT,
            read_timeout if read_timeout is not None else settings.QPAY_READ_TIMEOUT,
        )
        self.max_retries: int = max_retries if max_retries is not None else settings.QPAY_MAX_RETRIES
        self.session = session or new_session(self.base_url)
        self._token_key = token_cache_key(self.base_url, self.client_id)

    def _url(self, path: str) -> str:
        return f"{self.base_url}/v2/{path.lstrip('/')}"

    # -- auth --

    def get_access_token(self, *, rejected: str | None = None) -> str:
        """A valid bearer token, shared through the cache; one process renews at a time.

        `rejected` is a token QPay just answered 401 to: any other cached token is fine
        (another process may have renewed already), that one is not.
        """
        token = self._cached_token(rejected)
        if token:
            return token
        lock_key = f"{self._token_key}:lock"
        deadline = time.monotonic() + TOKEN_LOCK_WAIT_SECONDS
        while not cache.add(lock_key, "1", TOKEN_LOCK_SECONDS):
            # Someone else is fetching: wait for their token rather than stampede QPay.
            time.sleep(0.05)
            token = self._cached_token(rejected)
            if token:
                return token
            if time.monotonic() > deadline:
                break  # the holder died or hangs; its lock expires by itself, fetch ourselves
        try:
            token = self._cached_token(rejected)
            if token:
                return token
            return str(store_token(self._token_key, self._fetch_token())["access_token"])
        finally:
            cache.delete(lock_key)

    def _cached_token(self, rejected: str | None) -> str | None:
        cached = cache.get(self._token_key)
        token = cached.get("access_token") if isinstance(cached, dict) else None
        return str(token) if token and token != rejected else None

    def _fetch_token(self) -> dict[str, Any]:
        previous = cache.get(f"{self._token_key}:refresh")
        if previous and previous["refresh_expires_at"] - TOKEN_RENEW_LEEWAY_SECONDS / 2 > time.time():
            try:
                return self._auth_call("auth/refresh", headers={"Authorization": f"Bearer {previous['refresh_token']}"})
            except QPayError as exc:
                logger.info("QPay token refresh failed (%s); falling back to Basic auth", exc.code or exc.status)
        return self._auth_call("auth/token", auth=(self.client_id, self.client_secret))

    def _auth_call(self, path: str, **kwargs: Any) -> dict[str, Any]:
        data = self._send("POST", path, retry="all", **kwargs)
        if not isinstance(data, dict) or not data.get("access_token") or "expires_in" not in data:
            raise QPayMalformedResponse("token response without access_token/expires_in")
        return data

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

    def _call(self, method: str, path: str, *, json: Any = None, retry: str = "all") -> Any:
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

    def _send(
        self,
        method: str,
        path: str,
        *,
        retry: str,
        json: Any = None,
        headers: dict[str, str] | None = None,
        auth: tuple[str, str] | None = None,
    ) -> Any:
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

    def _send_once(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        headers: dict[str, str] | None = None,
        auth: tuple[str, str] | None = None,
    ) -> Any:
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
        return read_response(response)

    # -- invoices --

    def create_invoice(
        self,
        *,
        sender_invoice_no: str,
        amount: int,
        description: str,
        callback_url: str,
        receiver_code: str = "terminal",
        lines: list[dict[str, Any]] | None = None,
        receiver_data: dict[str, Any] | None = None,
        note: str = "",
    ) -> CreatedInvoice:
        if not isinstance(amount, int) or isinstance(amount, bool) or amount <= 0:
            raise ValueError("amount must be a positive integer number of MNT")
        payload: dict[str, Any] = {
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
        return CreatedInvoice.from_wire(self._call("POST", "invoice", json=payload, retry="unsent"))

    def get_invoice(self, invoice_id: str) -> InvoiceInfo:
        return InvoiceInfo.from_wire(self._call("GET", f"invoice/{invoice_id}"), invoice_id=invoice_id)

    def cancel_invoice(self, invoice_id: str) -> None:
        """DELETE /v2/invoice/{id} → {} (status becomes CANCELED at QPay): nothing to read."""
        self._call("DELETE", f"invoice/{invoice_id}")

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
            count = to_count(data.get("count"))
            if data.get("paid_amount") is not None:
                paid_amount = to_decimal(data["paid_amount"])
            if len(page_rows) < page_limit or len(rows) >= count:
                break
        return PaymentCheck(count=count, paid_amount=paid_amount, rows=rows)

    def get_payment(self, payment_id: str) -> PaymentRow:
        return PaymentRow.from_wire(self._call("GET", f"payment/{payment_id}"))

    def list_payments(
        self, *, object_type: str = "INVOICE", object_id: str, page_number: int = 1, page_limit: int = CHECK_PAGE_LIMIT
    ) -> PaymentList:
        """One page of POST /v2/payment/list (object_type MERCHANT lists the whole merchant's)."""
        data = self._call(
            "POST",
            "payment/list",
            json={
                "object_type": object_type,
                "object_id": object_id,
                "offset": {"page_number": page_number, "page_limit": page_limit},
            },
        )
        if not isinstance(data, dict) or not isinstance(data.get("rows") or [], list):
            raise QPayMalformedResponse("payment/list is not {count, rows}")
        return PaymentList(
            count=to_count(data.get("count")), rows=tuple(PaymentRow.from_wire(r) for r in data.get("rows") or [])
        )

    def cancel_payment(self, payment_id: str, *, callback_url: str = "", note: str = "") -> PaymentReversal:
        """Card payments only (QPay refuses P2P). Not retried on transport errors: it moves money."""
        return self._reverse("cancel", payment_id, callback_url=callback_url, note=note)

    def refund_payment(self, payment_id: str, *, callback_url: str = "", note: str = "") -> PaymentReversal:
        """Card payments only; bank-app (P2P) payments are refunded by hand in the merchant portal."""
        return self._reverse("refund", payment_id, callback_url=callback_url, note=note)

    def _reverse(self, action: str, payment_id: str, *, callback_url: str, note: str) -> PaymentReversal:
        body = {key: value for key, value in (("callback_url", callback_url), ("note", note)) if value}
        data = self._call("DELETE", f"payment/{action}/{payment_id}", json=body, retry="unsent")
        return PaymentReversal(raw=data if isinstance(data, dict) else {})

    # -- e-barimt (VAT receipt) v3 --

    def create_ebarimt(
        self,
        *,
        payment_id: str,
        receiver_type: str,
        receiver: str = "",
        district_code: str = "",
        classification_code: str = "",
    ) -> IssuedEbarimt:
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
        return IssuedEbarimt.from_wire(self._call("POST", "ebarimt_v3/create", json=body, retry="unsent"))

    def cancel_ebarimt(self, payment_id: str) -> CancelledEbarimt:
        """DELETE /v2/ebarimt_v3/{payment_id} → barimt_status CANCELED."""
        data = self._call("DELETE", f"ebarimt_v3/{payment_id}", retry="unsent")
        data = data if isinstance(data, dict) else {}
        return CancelledEbarimt(status=str(data.get("barimt_status") or "").upper(), raw=data)
