"""Simulated data usage: an assignment's state and remaining bytes as a pure function of time.

Timeline (compressed so a demo shows movement within minutes):
* `queued` from assignment until `first_used_at` (assignment + FIRST_USE_SECONDS, or, for a
  top-up, when the eSIM's previous bundle runs out);
* `active`, using data linearly so a fixed bundle is used up DEPLETION_SECONDS after first use;
  unlimited bundles use up to 90 % of their daily full-speed quota, which resets each day;
* `depleted` once a fixed bundle has no data left but is still within its duration;
* `expired` after `duration_days` from first use; `revoked` once revoked.
`used_floor_bytes` (raised by the usage-callback command) makes reported usage at least that.
Settings SANDBOX_ESIMGO_FIRST_USE_SECONDS / SANDBOX_ESIMGO_DEPLETION_SECONDS override the pace.
"""

from datetime import timedelta

from django.conf import settings
from django.utils import timezone

DAY = 86400


def first_use_seconds() -> int:
    return int(settings.SANDBOX_ESIMGO_FIRST_USE_SECONDS)


def depletion_seconds() -> int:
    return max(int(settings.SANDBOX_ESIMGO_DEPLETION_SECONDS), 1)


def ends_at(assignment):
    """When the assignment stops carrying data (depleted or expired), for queueing top-ups."""
    expiry = assignment.first_used_at + timedelta(days=assignment.duration_days)
    if assignment.unlimited:
        return expiry
    return min(expiry, assignment.first_used_at + timedelta(seconds=depletion_seconds()))


def _used_bytes(assignment, at) -> int:
    since_start = (at - assignment.first_used_at).total_seconds()
    if since_start <= 0:
        used = 0
    elif assignment.unlimited:
        used = int(assignment.initial_quantity * min(0.9, (since_start % DAY) / depletion_seconds()))
    else:
        used = int(assignment.initial_quantity * min(1.0, since_start / depletion_seconds()))
    return min(max(used, assignment.used_floor_bytes), assignment.initial_quantity)


def status(assignment, now=None) -> dict:
    """{bundleState, remainingQuantity, startTime|None, endTime|None} at `now`."""
    now = now or timezone.now()
    at = min(now, assignment.revoked_at) if assignment.revoked_at else now
    started = at >= assignment.first_used_at or assignment.used_floor_bytes > 0
    end = assignment.first_used_at + timedelta(days=assignment.duration_days)
    if not started:
        state = "queued"
    elif at >= end:
        state = "expired"
        at = end
    else:
        state = "active"
    remaining = assignment.initial_quantity - (_used_bytes(assignment, at) if started else 0)
    if state == "active" and remaining <= 0 and not assignment.unlimited:
        state = "depleted"
    if assignment.revoked_at:
        state = "revoked"
    return {
        "bundleState": state,
        "remainingQuantity": remaining,
        "startTime": assignment.first_used_at if started else None,
        "endTime": end if started else None,
    }


def is_unused(assignment, now=None) -> bool:
    return status(assignment, now)["bundleState"] == "queued"
