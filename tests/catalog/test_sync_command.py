"""`manage.py sync_catalog` and the periodic Celery task around the sync service."""

import io
import re

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from catalog.models import Bundle
from catalog.services import sync_lock
from catalog.tasks import sync_catalog_task
from integrations.esimgo.client import ESIMGoClient

from .catalogue_payloads import mock_catalogue, raw_bundle

SUMMARY = re.compile(r"^created (\d+), updated (\d+), unchanged (\d+), retired (\d+) in \d+\.\d\ds$")


@pytest.fixture(autouse=True)
def _sync_settings(settings, monkeypatch):
    settings.ESIMGO_CATALOGUE_PAGE_SIZE = 2
    settings.ESIMGO_RATE_LIMIT_PER_SECOND = 0
    monkeypatch.setattr(ESIMGoClient, "backoff_base", 0)
    monkeypatch.setattr(ESIMGoClient, "backoff_max", 0)


def bundles(n=5):
    return [raw_bundle(f"esim_{i}GB_7D_MN_V2", data_mb=1000 * i, price=2 + i) for i in range(1, n + 1)]


def run_command():
    out, err = io.StringIO(), io.StringIO()
    call_command("sync_catalog", stdout=out, stderr=err)
    return out.getvalue().splitlines(), err.getvalue()


def test_command_prints_progress_per_page_and_a_summary_line(db, mocked_responses):
    mock_catalogue(mocked_responses, bundles(), 2)
    lines, err = run_command()

    assert lines[:3] == ["page 1/3: 2 bundles fetched", "page 2/3: 4 bundles fetched", "page 3/3: 5 bundles fetched"]
    assert SUMMARY.match(lines[-1]).groups() == ("5", "0", "0", "0")
    assert err == ""

    mock_catalogue(mocked_responses, bundles(4), 2)
    lines, _ = run_command()
    assert SUMMARY.match(lines[-1]).groups() == ("0", "0", "4", "1")


def test_command_rewrites_one_progress_line_on_a_terminal(db, mocked_responses):
    class Terminal(io.StringIO):
        def isatty(self):
            return True

    mock_catalogue(mocked_responses, bundles(), 2)
    out = Terminal()
    call_command("sync_catalog", stdout=out)
    text = out.getvalue()
    assert text.startswith("\rpage 1/3: 2 bundles fetched\rpage 2/3: 4 bundles fetched\rpage 3/3: 5 bundles fetched\n")
    assert SUMMARY.match(text.splitlines()[-1])


def test_command_fails_with_a_clear_message_and_changes_nothing(db, mocked_responses):
    mock_catalogue(mocked_responses, bundles(), 2, replace={2: {"status": 503, "json": {"message": "Processing"}}})
    with pytest.raises(CommandError, match=r"Catalogue sync failed: eSIM Go is unavailable on page 2 \(HTTP 503\)"):
        call_command("sync_catalog", stdout=io.StringIO())
    assert not Bundle.objects.exists()


def test_command_exits_non_zero_with_the_reason_on_stderr(db, mocked_responses, capsys):
    from catalog.management.commands.sync_catalog import Command

    mock_catalogue(mocked_responses, bundles(), 2, replace={1: {"status": 401, "json": {"message": "Unauthorized"}}})
    with pytest.raises(SystemExit) as exited:
        Command().run_from_argv(["manage.py", "sync_catalog"])
    assert exited.value.code == 1
    err = capsys.readouterr().err
    assert "eSIM Go refused the API key on page 1 (HTTP 401); check ESIMGO_API_KEY" in err
    assert "Traceback" not in err and "test-esimgo-key" not in err


def test_task_runs_the_sync(db, mocked_responses):
    mock_catalogue(mocked_responses, bundles(), 2)
    sync_catalog_task.delay()
    assert Bundle.objects.filter(is_available=True).count() == 5


def test_task_run_twice_gives_the_same_catalogue(db, mocked_responses):
    mock_catalogue(mocked_responses, bundles(), 2)
    assert sync_catalog_task.apply().get().startswith("created 5, updated 0, unchanged 0, retired 0")
    mock_catalogue(mocked_responses, bundles(), 2)
    assert sync_catalog_task.apply().get().startswith("created 0, updated 0, unchanged 5, retired 0")


def test_task_skips_while_another_sync_holds_the_lock(db, mocked_responses):
    mock_catalogue(mocked_responses, bundles(), 2)
    with sync_lock():
        assert sync_catalog_task.apply().get() is None
    assert not Bundle.objects.exists()
    assert len(mocked_responses.calls) == 0


def test_task_logs_provider_faults_without_raising(db, mocked_responses, caplog):
    mock_catalogue(
        mocked_responses,
        bundles(),
        2,
        replace={2: {"status": 429, "json": {"message": "Rate limit exceeded"}, "headers": {"Retry-After": "120"}}},
    )
    assert sync_catalog_task.apply().get() is None
    assert (
        "catalogue sync failed: eSIM Go kept rate-limiting the sync on page 2 (HTTP 429); retry after 120.0s"
        in caplog.text
    )
    assert not Bundle.objects.exists()


def test_task_is_late_acked_and_scheduled_every_interval(settings):
    from esimshop.celery import app

    assert sync_catalog_task.acks_late is True
    app.loader.import_default_modules()  # what `celery beat` does at start-up (celery.apps.beat.init_loader)
    app.finalize()
    schedule = {entry["task"]: entry["schedule"] for entry in app.conf.beat_schedule.values()}
    assert schedule["catalog.tasks.sync_catalog_task"] == settings.CATALOG_SYNC_INTERVAL_HOURS * 3600
