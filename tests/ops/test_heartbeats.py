"""Heartbeats: beat's publish records sent_at (in beat's process), the worker's run records ran_at;
the beat schedule has one heartbeat per queue, routed to that queue, and the daily report."""

from datetime import timedelta

import pytest
from celery.signals import before_task_publish
from django.utils import timezone

from esimshop.celery import app
from ops import heartbeats, tasks
from ops.models import Heartbeat

pytestmark = pytest.mark.django_db


def test_beat_schedule_has_a_heartbeat_per_queue_and_the_daily_report():
    app.loader.import_default_modules()
    app.finalize()
    schedule = app.conf.beat_schedule
    entries = {name: entry for name, entry in schedule.items() if entry["task"] == heartbeats.HEARTBEAT_TASK}
    assert {entry["options"]["queue"] for entry in entries.values()} == {"celery", "provisioning"}
    for entry in entries.values():
        assert entry["args"] == (entry["options"]["queue"],)
    assert any(entry["task"] == "ops.tasks.send_daily_report" for entry in schedule.values())


def test_publishing_records_sent_and_running_records_ran():
    before_task_publish.send(sender=heartbeats.HEARTBEAT_TASK, body=(("provisioning",), {}, {}), headers={})
    row = Heartbeat.objects.get(queue="provisioning")
    assert row.sent_at is not None and row.ran_at is None
    tasks.heartbeat.apply(args=("provisioning",))
    row.refresh_from_db()
    assert row.ran_at >= row.sent_at


def test_other_tasks_do_not_touch_heartbeats():
    before_task_publish.send(sender="orders.tasks.send_email_task", body=((1,), {}, {}), headers={})
    assert not Heartbeat.objects.exists()


def test_statuses():
    now = timezone.now()
    Heartbeat.objects.create(queue="celery", sent_at=now - timedelta(seconds=10), ran_at=now - timedelta(seconds=10))
    by_name = {s.name: s for s in heartbeats.statuses(now=now)}
    assert by_name["beat"].ok and by_name["worker:celery"].ok
    assert not by_name["worker:provisioning"].ok and by_name["worker:provisioning"].detail == "never seen"
    late = now + timedelta(seconds=61)
    assert [s.name for s in heartbeats.stale(now=late)] == ["beat", "worker:celery", "worker:provisioning"]


def test_a_database_error_while_beat_publishes_does_not_stop_beat(monkeypatch):
    def broken(*args, **kwargs):
        raise RuntimeError("database is down")

    monkeypatch.setattr(Heartbeat.objects, "filter", broken)
    heartbeats.record_sent("celery")  # logs, does not raise
