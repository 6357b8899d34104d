"""Scalar values on eSIM Go's wire: money, whole numbers, flags, text and times, read the way
docs/providers/esimgo.md says they arrive (prices as decimals the spec types integer, ICCIDs
that may be JSON numbers, RFC 3339 times with nanoseconds)."""

from __future__ import annotations

import email.utils
import re
from datetime import datetime, timezone
from decimal import Decimal, InvalidOperation
from typing import Any

from integrations.esimgo.errors import ESIMGoMalformedResponse


def parse_decimal(value: Any, *, field_name: str = "value") -> Decimal:
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


def parse_int(value: Any, *, field_name: str) -> int:
    number = parse_decimal(value, field_name=field_name)
    if number != number.to_integral_value():
        # e.g. dataAmount 500.0 is fine, 0.5 MB is not something we can represent
        raise ESIMGoMalformedResponse(f"{field_name} is not a whole number: {value!r}")
    return int(number)


def optional_int(value: Any, *, field_name: str) -> int | None:
    return None if value is None else parse_int(value, field_name=field_name)


def lenient_decimal(value: Any) -> Decimal | None:
    try:
        return None if value in (None, "") else parse_decimal(value)
    except ESIMGoMalformedResponse:
        return None


def lenient_int(value: Any) -> int | None:
    number = lenient_decimal(value)
    return int(number) if number is not None and number == number.to_integral_value() else None


def parse_bool(value: Any) -> bool:
    if isinstance(value, str):
        return value.strip().lower() in ("true", "1", "yes")
    return bool(value)


def text(value: Any) -> str:
    """A JSON string, number (ICCIDs may come as numbers) or nothing → stripped text."""
    if value is None or isinstance(value, (bool, dict, list)):
        return ""
    return str(value).strip()


def as_list(value: Any, *, field_name: str) -> list[Any]:
    if value is None:
        return []
    if isinstance(value, list):
        return value
    raise ESIMGoMalformedResponse(f"{field_name} is not a list: {type(value).__name__}")


_FRACTION = re.compile(r"\.(\d+)")


def parse_time(value: Any) -> datetime | None:
    """RFC 3339 with up to nanoseconds (eSIM Go) → aware datetime (UTC when no offset is given);
    None when absent or unreadable."""
    if not isinstance(value, str) or not value.strip():
        return None
    text = _FRACTION.sub(lambda m: "." + m.group(1)[:6].ljust(6, "0"), value.strip(), count=1)
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        return None
    return parsed.replace(tzinfo=timezone.utc) if parsed.tzinfo is None else parsed


def format_time(value: datetime | str) -> str:
    """A datetime as eSIM Go's filters want it: UTC, milliseconds, Z."""
    if isinstance(value, str):
        return value
    if isinstance(value, datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=timezone.utc)
        value = value.astimezone(timezone.utc)
        return value.strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}Z"
    raise TypeError(f"expected datetime or str, got {type(value).__name__}")


def parse_retry_after(value: str | None) -> float | None:
    """Retry-After in seconds or as an HTTP date; None when absent or unreadable."""
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
