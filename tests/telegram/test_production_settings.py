"""Production (DEBUG=False) with Telegram: a token needs a real webhook secret, the sandbox token
and sandbox Bot API are refused, and only Telegram's one client script is added to the CSP."""

import subprocess
import sys

import pytest

from tests.test_security import ROOT, production_env

SCRIPT = (
    "import django; django.setup()\n"
    "from django.conf import settings as s; from django.urls import get_resolver\n"
    "routes = [str(p.pattern) for p in get_resolver().url_patterns]\n"
    "print(s.TELEGRAM_BOT_API_BASE_URL, ' '.join(s.CONTENT_SECURITY_POLICY['script-src']),"
    " any(r.startswith('sandbox') for r in routes), any(r.startswith('telegram') for r in routes))\n"
)


def run(tmp_path, **extra):
    env = {**production_env(tmp_path), **extra}
    return subprocess.run(
        [sys.executable, "-c", SCRIPT], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )


def test_without_a_token_the_feature_is_off_and_the_csp_unchanged(tmp_path):
    result = run(tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split()[-3:] == ["'self'", "False", "True"]


def test_with_a_token_and_secret_only_telegrams_script_is_allowed(tmp_path):
    result = run(tmp_path, TELEGRAM_BOT_TOKEN="7000000001:AAreal-looking-token", TELEGRAM_WEBHOOK_SECRET="s" * 40)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split()[-5:] == [
        "https://api.telegram.org",
        "'self'",
        "https://telegram.org/js/telegram-web-app.js",
        "False",
        "True",
    ]


@pytest.mark.parametrize(
    "extra,message",
    [
        ({"TELEGRAM_BOT_TOKEN": "7000000001:AAreal-looking-token"}, "TELEGRAM_WEBHOOK_SECRET"),
        (
            {"TELEGRAM_BOT_TOKEN": "7000000001:AAreal-looking-token", "TELEGRAM_WEBHOOK_SECRET": "short"},
            "TELEGRAM_WEBHOOK_SECRET",
        ),
        (
            {"TELEGRAM_BOT_TOKEN": "123456789:SANDBOX-bot-token-not-a-real-one", "TELEGRAM_WEBHOOK_SECRET": "s" * 40},
            "sandbox token",
        ),
        (
            {
                "TELEGRAM_BOT_TOKEN": "7000000001:AAreal-looking-token",
                "TELEGRAM_WEBHOOK_SECRET": "s" * 40,
                "TELEGRAM_BOT_API_BASE_URL": "http://127.0.0.1:8000/sandbox/telegram",
            },
            "https://",
        ),
    ],
)
def test_a_wrong_telegram_configuration_refuses_to_start(tmp_path, extra, message):
    result = run(tmp_path, **extra)
    assert result.returncode != 0
    assert "ImproperlyConfigured" in result.stderr and message in result.stderr
