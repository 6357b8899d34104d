"""The outage suite needs PostgreSQL's server binaries and redis-server to start its own servers,
and runs in CI (ESIMSHOP_REQUIRE_SERVICES=1: missing binaries fail the run there). Elsewhere
without them it is deselected with a note."""

import os
import shutil

from tests.outage.servers import PG_BIN

OUTAGE_NOTE = []


def binaries_available() -> bool:
    return (PG_BIN / "initdb").exists() and shutil.which("redis-server") is not None


def services_available() -> bool:
    """The suite also keeps the providers' database on the session's PostgreSQL (a plain
    `bin/test` on SQLite has none; the fault switchboard has a redis-server of its own)."""
    from django.conf import settings

    return "postgresql" in settings.DATABASES["default"]["ENGINE"] and bool(settings.REDIS_URL)


def pytest_collection_modifyitems(config, items):
    if os.environ.get("ESIMSHOP_REQUIRE_SERVICES") == "1" or (binaries_available() and services_available()):
        return
    outage = [item for item in items if item.get_closest_marker("outage")]
    if outage:
        items[:] = [item for item in items if not item.get_closest_marker("outage")]
        config.hook.pytest_deselected(items=outage)
        OUTAGE_NOTE.append(
            f"{len(outage)} outage test(s) not run: they need {PG_BIN}/initdb, redis-server, and PostgreSQL"
            " and Redis as DATABASE_URL/REDIS_URL (CI runs them)"
        )


def pytest_terminal_summary(terminalreporter):
    # The run's figures come as the test report's "outage_report" property: under pytest-xdist the test
    # runs in a worker process, and only its reports reach this (the controller's) summary.
    lines = list(OUTAGE_NOTE)
    for outcome in ("passed", "failed"):
        for report in terminalreporter.stats.get(outcome, []):
            if getattr(report, "when", None) == "call":
                lines += [
                    line
                    for name, value in report.user_properties
                    if name == "outage_report"
                    for line in value.splitlines()
                ]
    for line in lines:
        terminalreporter.write_line(f"outage: {line}", yellow=True)
