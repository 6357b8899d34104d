"""Worker and beat heartbeats (see ops.models.Heartbeat).

Beat publishes `ops.tasks.heartbeat` to every queue in HEARTBEAT_QUEUES each HEARTBEAT_SECONDS.
While publishing (in beat's own process, `before_task_publish`) it records `sent_at`; the worker
that runs the task records `ran_at`. So a stale `sent_at` means beat is down, a fresh `sent_at`
with a stale `ran_at` means no worker consumes that queue.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime

from django.conf import settings
from django.utils import timezone

from ops.models import Heartbeat

logger = logging.getLogger(__name__)

HEARTBEAT_TASK = "ops.tasks.heartbeat"


def queues() -> list[str]:
    return [q for q in settings.HEARTBEAT_QUEUES if q]


def record_sent(queue: str, *, now: datetime | None = None) -> None:
    """Beat's side. Never raises: a database blip must not stop beat publishing its schedule."""
    now = now or timezone.now()
    try:
        updated = Heartbeat.objects.filter(queue=queue).update(sent_at=now)
        if not updated:
            Heartbeat.objects.get_or_create(queue=queue, defaults={"sent_at": now, "ran_at": None})
    except Exception as exc:  # noqa: BLE001 - evidence is best effort; the watchdog notices its absence
        logger.warning("heartbeat %s: could not record sent_at: %s", queue, exc)


def record_ran(queue: str, *, worker: str = "", now: datetime | None = None) -> None:
    now = now or timezone.now()
    updated = Heartbeat.objects.filter(queue=queue).update(ran_at=now, worker=worker[:255])
    if not updated:
        Heartbeat.objects.get_or_create(queue=queue, defaults={"sent_at": now, "ran_at": now, "worker": worker[:255]})


@dataclass
class HeartbeatStatus:
    name: str  # "beat" or "worker:<queue>"
    ok: bool
    age_seconds: float | None
    max_age_seconds: float
    detail: str


def _age(value, now) -> float | None:
    return None if value is None else max((now - value).total_seconds(), 0.0)


def beat_max_age() -> float:
    # Two periods: one missed send is jitter (beat's tick, a slow publish), two is beat down.
    return 2 * float(settings.HEARTBEAT_SECONDS) + 5


def statuses(*, now: datetime | None = None) -> list[HeartbeatStatus]:
    """Beat first, then one per queue. Rows never written count as stale (never seen)."""
    now = now or timezone.now()
    rows = {row.queue: row for row in Heartbeat.objects.filter(queue__in=queues())}
    sent = [row.sent_at for row in rows.values() if row.sent_at]
    beat_age = _age(max(sent), now) if sent else None
    beat_limit = beat_max_age()
    result = [
        HeartbeatStatus(
            "beat",
            beat_age is not None and beat_age <= beat_limit,
            beat_age,
            beat_limit,
            "never seen" if beat_age is None else f"last sent {beat_age:.0f}s ago",
        )
    ]
    worker_limit = float(settings.WORKER_HEARTBEAT_MAX_AGE_SECONDS)
    for queue in queues():
        row = rows.get(queue)
        age = _age(row.ran_at if row else None, now)
        detail = "never seen" if age is None else f"last ran {age:.0f}s ago on {row.worker or '?'}"
        result.append(
            HeartbeatStatus(f"worker:{queue}", age is not None and age <= worker_limit, age, worker_limit, detail)
        )
    return result


def stale(*, now=None) -> list[HeartbeatStatus]:
    return [s for s in statuses(now=now) if not s.ok]
