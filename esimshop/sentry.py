"""Error reporting: sentry-sdk, off unless SENTRY_DSN is set.

Whatever leaves the server goes through `scrub_event` first: the same redaction as the logs
(tokens, phone numbers, LPA strings, secrets) applied to every string of the event, plus
request bodies, cookies and the headers that carry credentials dropped outright, and e-mail
addresses masked (an e-mail is personal data Sentry does not need).
"""

from __future__ import annotations

import logging
import re
import subprocess
from pathlib import Path

import sentry_sdk
from sentry_sdk.integrations.celery import CeleryIntegration
from sentry_sdk.integrations.django import DjangoIntegration
from sentry_sdk.integrations.logging import LoggingIntegration

from esimshop.log_redaction import REDACTED, redact

EMAIL = re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}")
SENSITIVE_KEYS = re.compile(
    r"(?i)(email|phone|token|secret|password|authorization|cookie|api[_-]?key|"
    r"matching_?id|activation|lpa|session|csrf)"
)


def git_revision(base_dir: Path) -> str:
    try:
        return subprocess.run(
            ["git", "rev-parse", "--short=12", "HEAD"],  # noqa: S607 - git from PATH, as deploys run it
            cwd=base_dir,
            capture_output=True,
            text=True,
            timeout=2,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return ""


def _scrub(value, depth=0):
    if depth > 20:
        return REDACTED
    if isinstance(value, str):
        return EMAIL.sub(REDACTED, redact(value))
    if isinstance(value, dict):
        return {
            k: (
                REDACTED
                if isinstance(k, str) and SENSITIVE_KEYS.search(k) and v not in (None, "")
                else _scrub(v, depth + 1)
            )
            for k, v in value.items()
        }
    if isinstance(value, (list, tuple)):
        return [_scrub(v, depth + 1) for v in value]
    return value


def scrub_event(event, hint=None):
    request = event.get("request")
    if isinstance(request, dict):
        request.pop("data", None)  # form/JSON bodies: phone, e-mail
        request.pop("cookies", None)  # session, csrf
        request.pop("query_string", None)  # callback ?token=
    user = event.get("user")
    if isinstance(user, dict):
        event["user"] = {k: v for k, v in user.items() if k == "id"}
    return _scrub(event)


def init(*, dsn: str, release: str, environment: str, traces_sample_rate: float = 0.0, transport=None) -> bool:
    if not dsn:
        return False
    sentry_sdk.init(
        dsn=dsn,
        release=release or None,
        environment=environment,
        integrations=[
            DjangoIntegration(),
            CeleryIntegration(),
            LoggingIntegration(level=logging.INFO, event_level=logging.ERROR),
        ],
        # No personal data by default (sentry-sdk 2.x default), no frame locals (an eSIM, a customer).
        include_local_variables=False,
        before_send=scrub_event,
        before_send_transaction=scrub_event,
        traces_sample_rate=traces_sample_rate,
        transport=transport,
        # A Sentry outage must never slow a purchase: the SDK sends from its own thread with a
        # bounded queue; shutdown waits at most this long.
        shutdown_timeout=2,
    )
    return True
