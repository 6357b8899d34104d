"""Is this configuration safe to take real money? One pure function, used twice.

settings.py calls `configuration_problems()` at import and, with DEBUG=False, refuses to start
(ImproperlyConfigured) on any problem; `check_production_configuration` reports the same problems
as Error-level system checks under the `deploy` tag, so `manage.py check --deploy` fails on a
configuration the server would refuse (also when run with DEBUG=True on a laptop).

The rules (issue 9, "What must hold" 1 and 2):
- SANDBOX is an explicit opt-in and never runs in production, except as a public demo:
  SANDBOX=True and SANDBOX_PUBLIC_DEMO=True with no real credential and both providers the sandbox.
- Otherwise every real provider credential must be set (each missing one is named), no provider
  base URL may point at the built-in sandbox (/sandbox/), and real and sandbox providers never mix.
- Provider base URLs are https; plain http only for loopback hosts and only with
  PROVIDERS_ALLOW_LOOPBACK_HTTP=True (the production-mode test's stand-in providers).
- SECRET_KEY: at least 50 characters and not a value found anywhere in the repository.
"""

from __future__ import annotations

import hashlib
import hmac
import os
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from django.conf import settings as django_settings
from django.core import checks

MIN_SECRET_KEY_LENGTH = 50
REAL_CREDENTIALS = ("ESIMGO_API_KEY", "QPAY_CLIENT_ID", "QPAY_CLIENT_SECRET", "QPAY_INVOICE_CODE")
LOOPBACK_HOSTS = {"127.0.0.1", "localhost", "::1"}
# Folders that are not the repository's own text (installed packages, build output, caches).
SKIPPED_DIRS = {
    ".venv",
    "venv",
    ".git",
    "node_modules",
    "staticfiles",
    "test-artifacts",
    ".cache",
    "media",
    "__pycache__",
    ".pytest_cache",
    ".hypothesis",
}
TEXT_SUFFIXES = {
    ".py",
    ".md",
    ".txt",
    ".example",
    ".ini",
    ".cfg",
    ".toml",
    ".yaml",
    ".yml",
    ".json",
    ".html",
    ".js",
    ".css",
    ".sh",
    ".env",
    ".po",
    "",
}
MAX_SCANNED_FILE_BYTES = 2_000_000


@dataclass(frozen=True)
class ProviderSetup:
    """What the environment says (credentials as given, before any sandbox default)."""

    debug: bool
    sandbox: bool
    public_demo: bool
    secret_key: str
    esimgo_base_url: str
    qpay_base_url: str
    credentials: dict = field(default_factory=dict)  # REAL_CREDENTIALS name -> value given ("" = unset)
    allow_loopback_http: bool = False


def env_example_names(repo_root: Path) -> frozenset[str]:
    """The settings .env.example lists (every one the shop reads)."""
    try:
        lines = (Path(repo_root) / ".env.example").read_text().splitlines()
    except OSError:
        return frozenset()
    return frozenset(
        line.split("=", 1)[0].strip() for line in lines if "=" in line and not line.lstrip().startswith("#")
    )


def is_sandbox_url(url: str) -> bool:
    """A base URL served by the built-in sandbox (this site's /sandbox/, wherever it is hosted)."""
    path = urlsplit(url or "").path
    return path == "/sandbox" or path.startswith("/sandbox/")


def _scheme_problem(name: str, url: str, allow_loopback_http: bool) -> str | None:
    parts = urlsplit(url or "")
    if parts.scheme == "https" and parts.hostname:
        return None
    if parts.scheme == "http" and allow_loopback_http and parts.hostname in LOOPBACK_HOSTS:
        return None
    return f"{name}={url!r} must be an https:// URL."


def secret_key_problems(secret_key: str, repo_root: Path | None) -> list[str]:
    problems = []
    if len(secret_key) < MIN_SECRET_KEY_LENGTH:
        problems.append(
            f"SECRET_KEY is {len(secret_key)} characters; it must have at least "
            f"{MIN_SECRET_KEY_LENGTH} (e.g. python -c 'import secrets; print(secrets.token_urlsafe(50))')."
        )
    elif repo_root is not None and secret_key_in_repository(secret_key, repo_root):
        problems.append("SECRET_KEY is a value written in the repository; generate a new one for this installation.")
    return problems


def secret_key_in_repository(secret_key: str, repo_root: Path) -> bool:
    """True when the key occurs in any of the repository's text files (examples, docs, tests, code)."""
    needle = secret_key.encode()
    for directory, dirs, files in os.walk(repo_root):
        dirs[:] = [d for d in dirs if d not in SKIPPED_DIRS]
        for name in files:
            path = Path(directory, name)
            if path.suffix not in TEXT_SUFFIXES and not name.startswith((".env", "Procfile")):
                continue
            try:
                if path.stat().st_size <= MAX_SCANNED_FILE_BYTES and needle in path.read_bytes():
                    return True
            except OSError:
                continue
    return False


def configuration_problems(setup: ProviderSetup, *, repo_root: Path | None = None) -> list[str]:
    """Every reason this configuration must not serve the public; [] = safe."""
    problems = secret_key_problems(setup.secret_key, repo_root)
    given = {name: bool(setup.credentials.get(name)) for name in REAL_CREDENTIALS}
    urls = {"ESIMGO_BASE_URL": setup.esimgo_base_url, "QPAY_BASE_URL": setup.qpay_base_url}
    sandboxed = {name: is_sandbox_url(url) for name, url in urls.items()}
    if setup.public_demo and not setup.sandbox:
        problems.append("SANDBOX_PUBLIC_DEMO=True needs SANDBOX=True (a demo runs on the sandbox only).")
    if setup.sandbox:
        if not setup.public_demo:
            problems.append(
                "SANDBOX=True with DEBUG=False: the built-in sandbox hands out free payments and fake "
                "eSIMs. Unset SANDBOX for production, or set SANDBOX_PUBLIC_DEMO=True for a public demo."
            )
            return problems
        problems += [
            f"{name} is set, but a public demo (SANDBOX_PUBLIC_DEMO=True) must not hold real credentials."
            for name, present in given.items()
            if present
        ]
        problems += [
            f"{name}={url!r} is not the sandbox: a public demo uses the sandbox for both providers "
            "(real and sandbox providers must not be mixed)."
            for name, url in urls.items()
            if not sandboxed[name]
        ]
        return problems
    problems += [f"{name} is missing (required with DEBUG=False)." for name, present in given.items() if not present]
    if any(sandboxed.values()) and not all(sandboxed.values()):
        problems.append(
            "Real and sandbox providers are mixed: "
            + ", ".join(f"{n} is {'the sandbox' if s else 'real'}" for n, s in sandboxed.items())
            + "."
        )
    for name, url in urls.items():
        if sandboxed[name]:
            problems.append(f"{name}={url!r} points at the built-in sandbox (/sandbox/), but SANDBOX is off.")
        else:
            problem = _scheme_problem(name, url, setup.allow_loopback_http)
            if problem:
                problems.append(problem)
    return problems


def sandbox_secret(secret_key: str, purpose: str) -> str:
    """A sandbox credential of this installation: derived from SECRET_KEY, never hard-coded, and
    never equal to anything a real provider issued."""
    return hmac.new(secret_key.encode(), f"esimshop.sandbox.{purpose}".encode(), hashlib.sha256).hexdigest()[:40]


def setup_from_settings(settings, *, debug: bool | None = None) -> ProviderSetup:
    return ProviderSetup(
        debug=settings.DEBUG if debug is None else debug,
        sandbox=settings.SANDBOX,
        public_demo=settings.SANDBOX_PUBLIC_DEMO,
        secret_key=settings.SECRET_KEY,
        esimgo_base_url=settings.ESIMGO_BASE_URL,
        qpay_base_url=settings.QPAY_BASE_URL,
        credentials=dict(settings.PROVIDER_CREDENTIALS_GIVEN),
        allow_loopback_http=settings.PROVIDERS_ALLOW_LOOPBACK_HTTP,
    )


@checks.register(checks.Tags.security, deploy=True)
def check_production_configuration(app_configs=None, **kwargs):
    """`check --deploy`: the refusals of a DEBUG=False start, as errors (esimshop.E001)."""
    setup = setup_from_settings(django_settings, debug=False)
    return [
        checks.Error(problem, id="esimshop.E001")
        for problem in configuration_problems(setup, repo_root=Path(django_settings.BASE_DIR))
    ]
