"""/readyz: each check up and down on the real PostgreSQL and Redis (down = a wrong port; nothing
shared is stopped), the providers mocked; JSON shape, 200/503, caching, no secrets, no hang."""

import threading
from datetime import timedelta

import pytest
from django.utils import timezone

from ops import heartbeats, readiness
from ops.models import Heartbeat
from tests.ops.conftest import organisation, qpay_token

pytestmark = pytest.mark.django_db(transaction=True)  # the checks use their own connections


def results(report):
    return {r.name: r for r in report.results}


def beat_and_workers_fresh(now=None):
    now = now or timezone.now()
    for queue in heartbeats.queues():
        Heartbeat.objects.update_or_create(queue=queue, defaults={"sent_at": now, "ran_at": now, "worker": "w@h"})


@pytest.fixture
def providers_up(mocked_responses):
    organisation(mocked_responses)
    qpay_token(mocked_responses)
    return mocked_responses


def test_all_up_is_ready_with_every_check_named(celery_mode, providers_up, client):
    beat_and_workers_fresh()
    response = client.get("/readyz")
    body = response.json()
    assert response.status_code == 200, body
    assert body["ready"] is True
    names = [c["name"] for c in body["checks"]]
    assert sorted(names) == sorted(
        [
            "database",
            "redis",
            "celery_worker:celery",
            "celery_worker:provisioning",
            "celery_beat",
            "qpay_token",
            "esimgo",
            "esimgo_balance",
        ]
    )
    for check in body["checks"]:
        assert check["state"] == "ok" and isinstance(check["latency_ms"], float), check
    assert response["Cache-Control"].startswith("max-age=0")


def test_database_down_is_503_within_the_timeout(celery_mode, providers_up, client, monkeypatch):
    beat_and_workers_fresh()
    wrong = {**readiness.database_settings(), "PORT": "1"}
    monkeypatch.setattr(readiness, "database_settings", lambda: wrong)
    response = client.get("/readyz")
    assert response.status_code == 503
    checks = {c["name"]: c for c in response.json()["checks"]}
    assert checks["database"]["state"] == "down" and "unreachable" in checks["database"]["detail"]
    assert checks["redis"]["state"] == "ok"


def test_unapplied_migrations_are_not_ready(monkeypatch):
    from django.db.migrations.executor import MigrationExecutor

    monkeypatch.setattr(MigrationExecutor, "migration_plan", lambda self, targets: [("ops", "0099_future")])
    assert readiness._run("database", readiness.check_database).detail == "1 migration(s) not applied"


def test_redis_down(celery_mode, providers_up, client, settings):
    beat_and_workers_fresh()
    settings.REDIS_URL = "redis://127.0.0.1:1/3"
    response = client.get("/readyz")
    assert response.status_code == 503
    redis_check = next(c for c in response.json()["checks"] if c["name"] == "redis")
    assert redis_check["state"] == "down" and "unreachable" in redis_check["detail"]


def test_stale_worker_heartbeat_per_queue(celery_mode, providers_up):
    now = timezone.now()
    beat_and_workers_fresh(now)
    Heartbeat.objects.filter(queue="provisioning").update(ran_at=now - timedelta(seconds=90))
    checks = results(readiness.report(fresh=True))
    assert checks["celery_worker:celery"].state == "ok"
    assert checks["celery_worker:provisioning"].state == "down"
    assert "limit 60s" in checks["celery_worker:provisioning"].detail
    assert checks["celery_beat"].state == "ok"


def test_never_seen_worker_and_stale_beat(celery_mode, providers_up, settings):
    settings.HEARTBEAT_SECONDS = 20
    Heartbeat.objects.create(
        queue="celery", sent_at=timezone.now() - timedelta(seconds=120), ran_at=timezone.now() - timedelta(seconds=120)
    )
    checks = results(readiness.report(fresh=True))
    assert checks["celery_beat"].state == "down" and "last sent 120s ago" in checks["celery_beat"].detail
    assert checks["celery_worker:provisioning"].state == "down"
    assert "never seen" in checks["celery_worker:provisioning"].detail


def test_in_process_tasks_skip_the_celery_checks(settings, providers_up):
    settings.CELERY_TASK_ALWAYS_EAGER = True
    checks = results(readiness.report(fresh=True))
    assert checks["celery_beat"].state == "skipped" and checks["celery_worker:celery"].state == "skipped"


def test_qpay_token_down(celery_mode, mocked_responses):
    beat_and_workers_fresh()
    organisation(mocked_responses)
    qpay_token(mocked_responses, status=401)
    checks = results(readiness.report(fresh=True))
    assert checks["qpay_token"].state == "down" and "401" in checks["qpay_token"].detail
    assert checks["esimgo"].state == "ok"


def test_esimgo_down_and_balance_unknown(celery_mode, mocked_responses):
    beat_and_workers_fresh()
    qpay_token(mocked_responses)
    organisation(mocked_responses, status=503)
    checks = results(readiness.report(fresh=True))
    assert checks["esimgo"].state == "down" and checks["esimgo_balance"].state == "down"
    assert checks["qpay_token"].state == "ok"


def test_esimgo_balance_below_threshold(celery_mode, mocked_responses):
    beat_and_workers_fresh()
    qpay_token(mocked_responses)
    organisation(mocked_responses, balance=42.5)
    checks = results(readiness.report(fresh=True))
    assert checks["esimgo"].state == "ok"
    assert checks["esimgo_balance"].state == "down" and checks["esimgo_balance"].detail.startswith("42.5 USD")


def test_a_hung_check_is_a_timeout_not_a_hang(celery_mode, providers_up, settings, monkeypatch):
    beat_and_workers_fresh()
    settings.READYZ_CHECK_TIMEOUT_SECONDS = 0.3
    release = threading.Event()
    monkeypatch.setattr(readiness, "check_redis", lambda: release.wait(30) and "late")
    try:
        checks = results(readiness.report(fresh=True))
    finally:
        release.set()
    assert checks["redis"].state == "timeout"
    assert checks["database"].state == "ok"


def test_the_answer_is_cached_so_probes_do_not_load_the_providers(celery_mode, providers_up, client, settings):
    beat_and_workers_fresh()
    settings.READYZ_CACHE_SECONDS = 60
    for _ in range(5):
        assert client.get("/readyz").status_code == 200
    token_calls = [c for c in providers_up.calls if "/auth/token" in c.request.url]
    org_calls = [c for c in providers_up.calls if c.request.url.endswith("/organisation")]
    assert len(org_calls) == 1 and len(token_calls) <= 1


def test_no_secret_in_the_answer(celery_mode, mocked_responses, client, settings):
    organisation(mocked_responses, status=503)
    qpay_token(mocked_responses, status=401)
    text = client.get("/readyz").content.decode()
    for secret in (
        settings.QPAY_CLIENT_SECRET,
        settings.ESIMGO_API_KEY,
        settings.SECRET_KEY,
        settings.DATABASES["default"].get("PASSWORD") or "no-password-set-xyz",
    ):
        assert secret not in text


def test_a_broken_report_is_a_503_json_not_a_500(client, monkeypatch):
    def boom(**kwargs):
        raise RuntimeError("bug")

    monkeypatch.setattr(readiness, "report", boom)
    response = client.get("/readyz")
    assert response.status_code == 503 and response.json()["ready"] is False


def test_healthz_stays_cheap(client, django_assert_num_queries):
    with django_assert_num_queries(0):
        assert client.get("/healthz").json() == {"ok": True}


def test_a_not_ready_answer_is_not_logged_as_an_error(client, caplog, mocked_responses):
    organisation(mocked_responses, status=503)
    qpay_token(mocked_responses)
    with caplog.at_level("ERROR", logger="django.request"):
        assert client.get("/readyz").status_code == 503
    assert [r for r in caplog.records if r.name == "django.request"] == []
