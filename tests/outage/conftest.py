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
    """The suite also keeps the providers' database and its fault switchboard on the session's
    PostgreSQL and Redis (a plain `bin/test` on SQLite has neither)."""
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
    for line in OUTAGE_NOTE:
        terminalreporter.write_line(f"outage: {line}", yellow=True)
