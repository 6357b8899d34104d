"""Audit log (who did what, searchable) and admin login brute-force protection (django-axes)."""

import pytest
from django.urls import reverse

from staff.audit import actions_for, record_staff_action
from staff.models import StaffAction
from tests.orders.factories import OrderFactory

LOGIN = reverse("admin:login")


@pytest.fixture
def staff_user(django_user_model):
    return django_user_model.objects.create_user("operator", password="correct horse battery", is_staff=True)


def _login(client, password, username="operator", ip="203.0.113.7"):
    return client.post(LOGIN, {"username": username, "password": password, "next": "/admin/"}, REMOTE_ADDR=ip)


def test_successful_admin_login_is_audited(client, staff_user):
    response = _login(client, "correct horse battery")
    assert response.status_code == 302
    action = StaffAction.objects.get(action="auth.login")
    assert action.user == staff_user and action.details["ip"] == "203.0.113.7"


def test_admin_login_locks_out_after_repeated_failures(client, staff_user, settings):
    assert settings.AXES_FAILURE_LIMIT == 5
    for _ in range(5):
        assert _login(client, "wrong").status_code in (200, 429)

    locked = _login(client, "correct horse battery")

    assert locked.status_code == 429
    assert not StaffAction.objects.filter(action="auth.login").exists()


def test_guesses_from_elsewhere_do_not_lock_the_owner_out(client, staff_user, settings):
    """Issue 9: axes locks (address, username) together, so 5 requests from an attacker's address
    cannot lock a known staff login out for its owner."""
    assert settings.AXES_LOCKOUT_PARAMETERS == [["ip_address", "username"]]
    for _ in range(5):
        _login(client, "wrong", ip="198.51.100.1")
    assert _login(client, "correct horse battery", ip="198.51.100.1").status_code == 429
    assert _login(client, "correct horse battery", ip="192.0.2.44").status_code == 302


def test_rotating_x_forwarded_for_gets_no_fresh_guesses_without_a_proxy(client, staff_user, settings):
    settings.TRUSTED_PROXY_COUNT = 0
    for n in range(5):
        client.post(
            LOGIN,
            {"username": "operator", "password": "wrong"},
            REMOTE_ADDR="198.51.100.9",
            HTTP_X_FORWARDED_FOR=f"10.9.9.{n}",
        )
    assert (
        client.post(
            LOGIN,
            {"username": "operator", "password": "correct horse battery"},
            REMOTE_ADDR="198.51.100.9",
            HTTP_X_FORWARDED_FOR="10.9.9.200",
        ).status_code
        == 429
    )


def test_behind_one_proxy_the_lockout_is_per_client_not_per_proxy(client, staff_user, settings):
    settings.TRUSTED_PROXY_COUNT = 1
    proxy = "10.0.0.2"
    for _ in range(5):
        client.post(
            LOGIN,
            {"username": "operator", "password": "wrong"},
            REMOTE_ADDR=proxy,
            HTTP_X_FORWARDED_FOR="forged, 198.51.100.7",
        )
    assert (
        client.post(
            LOGIN,
            {"username": "operator", "password": "correct horse battery"},
            REMOTE_ADDR=proxy,
            HTTP_X_FORWARDED_FOR="198.51.100.7",
        ).status_code
        == 429
    )
    assert (
        client.post(
            LOGIN,
            {"username": "operator", "password": "correct horse battery"},
            REMOTE_ADDR=proxy,
            HTTP_X_FORWARDED_FOR="198.51.100.8",
        ).status_code
        == 302
    )


def test_other_users_from_other_addresses_can_still_sign_in(client, staff_user, django_user_model):
    django_user_model.objects.create_user("colleague", password="another good one", is_staff=True)
    for _ in range(5):
        _login(client, "wrong")
    assert _login(client, "another good one", username="colleague", ip="192.0.2.10").status_code == 302


def test_staff_actions_are_searchable_and_read_only(admin_client, admin_user, db):
    order = OrderFactory()
    record_staff_action(admin_user, "order.retry_provisioning", order, message="eSIM Go was down", attempt=2)
    record_staff_action(admin_user, "reconciliation.run", None)
    url = reverse("admin:staff_staffaction_changelist")

    found = admin_client.get(url, {"q": "retry_provisioning"}).context["cl"].result_list
    by_object = admin_client.get(url, {"q": str(order.public_id)}).context["cl"].result_list
    by_detail = admin_client.get(url, {"q": "eSIM Go was down"}).context["cl"].result_list

    assert [a.action for a in found] == ["order.retry_provisioning"]
    assert [a.action for a in by_object] == ["order.retry_provisioning"]
    assert [a.action for a in by_detail] == ["order.retry_provisioning"]
    assert [a.action for a in actions_for(order)] == ["order.retry_provisioning"]
    action = StaffAction.objects.get(action="order.retry_provisioning")
    assert (
        admin_client.post(reverse("admin:staff_staffaction_delete", args=[action.pk]), {"post": "yes"}).status_code
        == 403
    )
    assert StaffAction.objects.filter(pk=action.pk).exists()


def test_beat_schedules_the_nightly_reconciliation_and_balance_refresh():
    from esimshop.celery import app

    app.loader.import_default_modules()
    app.finalize()
    names = {entry["task"] for entry in app.conf.beat_schedule.values()}
    assert "staff.tasks.reconcile_yesterday_task" in names
    assert "staff.tasks.refresh_esimgo_balance_task" in names
