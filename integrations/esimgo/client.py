"""HTTP client for the eSIM Go API v2.4 (docs/providers/esimgo.md).

Knows HTTP and JSON, nothing of Django models. Settings are read at call time:
ESIMGO_BASE_URL, ESIMGO_API_KEY, ESIMGO_CONNECT_TIMEOUT, ESIMGO_READ_TIMEOUT,
ESIMGO_MAX_RETRIES, ESIMGO_RATE_LIMIT_PER_SECOND.

Behaviour worth knowing:
* Every call carries `X-API-Key` and an explicit (connect, read) timeout, and first takes a
  slot from the limiter shared by all processes (integrations.esimgo.ratelimit).
* Retries (at most ESIMGO_MAX_RETRIES) only on 429, 5xx, timeouts and connection errors,
  with exponential backoff that honours `Retry-After`. A Retry-After longer than
  `max_retry_after` is not slept through: the error is raised for the caller to schedule.
* Requests that spend money or change state irreversibly — a purchase
  (`create_order(validate=False)`) and a revoke transaction — are never retried: they may
  have succeeded. They raise with `outcome_unknown=True` and the caller reconciles
  (GET /orders, /esims/assignments).
* Every answer is a frozen dataclass of integrations.esimgo.answers, parsed once by
  integrations.esimgo.parsing where the spec and the live API disagree (docs/providers/esimgo.md,
  Spec vs live). Money is Decimal.
* The API key is never logged.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable, Iterator
from types import TracebackType
from typing import Any
from urllib.parse import quote

import requests
from django.conf import settings

from integrations.errors import may_retry_now, never_sent
from integrations.esimgo.answers import (
    CatalogueBundle,
    CataloguePage,
    EsimBundle,
    ESIMGoOrder,
    EsimInstall,
    EsimProfile,
    OrderList,
    Organisation,
    RevokeAnswer,
)
from integrations.esimgo.errors import (
    ESIMGoAuthError,
    ESIMGoBadRequest,
    ESIMGoError,
    ESIMGoMalformedResponse,
    ESIMGoNotFound,
    ESIMGoRateLimited,
    ESIMGoRefused,
    ESIMGoUnavailable,
    is_auth_403,
)
from integrations.esimgo.parsing import (
    parse_assignments,
    parse_bundle,
    parse_esim,
    parse_esim_bundle,
    parse_order,
    parse_order_list,
    parse_organisation,
    parse_revoke,
)
from integrations.esimgo.ratelimit import RateLimiter, get_rate_limiter
from integrations.esimgo.values import as_list, format_time, optional_int, parse_bool, parse_retry_after

# The errors are part of the client's interface: callers import them from here.
__all__ = [
    "ESIMGoAuthError",
    "ESIMGoBadRequest",
    "ESIMGoClient",
    "ESIMGoError",
    "ESIMGoMalformedResponse",
    "ESIMGoNotFound",
    "ESIMGoRateLimited",
    "ESIMGoRefused",
    "ESIMGoUnavailable",
]

logger = logging.getLogger(__name__)

USER_AGENT = "esimshop/1.0 (+django)"


class ESIMGoClient:
    backoff_base = 0.5  # seconds; doubles per attempt
    backoff_max = 8.0
    max_retry_after = 30.0  # longer Retry-After → raise and let the caller schedule
    max_catalogue_pages = 10_000

    def __init__(
        self,
        *,
        base_url: str | None = None,
        api_key: str | None = None,
        session: requests.Session | None = None,
        rate_limiter: RateLimiter | None = None,
        sleep: Callable[[float], object] | None = None,
        shopper: bool = False,
    ) -> None:
        # shopper=True: calls a shopper's request causes (purchase validation); they may not use the
        # share of the request budget kept for provisioning paid orders (integrations/esimgo/ratelimit.py).
        self.shopper = shopper
        self._base_url = base_url
        self._api_key = api_key
        self.session = session or requests.Session()
        self.session.headers.update({"User-Agent": USER_AGENT})
        self.rate_limiter: RateLimiter = rate_limiter or get_rate_limiter()
        self.sleep = sleep or time.sleep  # injectable so tests don't wait

    # Settings are read at call time so a long-lived client follows configuration.
    @property
    def base_url(self) -> str:
        return (self._base_url or settings.ESIMGO_BASE_URL).rstrip("/")

    @property
    def api_key(self) -> str:
        return self._api_key if self._api_key is not None else settings.ESIMGO_API_KEY

    @property
    def timeout(self) -> tuple[float, float]:
        return (float(settings.ESIMGO_CONNECT_TIMEOUT), float(settings.ESIMGO_READ_TIMEOUT))

    def close(self) -> None:
        """Close pooled connections now (an open keep-alive socket pins a server thread and its
        DB connection, e.g. in live-server tests). urllib3 2.8's PoolManager.clear() only drops
        its pools without closing them, so close each pool explicitly."""
        for adapter in self.session.adapters.values():
            pools: Any = getattr(getattr(adapter, "poolmanager", None), "pools", None)
            for key in list(pools.keys()) if pools is not None else []:
                pool = pools.get(key)
                if pool is not None:
                    pool.close()
        self.session.close()

    def __enter__(self) -> ESIMGoClient:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self.close()

    def __repr__(self) -> str:  # never show the key
        return f"<ESIMGoClient {self.base_url}>"

    # --- transport ---------------------------------------------------------------------

    def _backoff(self, attempt: int, retry_after: float | None) -> float:
        if retry_after is not None:
            return retry_after
        delay = min(self.backoff_max, self.backoff_base * 2.0**attempt)
        return delay + random.uniform(0, delay * 0.1)

    def _error_for(self, response: requests.Response) -> ESIMGoError:
        status = response.status_code
        try:
            body = response.json()
            message = body.get("message") if isinstance(body, dict) else None
        except ValueError:
            message = None
        provider_message = str(message or "").strip()
        message = str(message or response.text[:200] or response.reason or "error").strip()
        retry_after = parse_retry_after(response.headers.get("Retry-After"))
        if status == 401 or (status == 403 and is_auth_403(provider_message)):
            return ESIMGoAuthError(message, status)
        if status == 403:
            return ESIMGoRefused(message, status)
        if status == 404:
            return ESIMGoNotFound(message, status)
        if status == 429:
            return ESIMGoRateLimited(message, status, retry_after)
        if status >= 500:
            return ESIMGoUnavailable(message, status, retry_after)
        return ESIMGoBadRequest(message, status)

    def request(
        self,
        method: str,
        path: str,
        *,
        params: Any = None,
        json_body: Any = None,
        accept: str = "application/json",
        retry: bool = True,
    ) -> requests.Response:
        """Send one API call; returns the `requests.Response` of a 2xx answer or raises."""
        url = f"{self.base_url}/{path.lstrip('/')}"
        headers = {"X-API-Key": self.api_key, "Accept": accept}
        max_retries = max(int(settings.ESIMGO_MAX_RETRIES), 0) if retry else 0
        attempt = 0
        while True:
            if self.shopper:
                self.rate_limiter.acquire(shopper=True)
            else:
                self.rate_limiter.acquire()
            started = time.monotonic()
            try:
                response = self.session.request(
                    method, url, params=params, json=json_body, headers=headers, timeout=self.timeout
                )
            except (requests.Timeout, requests.ConnectionError) as exc:
                failed = "timed out" if isinstance(exc, requests.Timeout) else "connection failed"
                error: ESIMGoError = ESIMGoUnavailable(
                    f"eSIM Go {failed}: {type(exc).__name__}",
                    outcome_unknown=not retry,
                    reached_provider=not never_sent(exc),
                )
            except requests.RequestException as exc:
                raise ESIMGoUnavailable(f"eSIM Go request failed: {type(exc).__name__}") from exc
            else:
                elapsed_ms = (time.monotonic() - started) * 1000
                logger.info("esimgo %s %s -> %s (%.0f ms)", method, path, response.status_code, elapsed_ms)
                if 200 <= response.status_code < 300:
                    return response
                error = self._error_for(response)
                if not retry and response.status_code >= 500:
                    error.outcome_unknown = True
                # A Response keeps its socket open until collected; the raised error's
                # traceback holds this frame, so drop the reference.
                del response
            # Purchases and revokes (retry=False) get no retries at all: provisioning decides.
            if not may_retry_now(error, idempotent=retry) or attempt >= max_retries:
                raise error
            if error.retry_after is not None and error.retry_after > self.max_retry_after:
                raise error
            delay = self._backoff(attempt, error.retry_after)
            logger.warning(
                "esimgo %s %s failed (%s); retry %d/%d in %.1fs", method, path, error, attempt + 1, max_retries, delay
            )
            self.sleep(delay)
            attempt += 1

    def _json(self, method: str, path: str, **kwargs: Any) -> Any:
        response = self.request(method, path, **kwargs)
        try:
            return response.json()
        except ValueError:
            raise ESIMGoMalformedResponse(
                f"eSIM Go {method} {path} returned non-JSON ({response.headers.get('Content-Type', '?')})",
                response.status_code,
                # a 2xx to a non-retried (state-changing) call: it probably happened
                outcome_unknown=not kwargs.get("retry", True),
            ) from None

    # --- catalogue ---------------------------------------------------------------------

    def iter_catalogue(self, per_page: int = 1000, **filters: Any) -> Iterator[CataloguePage]:
        """Every page of GET /catalogue. Filters: countries, region, group, description,
        direction, orderBy (passed through as eSIM Go names them)."""
        page = 1
        collected = 0
        previous_names: list[str] | None = None
        while True:
            params: dict[str, Any] = {"page": page, "perPage": per_page}
            params.update({k: v for k, v in filters.items() if v not in (None, "")})
            data = self._json("GET", "/catalogue", params=params)
            raw_bundles: Any
            page_count: int | None
            rows: int | None
            if isinstance(data, list):  # the spec's bare-array shape
                raw_bundles, page_count, rows = data, None, None
            elif isinstance(data, dict):
                raw_bundles = data.get("bundles")
                if not isinstance(raw_bundles, list):
                    raise ESIMGoMalformedResponse(f"catalogue page {page} without a bundles list")
                page_count = optional_int(data.get("pageCount"), field_name="pageCount")
                rows = optional_int(data.get("rows"), field_name="rows")
            else:
                raise ESIMGoMalformedResponse(f"catalogue page {page} is neither an object nor a list")
            bundles = tuple(parse_bundle(raw) for raw in raw_bundles)
            names = [b.name for b in bundles]
            if previous_names is not None and names and names == previous_names:
                # The server ignored `page`: stopping here would look like a short catalogue.
                raise ESIMGoMalformedResponse(f"catalogue page {page} repeats page {page - 1}")
            previous_names = names
            collected += len(bundles)
            yield CataloguePage(page=page, page_count=page_count, rows=rows, bundles=bundles)
            if page >= self.max_catalogue_pages or self._last_catalogue_page(
                page, page_count, rows, collected, len(bundles), per_page
            ):
                return
            page += 1

    @staticmethod
    def _last_catalogue_page(
        page: int, page_count: int | None, rows: int | None, collected: int, page_size: int, per_page: int
    ) -> bool:
        """eSIM Go's own counts decide when it sent them: a short page before `pageCount` does not
        end the catalogue (the live API caps pages below a large perPage). Only without any count
        (the spec's bare array) does a short page mean the end."""
        if page_count is not None:
            return page >= page_count
        if rows is not None:
            return collected >= rows
        return page_size < per_page

    def get_bundle(self, name: str) -> CatalogueBundle:
        data = self._json("GET", f"/catalogue/bundle/{quote(name, safe='')}")
        if isinstance(data, dict) and isinstance(data.get("bundle"), dict):
            data = data["bundle"]
        return parse_bundle(data)

    # --- orders ------------------------------------------------------------------------

    def create_order(
        self, bundle_name: str, *, validate: bool = False, iccid: str | None = None, allow_reassign: bool = False
    ) -> ESIMGoOrder:
        """POST /orders, quantity 1, assign true. validate=False is a purchase: never retried."""
        line: dict[str, Any] = {
            "type": "bundle",
            "quantity": 1,
            "item": bundle_name,
            "allowReassign": bool(allow_reassign),
        }
        if iccid:
            line["iccids"] = [str(iccid)]
        body = {"type": "validate" if validate else "transaction", "assign": True, "order": [line]}
        data = self._json("POST", "/orders", json_body=body, retry=validate)
        return parse_order(data, outcome_unknown=not validate)

    def list_orders(
        self,
        *,
        created_from: Any = None,
        created_to: Any = None,
        page: int = 1,
        limit: int = 100,
        include_iccids: bool = True,
    ) -> OrderList:
        """One page of GET /orders; `created_from`/`created_to` are datetimes (or eSIM Go's text)."""
        params: list[tuple[str, Any]] = [
            ("page", page),
            ("limit", limit),
            ("includeIccids", "true" if include_iccids else "false"),
        ]
        if created_from is not None:
            params.append(("createdAt", f"gte:{format_time(created_from)}"))
        if created_to is not None:
            params.append(("createdAt", f"lte:{format_time(created_to)}"))
        return parse_order_list(self._json("GET", "/orders", params=params))

    def get_order(self, reference: str) -> ESIMGoOrder:
        return parse_order(self._json("GET", f"/orders/{quote(str(reference), safe='')}"))

    # --- eSIMs -------------------------------------------------------------------------

    def get_assignments(self, reference: str) -> tuple[EsimInstall, ...]:
        response = self.request("GET", "/esims/assignments", params={"reference": str(reference)})
        content_type = response.headers.get("Content-Type", "")
        body: Any
        if "json" in content_type or response.content.lstrip()[:1] in (b"{", b"["):
            try:
                body = response.json()
            except ValueError:
                raise ESIMGoMalformedResponse("assignments response is not JSON") from None
        else:
            body = response.content
        return parse_assignments(body)

    def set_customer_ref(self, iccid: str, customer_ref: str) -> None:
        self.request("PUT", "/esims", json_body={"iccid": str(iccid), "customerRef": str(customer_ref)})

    def get_esim(self, iccid: str) -> EsimProfile:
        return parse_esim(self._json("GET", f"/esims/{quote(str(iccid), safe='')}"))

    def get_esim_bundles(self, iccid: str, include_used: bool = True) -> tuple[EsimBundle, ...]:
        data = self._json(
            "GET",
            f"/esims/{quote(str(iccid), safe='')}/bundles",
            params={"includeUsed": "true" if include_used else "false", "limit": 200},
        )
        if isinstance(data, dict):
            data = data.get("bundles")
        return tuple(parse_esim_bundle(b) for b in as_list(data, field_name="bundles"))

    def is_compatible(self, iccid: str, bundle_name: str) -> bool:
        data = self._json("GET", f"/esims/{quote(str(iccid), safe='')}/compatible/{quote(bundle_name, safe='')}")
        if not isinstance(data, dict) or "compatible" not in data:
            raise ESIMGoMalformedResponse("compatibility response without `compatible`")
        return parse_bool(data["compatible"])

    def revoke_bundle(
        self,
        iccid: str,
        bundle_name: str,
        *,
        validate: bool = False,
        refund_to_balance: bool = False,
        offer_id: str = "",
    ) -> RevokeAnswer:
        """DELETE /esims/{iccid}/bundles/{name}. A refund to the balance needs the `offer_id` the
        validate answer offers (docs/providers/esimgo.md, Refunds): pass it with the transaction."""
        params = {"type": "validate" if validate else "transaction"}
        if refund_to_balance:
            params["refundToBalance"] = "true"
        if offer_id:
            params["offerId"] = str(offer_id)
        data = self._json(
            "DELETE",
            f"/esims/{quote(str(iccid), safe='')}/bundles/{quote(bundle_name, safe='')}",
            params=params,
            retry=validate,
        )
        return parse_revoke(data)

    # --- organisation ------------------------------------------------------------------

    def get_organisation(self, *, retry: bool = True) -> Organisation:
        """GET /organisation; retry=False for a health probe that must answer within its timeout."""
        return parse_organisation(self._json("GET", "/organisation", retry=retry))
