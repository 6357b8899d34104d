import os
from decimal import Decimal

import pytest
import responses

from tests.conftest import ESIMGO_TEST_BASE_URL
from tests.payments.qpay_mocks import BASE as QPAY_BASE
from tests.payments.qpay_mocks import add_token

ORGANISATION_URL = f"{ESIMGO_TEST_BASE_URL}/organisation"
QPAY_TOKEN_URL = f"{QPAY_BASE}/auth/token"
WEBHOOK_URL = "https://hooks.example.mn/esimshop-alerts"


@pytest.fixture(autouse=True)
def _ops_settings(settings):
    from ops import readiness

    settings.STAFF_ALERT_EMAILS = ["staff@example.mn"]
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    settings.SITE_URL = "https://shop.example.mn"
    settings.QPAY_MAX_RETRIES = 0
    settings.ESIMGO_MAX_RETRIES = 0
    settings.ESIMGO_LOW_BALANCE_THRESHOLD = Decimal("100")
    settings.READYZ_CHECK_TIMEOUT_SECONDS = 2.0
    settings.ALERT_WEBHOOK_URL = ""
    settings.ALERT_REPEAT_MINUTES = 60
    settings.UNDELIVERED_ALERT_MINUTES = 10
    settings.HEARTBEAT_QUEUES = ["celery", "provisioning"]
    readiness.forget()
    yield
    readiness.forget()


@pytest.fixture
def celery_mode(settings):
    """Production's mode: Redis broker, real workers (so heartbeats matter)."""
    if not settings.REDIS_URL:
        # CI (ESIMSHOP_REQUIRE_SERVICES=1) always has Redis and fails at start-up without it; a
        # plain bin/test on a laptop without Redis leaves these out, saying why.
        assert os.environ.get("ESIMSHOP_REQUIRE_SERVICES") != "1", "these tests need REDIS_URL"
        pytest.skip("these tests need REDIS_URL (CI sets it)")
    settings.CELERY_TASK_ALWAYS_EAGER = False
    return settings


def organisation(rsps, balance=250.5, status=200):
    body = {"organisations": [{"name": "esimshop", "balance": balance, "currency": "USD"}]}
    return rsps.add(responses.GET, ORGANISATION_URL, json=body if status == 200 else {"message": "down"}, status=status)


def qpay_token(rsps, status=200):
    if status == 200:
        return add_token(rsps)
    return rsps.add(responses.POST, QPAY_TOKEN_URL, json={"error": "NO_CREDENDIALS"}, status=status)
