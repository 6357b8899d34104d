"""Fuzz suite: hypothesis profiles, per-target input counters and the "no write" oracle.

Profiles (hypothesis settings):
  ci    (default) 60 examples per property, derandomized (same inputs every run), no deadline;
  full  FUZZ_EXAMPLES per property (default 2,000), random, no deadline.
`FUZZ_EXAMPLES=N` selects "full" with N examples; `FUZZ_PROFILE=ci|full` picks a profile by name.
Every run ends with a line per target saying how many inputs were tried.
"""

import os
from collections import Counter

import pytest
from django.apps import apps
from hypothesis import HealthCheck, settings

FUZZ_EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES") or 0)
_COMMON = {
    "deadline": None,
    "database": None,  # no example database written into the work tree
    # The `db`/`client` fixtures are function-scoped on purpose: each example measures its own row deltas.
    "suppress_health_check": [
        HealthCheck.function_scoped_fixture,
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
        HealthCheck.filter_too_much,
    ],
}
settings.register_profile("ci", max_examples=60, derandomize=True, **_COMMON)
settings.register_profile("full", max_examples=FUZZ_EXAMPLES or 2000, **_COMMON)
settings.load_profile(os.environ.get("FUZZ_PROFILE") or ("full" if FUZZ_EXAMPLES else "ci"))

TRIED = Counter()


def tried(target: str) -> None:
    TRIED[target] += 1


def pytest_terminal_summary(terminalreporter):
    if not TRIED:
        return
    profile = settings.default
    terminalreporter.section(
        f"fuzz: inputs tried per target (max_examples {profile.max_examples}, "
        f"{'derandomized' if profile.derandomize else 'random'})"
    )
    for target, count in sorted(TRIED.items()):
        terminalreporter.write_line(f"{count:>8}  {target}")
    terminalreporter.write_line(f"{sum(TRIED.values()):>8}  total")


def row_counts() -> dict:
    """Rows per model of every installed app: an input that was refused must leave all unchanged."""
    return {model._meta.label: model._default_manager.count() for model in apps.get_models() if not model._meta.proxy}


def changed_rows(before: dict, after: dict) -> dict:
    return {label: after[label] - before[label] for label in after if after[label] != before.get(label)}


@pytest.fixture(autouse=True)
def _fuzz_settings(settings):
    settings.QPAY_MAX_RETRIES = 0
    settings.ESIMGO_MAX_RETRIES = 0
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    yield
