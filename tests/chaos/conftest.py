"""The chaos run needs what production has: PostgreSQL, Redis, real worker processes. CI always
has them (ESIMSHOP_REQUIRE_SERVICES=1 makes the session fail without them, so there the test
always runs). A laptop without them cannot run it at all; there it is deselected with a note
saying so, instead of failing every plain `bin/test`."""

import os

from django.conf import settings

CHAOS_NOTE = []


def services_available() -> bool:
    return "postgresql" in settings.DATABASES["default"]["ENGINE"] and bool(settings.REDIS_URL)


def pytest_collection_modifyitems(config, items):
    if os.environ.get("ESIMSHOP_REQUIRE_SERVICES") == "1" or services_available():
        return
    chaos = [item for item in items if item.get_closest_marker("chaos")]
    if chaos:
        items[:] = [item for item in items if not item.get_closest_marker("chaos")]
        config.hook.pytest_deselected(items=chaos)
        CHAOS_NOTE.append(
            f"{len(chaos)} chaos test(s) not run: they need DATABASE_URL=postgres://... and REDIS_URL (CI runs them)"
        )


def pytest_terminal_summary(terminalreporter):
    # The run's figures come as the test report's "chaos_report" property: under pytest-xdist the test
    # runs in a worker process, and only its reports reach this (the controller's) summary.
    lines = list(CHAOS_NOTE)
    for outcome in ("passed", "failed"):
        for report in terminalreporter.stats.get(outcome, []):
            if getattr(report, "when", None) == "call":
                lines += [
                    line
                    for name, value in report.user_properties
                    if name == "chaos_report"
                    for line in value.splitlines()
                ]
    for line in lines:
        terminalreporter.write_line(f"chaos: {line}", yellow=True)
