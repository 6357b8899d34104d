"""Reconciliation periods: Ulaanbaatar days (settings.TIME_ZONE), the days QPay and the shop's
staff see."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from django.conf import settings
from django.utils import timezone

# Match across midnight: a payment late on day D may be provisioned early on D+1.
MATCH_MARGIN = timedelta(hours=2)


def local_tz() -> ZoneInfo:
    return ZoneInfo(settings.TIME_ZONE)


def day_bounds(first: date, last: date) -> tuple[datetime, datetime]:
    """[start, end) of the Ulaanbaatar days first..last inclusive, as aware datetimes."""
    tz = local_tz()
    return datetime.combine(first, time.min, tz), datetime.combine(last + timedelta(days=1), time.min, tz)


def local_day(moment: datetime) -> date:
    return timezone.localtime(moment, local_tz()).date()
