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
* Responses are parsed defensively where the spec and the live API disagree (docs/providers/esimgo.md, Spec vs live).
* Money from `normalise_bundle` / `get_organisation` is Decimal; the raw order dicts keep
  JSON numbers as parsed — read money from them with `parse_decimal()`.
* The API key is never logged.
"""

from __future__ import annotations

import csv
import email.utils
import io
import logging
import random
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timezone
from decimal import Decimal, InvalidOperation
from typing import Any
from urllib.parse import quote

import requests
from django.conf import settings

from integrations.errors import (
    ProviderError,
    ProviderMalformedResponse,
    ProviderRateLimited,
    ProviderUnavailable,
    may_retry_now,
    never_sent,
)
from integrations.esimgo.ratelimit import get_rate_limiter

logger = logging.getLogger(__name__)

USER_AGENT = "esimshop/1.0 (+django)"


# --- Errors --------------------------------------------------------------------------------


class ESIMGoError(ProviderError):
    """Base error. `transient` and `reached_provider` mean what integrations.errors says,
    as for QPay."""

    provider = "esimgo"

    def __init__(self, message, status=None, retry_after=None, *, outcome_unknown=False, reached_provider=True):
        super().__init__(message, status=status, retry_after=retry_after, reached_provider=reached_provider)
        # True when a non-idempotent request (purchase, revoke) may have been executed.
        self.outcome_unknown = outcome_unknown and reached_provider

    def __str__(self):
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


def _is_auth_403(message: str) -> bool:
    text = message.strip().lower()
    return not text or any(marker in text for marker in AUTH_403_MESSAGES)


# --- Parsing helpers -----------------------------------------------------------------------


def parse_decimal(value, *, field_name="value") -> Decimal:
    """Money/quantities as Decimal, via str() so 1.36 stays 1.36 (never binary floats)."""
    if isinstance(value, bool) or value is None:
        raise ESIMGoMalformedResponse(f"{field_name} is not a number: {value!r}")
    if isinstance(value, Decimal):
        result = value
    else:
        try:
            result = Decimal(str(value).strip())
        except (InvalidOperation, ValueError):
            raise ESIMGoMalformedResponse(f"{field_name} is not a number: {value!r}") from None
    if not result.is_finite():
        raise ESIMGoMalformedResponse(f"{field_name} is not a finite number: {value!r}")
    return result


def _parse_int(value, *, field_name) -> int:
    number = parse_decimal(value, field_name=field_name)
    if number != number.to_integral_value():
        # e.g. dataAmount 500.0 is fine, 0.5 MB is not something we can represent
        raise ESIMGoMalformedResponse(f"{field_name} is not a whole number: {value!r}")
    return int(number)


def _as_list(value, *, field_name):
    if value is None:
        return []
    if isinstance(value, list):
        return value
    raise ESIMGoMalformedResponse(f"{field_name} is not a list: {type(value).__name__}")


def _parse_country(entry, *, field_name) -> dict:
    """Flat {name, region, iso}, nested {country:{...}, networks:[...]}, or a bare ISO string."""
    iso: Any
    name: Any
    region: Any
    if isinstance(entry, str):
        iso, name, region = entry, "", ""
    elif isinstance(entry, dict):
        inner: dict = entry["country"] if isinstance(entry.get("country"), dict) else entry
        iso, name, region = inner.get("iso"), inner.get("name"), inner.get("region")
    else:
        raise ESIMGoMalformedResponse(f"{field_name} entry is not an object: {entry!r}")
    if not isinstance(iso, str) or not iso.strip():
        raise ESIMGoMalformedResponse(f"{field_name} entry without iso: {entry!r}")
    return {
        "iso": iso.strip().upper(),
        "name": name.strip() if isinstance(name, str) else "",
        "region": region.strip() if isinstance(region, str) else "",
    }


def _parse_speed(value) -> list[str]:
    """Speeds arrive as ["4G","5G"], "4G/5G", {"4G": true} or null."""
    if value is None:
        return []
    if isinstance(value, str):
        return [part.strip() for part in value.replace("/", ",").split(",") if part.strip()]
    if isinstance(value, list):
        return [str(item).strip() for item in value if item is not None and str(item).strip()]
    if isinstance(value, dict):
        speeds = []
        for key, item in value.items():
            if isinstance(item, (list, str)):
                speeds.extend(_parse_speed(item))
            elif item:
                speeds.append(str(key).strip())
        return speeds
    raise ESIMGoMalformedResponse(f"speed has an unexpected type: {type(value).__name__}")


def _parse_bool(value) -> bool:
    if isinstance(value, str):
        return value.strip().lower() in ("true", "1", "yes")
    return bool(value)


def normalise_bundle(raw) -> dict:
    """One catalogue bundle in the shape the rest of the shop uses (keys listed in docs/providers/esimgo.md, Catalogue)."""
    if not isinstance(raw, dict):
        raise ESIMGoMalformedResponse(f"bundle is not an object: {type(raw).__name__}")
    name = raw.get("name")
    if not isinstance(name, str) or not name.strip():
        raise ESIMGoMalformedResponse("bundle without name")
    name = name.strip()

    unlimited = _parse_bool(raw.get("unlimited"))
    data_amount = raw.get("dataAmount")
    if data_amount is None and not unlimited:
        raise ESIMGoMalformedResponse(f"bundle {name}: dataAmount missing")
    data_amount_mb = _parse_int(data_amount, field_name=f"{name}.dataAmount") if data_amount is not None else -1
    if data_amount_mb == -1:
        unlimited = True
    if unlimited:
        data_amount_mb = -1
    elif data_amount_mb < 0:
        raise ESIMGoMalformedResponse(f"bundle {name}: negative dataAmount {data_amount!r}")

    if raw.get("duration") is None:
        raise ESIMGoMalformedResponse(f"bundle {name}: duration missing")
    duration_days = _parse_int(raw.get("duration"), field_name=f"{name}.duration")
    if raw.get("price") is None:
        raise ESIMGoMalformedResponse(f"bundle {name}: price missing")
    price = parse_decimal(raw.get("price"), field_name=f"{name}.price")
    if price < 0 or duration_days < 0:
        raise ESIMGoMalformedResponse(f"bundle {name}: negative price or duration")

    groups = raw.get("groups")
    if isinstance(groups, str):
        groups = [groups]
    groups = [str(g) for g in _as_list(groups, field_name=f"{name}.groups") if g]

    def text(key):
        value = raw.get(key)
        return value.strip() if isinstance(value, str) else ""

    return {
        "name": name,
        "description": text("description"),
        "groups": groups,
        "data_amount_mb": data_amount_mb,
        "duration_days": duration_days,
        "unlimited": unlimited,
        "speed": _parse_speed(raw.get("speed")),
        "autostart": _parse_bool(raw.get("autostart")),
        "image_url": text("imageUrl"),
        "billing_type": text("billingType"),
        "price": price,
        "currency": text("currency").upper(),
        "countries": [
            _parse_country(c, field_name=f"{name}.countries")
            for c in _as_list(raw.get("countries"), field_name=f"{name}.countries")
        ],
        "roaming": [
            _parse_country(c, field_name=f"{name}.roamingEnabled")
            for c in _as_list(raw.get("roamingEnabled"), field_name=f"{name}.roamingEnabled")
        ],
    }


def normalise_organisation(data) -> dict:
    """Flat object, {organisations:[{...}]} or {organisation:{...}} → the org dict with Decimal balance."""
    org = data
    if isinstance(data, dict):
        if isinstance(data.get("organisations"), list):
            if not data["organisations"]:
                raise ESIMGoMalformedResponse("organisation response has an empty organisations list")
            org = data["organisations"][0]
        elif isinstance(data.get("organisation"), dict):
            org = data["organisation"]
    if not isinstance(org, dict) or "balance" not in org:
        raise ESIMGoMalformedResponse("organisation response without balance")
    result = dict(org)
    result["balance"] = parse_decimal(org["balance"], field_name="organisation.balance")
    result["currency"] = org.get("currency") if isinstance(org.get("currency"), str) else ""
    return result


def _normalise_assignment(raw) -> dict:
    if not isinstance(raw, dict):
        raise ESIMGoMalformedResponse(f"assignment is not an object: {raw!r}")
    result = dict(raw)
    for key in ("initialQuantity", "remainingQuantity"):
        if result.get(key) is not None:
            result[key] = _parse_int(result[key], field_name=key)
    if isinstance(result.get("bundleState"), str):
        result["bundleState"] = result["bundleState"].strip().lower()
    result["unlimited"] = _parse_bool(result.get("unlimited"))
    return result


def normalise_esim_bundle(raw) -> dict:
    """A bundle on an eSIM with its assignments as a list (single object or list upstream)."""
    if not isinstance(raw, dict):
        raise ESIMGoMalformedResponse(f"eSIM bundle is not an object: {raw!r}")
    assignments = raw.get("assignments")
    if isinstance(assignments, dict):
        assignments = [assignments]
    result = dict(raw)
    result["assignments"] = [_normalise_assignment(a) for a in _as_list(assignments, field_name="assignments")]
    return result


ASSIGNMENT_CSV_COLUMNS = {
    "iccid": "iccid",
    "matching id": "matchingId",
    "rsp url": "smdpAddress",
    "bundle": "bundle",
    "reference": "reference",
}


def parse_assignments(body) -> list[dict]:
    """/esims/assignments as JSON (object or list) or, if eSIM Go ignored Accept, CSV."""
    if isinstance(body, (bytes, str)):
        text = body.decode("utf-8-sig") if isinstance(body, bytes) else body
        reader = csv.DictReader(io.StringIO(text.strip()), skipinitialspace=True)
        rows = []
        for row in reader:
            item = {}
            for column, value in row.items():
                key = ASSIGNMENT_CSV_COLUMNS.get((column or "").strip().lower())
                if key:
                    item[key] = (value or "").strip()
            if item.get("iccid"):
                rows.append(item)
        if not rows and text.strip():
            raise ESIMGoMalformedResponse("assignments CSV without ICCID rows")
        return rows
    if isinstance(body, dict):
        for key in ("esims", "assignments"):
            if isinstance(body.get(key), list):
                body = body[key]
                break
        else:
            body = [body]
    if not isinstance(body, list) or not all(isinstance(item, dict) for item in body):
        raise ESIMGoMalformedResponse("assignments response is not an object or a list of objects")
    for item in body:
        if not item.get("iccid"):
            raise ESIMGoMalformedResponse("assignment without iccid")
        item["iccid"] = str(item["iccid"])
    return body


def _format_time(value) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=timezone.utc)
        value = value.astimezone(timezone.utc)
        return value.strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}Z"
    raise TypeError(f"expected datetime or str, got {type(value).__name__}")


def _parse_retry_after(value) -> float | None:
    if not value:
        return None
    try:
        return max(float(value), 0.0)
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    return max((when - datetime.now(timezone.utc)).total_seconds(), 0.0)


# --- Client --------------------------------------------------------------------------------


@dataclass
class CataloguePage:
    page: int
    page_count: int | None
    rows: int | None
    bundles: list[dict] = field(default_factory=list)


class ESIMGoClient:
    backoff_base = 0.5  # seconds; doubles per attempt
    backoff_max = 8.0
    max_retry_after = 30.0  # longer Retry-After → raise and let the caller schedule
    max_catalogue_pages = 10_000

    def __init__(self, *, base_url=None, api_key=None, session=None, rate_limiter=None, sleep=None, shopper=False):
        # shopper=True: calls a shopper's request causes (purchase validation); they may not use the
        # share of the request budget kept for provisioning paid orders (catalog/ratelimit.py).
        self.shopper = shopper
        self._base_url = base_url
        self._api_key = api_key
        self.session = session or requests.Session()
        self.session.headers.update({"User-Agent": USER_AGENT})
        self.rate_limiter = rate_limiter or get_rate_limiter()
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

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self.close()

    def __repr__(self):  # never show the key
        return f"<ESIMGoClient {self.base_url}>"

    # --- transport ---------------------------------------------------------------------

    def _backoff(self, attempt: int, retry_after: float | None) -> float:
        if retry_after is not None:
            return retry_after
        delay = min(self.backoff_max, self.backoff_base * (2**attempt))
        return delay + random.uniform(0, delay * 0.1)

    def _error_for(self, response) -> ESIMGoError:
        status = response.status_code
        try:
            body = response.json()
            message = body.get("message") if isinstance(body, dict) else None
        except ValueError:
            message = None
        provider_message = str(message or "").strip()
        message = str(message or response.text[:200] or response.reason or "error").strip()
        retry_after = _parse_retry_after(response.headers.get("Retry-After"))
        if status == 401 or (status == 403 and _is_auth_403(provider_message)):
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

    def request(self, method, path, *, params=None, json_body=None, accept="application/json", retry=True):
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

    def _json(self, method, path, **kwargs):
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

    def iter_catalogue(self, per_page=1000, **filters) -> Iterator[CataloguePage]:
        """Every page of GET /catalogue. Filters: countries, region, group, description,
        direction, orderBy (passed through as eSIM Go names them)."""
        page = 1
        collected = 0
        previous_names = None
        while True:
            params = {"page": page, "perPage": per_page}
            params.update({k: v for k, v in filters.items() if v not in (None, "")})
            data = self._json("GET", "/catalogue", params=params)
            raw_bundles: Any
            if isinstance(data, list):  # the spec's bare-array shape
                raw_bundles, page_count, rows = data, None, None
            elif isinstance(data, dict):
                raw_bundles = data.get("bundles")
                if not isinstance(raw_bundles, list):
                    raise ESIMGoMalformedResponse(f"catalogue page {page} without a bundles list")
                page_count = self._optional_int(data.get("pageCount"), "pageCount")
                rows = self._optional_int(data.get("rows"), "rows")
            else:
                raise ESIMGoMalformedResponse(f"catalogue page {page} is neither an object nor a list")
            bundles = [normalise_bundle(raw) for raw in raw_bundles]
            names = [b["name"] for b in bundles]
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
    def _last_catalogue_page(page, page_count, rows, collected, page_size, per_page) -> bool:
        """eSIM Go's own counts decide when it sent them: a short page before `pageCount` does not
        end the catalogue (the live API caps pages below a large perPage). Only without any count
        (the spec's bare array) does a short page mean the end."""
        if page_count is not None:
            return page >= page_count
        if rows is not None:
            return collected >= rows
        return page_size < per_page

    @staticmethod
    def _optional_int(value, name):
        if value is None:
            return None
        return _parse_int(value, field_name=name)

    def get_bundle(self, name) -> dict:
        data = self._json("GET", f"/catalogue/bundle/{quote(name, safe='')}")
        if isinstance(data, dict) and isinstance(data.get("bundle"), dict):
            data = data["bundle"]
        return normalise_bundle(data)

    # --- orders ------------------------------------------------------------------------

    def create_order(self, bundle_name, *, validate=False, iccid=None, allow_reassign=False) -> dict:
        """POST /orders, quantity 1, assign true. validate=False is a purchase: never retried."""
        line = {"type": "bundle", "quantity": 1, "item": bundle_name, "allowReassign": bool(allow_reassign)}
        if iccid:
            line["iccids"] = [str(iccid)]
        body = {"type": "validate" if validate else "transaction", "assign": True, "order": [line]}
        data = self._json("POST", "/orders", json_body=body, retry=validate)
        if not isinstance(data, dict):
            raise ESIMGoMalformedResponse("order response is not an object", outcome_unknown=not validate)
        return data

    def list_orders(self, *, created_from=None, created_to=None, page=1, limit=100, include_iccids=True) -> dict:
        params = [("page", page), ("limit", limit), ("includeIccids", "true" if include_iccids else "false")]
        if created_from is not None:
            params.append(("createdAt", f"gte:{_format_time(created_from)}"))
        if created_to is not None:
            params.append(("createdAt", f"lte:{_format_time(created_to)}"))
        data = self._json("GET", "/orders", params=params)
        if isinstance(data, list):
            return {"orders": data, "rows": len(data), "pageCount": 1}
        if not isinstance(data, dict) or not isinstance(data.get("orders", []), list):
            raise ESIMGoMalformedResponse("orders list response has no orders list")
        orders = data.get("orders") or []
        return {
            "orders": orders,
            "rows": self._optional_int(data.get("rows"), "rows"),
            "pageCount": self._optional_int(data.get("pageCount"), "pageCount"),
        }

    def get_order(self, reference) -> dict:
        data = self._json("GET", f"/orders/{quote(str(reference), safe='')}")
        if not isinstance(data, dict):
            raise ESIMGoMalformedResponse("order response is not an object")
        return data

    # --- eSIMs -------------------------------------------------------------------------

    def get_assignments(self, reference) -> list[dict]:
        response = self.request("GET", "/esims/assignments", params={"reference": str(reference)})
        content_type = response.headers.get("Content-Type", "")
        if "json" in content_type or response.content.lstrip()[:1] in (b"{", b"["):
            try:
                body = response.json()
            except ValueError:
                raise ESIMGoMalformedResponse("assignments response is not JSON") from None
        else:
            body = response.content
        return parse_assignments(body)

    def set_customer_ref(self, iccid, customer_ref) -> None:
        self.request("PUT", "/esims", json_body={"iccid": str(iccid), "customerRef": str(customer_ref)})

    def get_esim(self, iccid) -> dict:
        data = self._json("GET", f"/esims/{quote(str(iccid), safe='')}")
        if not isinstance(data, dict):
            raise ESIMGoMalformedResponse("eSIM response is not an object")
        return data

    def get_esim_bundles(self, iccid, include_used=True) -> list[dict]:
        data = self._json(
            "GET",
            f"/esims/{quote(str(iccid), safe='')}/bundles",
            params={"includeUsed": "true" if include_used else "false", "limit": 200},
        )
        if isinstance(data, dict):
            data = data.get("bundles")
        return [normalise_esim_bundle(b) for b in _as_list(data, field_name="bundles")]

    def is_compatible(self, iccid, bundle_name) -> bool:
        data = self._json("GET", f"/esims/{quote(str(iccid), safe='')}/compatible/{quote(bundle_name, safe='')}")
        if not isinstance(data, dict) or "compatible" not in data:
            raise ESIMGoMalformedResponse("compatibility response without `compatible`")
        return _parse_bool(data["compatible"])

    def revoke_bundle(self, iccid, bundle_name, *, validate=False, refund_to_balance=False, offer_id="") -> dict:
        """DELETE /esims/{iccid}/bundles/{name}. A refund to the balance needs the `offerId` the
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
        if not isinstance(data, dict):
            raise ESIMGoMalformedResponse("revoke response is not an object")
        return data

    @staticmethod
    def offer_id_from(validate_answer) -> str:
        """The `offerId` of a revoke validate answer: top level, or the first offer/option that
        carries one (the live shape is unrecorded; the spec only says validate "provides options")."""
        if not isinstance(validate_answer, dict):
            return ""
        if validate_answer.get("offerId"):
            return str(validate_answer["offerId"])
        for value in validate_answer.values():
            for entry in value if isinstance(value, list) else []:
                if isinstance(entry, dict) and entry.get("offerId"):
                    return str(entry["offerId"])
        return ""

    # --- organisation ------------------------------------------------------------------

    def get_organisation(self) -> dict:
        return normalise_organisation(self._json("GET", "/organisation"))
