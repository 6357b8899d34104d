"""Two watchdogs at once (a timer overlap, a manual run): the row lock lets one notify."""

import threading

import pytest
from django.core import mail
from django.db import connections

from ops import alerts
from ops.models import AlertState

pytestmark = pytest.mark.django_db(transaction=True)


def test_concurrent_watchdogs_send_one_alert():
    condition = alerts.Condition("race_test", True, "something broke", "detail", "/admin/")
    AlertState.objects.create(condition="race_test")
    inside = threading.Event()
    proceed = threading.Event()
    sent = []

    def slow_send(note):
        sent.append(note.kind)
        inside.set()
        proceed.wait(10)
        return True

    def first():
        try:
            alerts.process(condition, send=slow_send)
        finally:
            connections.close_all()

    def second():
        try:
            alerts.process(condition, send=lambda note: sent.append(note.kind) or True)
        finally:
            connections.close_all()

    one = threading.Thread(target=first)
    one.start()
    assert inside.wait(10)
    two = threading.Thread(target=second)
    two.start()  # blocks on the row lock held by the first
    proceed.set()
    one.join(10)
    two.join(10)
    assert sent == [alerts.RAISED]
    assert AlertState.objects.get(condition="race_test").notifications == 1
    assert mail.outbox == []
