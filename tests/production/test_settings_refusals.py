"""Issue 9: every settings combination is refused or safe (the pure rule of
esimshop/production_checks.py), plus subprocess smokes of the real settings module and
`check --deploy`."""

import itertools
import os
import secrets
import subprocess
import sys
from pathlib import Path

import pytest

from esimshop.production_checks import REAL_CREDENTIALS, ProviderSetup, configuration_problems

ROOT = Path(__file__).resolve().parents[2]
GOOD_KEY = secrets.token_urlsafe(50)
REAL = {
    "ESIMGO_API_KEY": "live-esimgo-key",
    "QPAY_CLIENT_ID": "SHOP",
    "QPAY_CLIENT_SECRET": "live-qpay-secret",
    "QPAY_INVOICE_CODE": "SHOP_INVOICE",
}
URLS = {
    "real": ("https://api.esim-go.com/v2.4", "https://merchant.qpay.mn"),
    "sandbox": ("https://shop.example.mn/sandbox/esimgo/v2.4", "https://shop.example.mn/sandbox/qpay"),
    "mixed: sandbox eSIM Go": ("https://shop.example.mn/sandbox/esimgo/v2.4", "https://merchant.qpay.mn"),
    "mixed: sandbox QPay": ("https://api.esim-go.com/v2.4", "https://shop.example.mn/sandbox/qpay"),
}
MISSING = [None, *REAL_CREDENTIALS, "all"]


def setup(sandbox, demo, urls, missing):
    credentials = {} if missing == "all" else {k: v for k, v in REAL.items() if k != missing}
    esimgo, qpay = URLS[urls]
    return ProviderSetup(
        debug=False,
        sandbox=sandbox,
        public_demo=demo,
        secret_key=GOOD_KEY,
        esimgo_base_url=esimgo,
        qpay_base_url=qpay,
        credentials=credentials,
    )


def is_safe(sandbox, demo, urls, missing) -> bool:
    """What issue 9 says is allowed to serve the public with DEBUG=False."""
    if sandbox:  # only as a public demo: no real credentials, both providers the sandbox
        return demo and missing == "all" and urls == "sandbox"
    return not demo and missing is None and urls == "real"


@pytest.mark.parametrize(
    "sandbox, demo, urls, missing", list(itertools.product([False, True], [False, True], URLS, MISSING))
)
def test_every_combination_is_refused_or_safe(sandbox, demo, urls, missing):
    problems = configuration_problems(setup(sandbox, demo, urls, missing))
    if is_safe(sandbox, demo, urls, missing):
        assert problems == []
    else:
        assert problems, "must refuse"
    if not sandbox and missing not in (None, "all"):
        assert any(missing in problem for problem in problems)  # each missing variable is named
    if not sandbox and missing == "all":
        assert all(any(name in problem for problem in problems) for name in REAL_CREDENTIALS)


@pytest.mark.parametrize(
    "key, refused",
    [
        ("short", True),
        ("x" * 49, True),
        ("sandbox-insecure-secret-key-do-not-use-in-production", True),  # in the repository
        (GOOD_KEY, False),
    ],
)
def test_secret_key_rules(key, refused):
    problems = configuration_problems(
        ProviderSetup(
            debug=False,
            sandbox=False,
            public_demo=False,
            secret_key=key,
            esimgo_base_url=URLS["real"][0],
            qpay_base_url=URLS["real"][1],
            credentials=REAL,
        ),
        repo_root=ROOT,
    )
    assert bool(problems) is refused


def test_a_long_key_copied_from_the_repository_is_refused(tmp_path):
    copied = "a-fifty-character-example-key-0123456789abcdefghijk"
    (tmp_path / "README.md").write_text(f"SECRET_KEY={copied}\n")
    problems = configuration_problems(
        ProviderSetup(
            debug=False,
            sandbox=False,
            public_demo=False,
            secret_key=copied,
            esimgo_base_url=URLS["real"][0],
            qpay_base_url=URLS["real"][1],
            credentials=REAL,
        ),
        repo_root=tmp_path,
    )
    assert problems and "repository" in problems[0]


@pytest.mark.parametrize(
    "url, allow, refused",
    [
        ("http://api.esim-go.com/v2.4", True, True),  # plain http to anywhere but loopback: never
        ("http://127.0.0.1:9001/v2.4", False, True),  # loopback only with the explicit test switch
        ("http://127.0.0.1:9001/v2.4", True, False),
    ],
)
def test_provider_urls_are_https_except_opted_in_loopback(url, allow, refused):
    problems = configuration_problems(
        ProviderSetup(
            debug=False,
            sandbox=False,
            public_demo=False,
            secret_key=GOOD_KEY,
            esimgo_base_url=url,
            qpay_base_url=URLS["real"][1],
            credentials=REAL,
            allow_loopback_http=allow,
        )
    )
    assert bool(problems) is refused


# --- the real settings module, in a subprocess ------------------------------------------------


def env_for(tmp_path, **overrides) -> dict:
    keep = {k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "LANG")}
    env = {
        **keep,
        "DJANGO_SETTINGS_MODULE": "esimshop.settings",
        "DEBUG": "False",
        "SECRET_KEY": GOOD_KEY,
        "ALLOWED_HOSTS": "shop.example.mn",
        "SITE_URL": "https://shop.example.mn",
        "DATABASE_URL": f"sqlite:///{tmp_path / 'x.sqlite3'}",
        **REAL,
        "LOG_LEVEL": "WARNING",
    }
    env.update(overrides)
    return {k: v for k, v in env.items() if v is not None}


def run(args, env):
    return subprocess.run([sys.executable, *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize(
    "overrides, cause",
    [
        ({"ESIMGO_API_KEY": None}, "ESIMGO_API_KEY is missing"),
        ({"ESIMGO_API_KEY": ""}, "ESIMGO_API_KEY is missing"),
        ({"SANDBOX": "True"}, "SANDBOX=True with DEBUG=False"),
        ({"QPAY_BASE_URL": "https://shop.example.mn/sandbox/qpay"}, "points at the built-in sandbox"),
        ({"SECRET_KEY": "change-me"}, "SECRET_KEY is 9 characters"),
        ({"DEBUG": None, "SECRET_KEY": None}, "SECRET_KEY"),  # DEBUG defaults to False
    ],
)
def test_the_settings_module_refuses_to_start_naming_the_cause(tmp_path, overrides, cause):
    result = run(["-c", "import django; django.setup()"], env_for(tmp_path, **overrides))
    assert result.returncode != 0 and "ImproperlyConfigured" in result.stderr and cause in result.stderr


def test_a_safe_production_environment_starts_without_the_sandbox(tmp_path):
    script = (
        "import django; django.setup()\nfrom django.conf import settings as s\nfrom django.urls import resolve, Resolver404\n"
        "try:\n    resolve('/sandbox/qpay/v2/auth/token'); print('mounted')\nexcept Resolver404:\n    print('absent')\n"
        "print(s.DEBUG, s.SANDBOX)"
    )
    result = run(["-c", script], env_for(tmp_path))
    assert result.returncode == 0, result.stderr
    assert result.stdout.split()[-3:] == ["absent", "False", "False"]


def test_a_public_demo_starts_with_the_sandbox_mounted(tmp_path):
    env = env_for(
        tmp_path,
        SANDBOX="True",
        SANDBOX_PUBLIC_DEMO="True",
        ESIMGO_BASE_URL=None,
        QPAY_BASE_URL=None,
        **{k: None for k in REAL},
    )
    script = (
        "import django; django.setup()\nfrom django.conf import settings as s\nfrom django.urls import resolve\n"
        "resolve('/sandbox/qpay/v2/auth/token')\nprint(s.SANDBOX_PUBLIC_DEMO, s.QPAY_CLIENT_ID == s.SANDBOX_QPAY_CLIENT_ID)"
    )
    result = run(["-c", script], env)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split()[-2:] == ["True", "True"]


@pytest.mark.django_db
@pytest.mark.parametrize("path", ["/", "/my-esims/", "/no-such-page/"])
def test_every_page_of_a_public_demo_says_it_is_a_demo(client, settings, path):
    settings.SANDBOX_PUBLIC_DEMO = True
    client.cookies["django_language"] = "en"
    assert "Demo shop: no real payments" in client.get(path).content.decode()


def test_check_deploy_fails_on_the_sandbox_setup_and_names_it(tmp_path):
    env = env_for(tmp_path, DEBUG="True", SANDBOX="True", **{k: None for k in REAL})
    result = run(["manage.py", "check", "--deploy"], env)
    assert result.returncode != 0 and "esimshop.E001" in result.stderr and "SANDBOX=True" in result.stderr
