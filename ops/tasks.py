"""Celery side of operations: heartbeats and the morning report. The watchdog itself does NOT
run here (it must notice when Celery is down): see `manage.py watchdog` on a systemd timer."""

import logging

from celery import shared_task
from celery.signals import before_task_publish

from ops import daily_report, heartbeats

logger = logging.getLogger(__name__)


@shared_task(bind=True, name=heartbeats.HEARTBEAT_TASK, ignore_result=True, soft_time_limit=10, time_limit=20)
def heartbeat(self, queue):
    heartbeats.record_ran(queue, worker=self.request.hostname or "")


@shared_task(name="ops.tasks.send_daily_report", ignore_result=True, soft_time_limit=120, time_limit=180)
def send_daily_report_task():
    daily_report.send()


@before_task_publish.connect
def _record_heartbeat_sent(sender=None, body=None, **kwargs):
    """Runs in the publishing process: beat, for the scheduled heartbeats."""
    if sender != heartbeats.HEARTBEAT_TASK:
        return
    args = body[0] if isinstance(body, (list, tuple)) and body else ()
    if args:
        heartbeats.record_sent(args[0])


# The heartbeats and the daily report are scheduled in esimshop/beat.py.
