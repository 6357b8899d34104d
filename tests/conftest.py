"""Test-wide setup.

CI (ESIMSHOP_REQUIRE_SERVICES=1) must run on real PostgreSQL and Redis: if either is
missing the session fails before any test runs, rather than quietly falling back.
Network access is blocked except loopback (pytest-socket, see pytest.ini); provider HTTP is
mocked with `responses` against the real production base URLs set below.
"""

import os

import pytest

ESIMGO_TEST_BASE_URL = "https://api.esim-go.com/v2.4"
QPAY_TEST_BASE_URL = "https://merchant.qpay.mn"


def _check_services():
    import psycopg
    import redis
    from django.conf import settings

    db = settings.DATABASES["default"]
    if "postgresql" not in db["ENGINE"]:
        raise pytest.UsageError(f"CI requires PostgreSQL; DATABASE_URL gives {db['ENGINE']}")
    try:
        psycopg.connect(
            host=db["HOST"] or "127.0.0.1",
            port=db["PORT"] or 5432,
            user=db["USER"],
            password=db["PASSWORD"],
            dbname="postgres",
            connect_timeout=5,
        ).close()
    except Exception as exc:  # noqa: BLE001 - any failure means "not reachable"
        raise pytest.UsageError(f"PostgreSQL is not reachable: {exc}") from exc
    if not settings.REDIS_URL:
        raise pytest.UsageError("CI requires Redis; REDIS_URL is not set")
    try:
        redis.Redis.from_url(settings.REDIS_URL, socket_connect_timeout=5).ping()
    except Exception as exc:  # noqa: BLE001
        raise pytest.UsageError(f"Redis is not reachable at {settings.REDIS_URL}: {exc}") from exc


# Under pytest-xdist (.ci/run: -n 2 --dist loadgroup --no-loadscope-reorder) these groups are
# handed out first, in this order: the outage and chaos runs (minutes each, mostly waiting on
# their own processes) start at once on a worker each and the short tests fill in around them.
# session-redis-workers: tests whose Celery workers consume the default queues on the session's
# Redis; one at a time, or one's worker would take the other's tasks.
XDIST_GROUPS_FIRST = ("outage", "chaos", "session-redis-workers")


def pytest_collection_modifyitems(config, items):
    if not os.environ.get("PYTEST_XDIST_WORKER"):
        return

    def rank(item):
        groups = {mark.args[0] for mark in item.iter_markers("xdist_group") if mark.args}
        return next((i for i, name in enumerate(XDIST_GROUPS_FIRST) if name in groups), len(XDIST_GROUPS_FIRST))

    items.sort(key=rank)  # stable: every worker collects the same order, as xdist requires


def pytest_configure(config):
    if os.environ.get("ESIMSHOP_REQUIRE_SERVICES") == "1":
        import django

        django.setup()
        _check_services()


@pytest.fixture(autouse=True)
def _provider_settings(settings):
    """Unit tests talk to the real providers' URLs, which `responses` intercepts."""
    settings.ESIMGO_BASE_URL = ESIMGO_TEST_BASE_URL
    settings.ESIMGO_API_KEY = "test-esimgo-key"
    settings.QPAY_BASE_URL = QPAY_TEST_BASE_URL
    settings.QPAY_CLIENT_ID = "TEST_MERCHANT"
    settings.QPAY_CLIENT_SECRET = "test-secret"
    settings.QPAY_INVOICE_CODE = "TEST_INVOICE"
    settings.QPAY_CALLBACK_PUBLIC_BASE_URL = "https://shop.example.mn"
    settings.CELERY_TASK_ALWAYS_EAGER = True
    from esimshop.celery import app as celery_app

    celery_app.conf.task_always_eager = True
    celery_app.conf.task_eager_propagates = False
    settings.ESIMGO_MAX_RETRIES = 2
    yield


@pytest.fixture(autouse=True)
def _clean_log_context():
    """Ids bound to the log context by one test (no request middleware around it) stay out of the next."""
    from structlog.contextvars import clear_contextvars

    clear_contextvars()
    yield
    clear_contextvars()


@pytest.fixture(autouse=True)
def _clean_cache():
    from django.core.cache import cache

    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def mocked_responses():
    import responses

    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        yield rsps


@pytest.fixture
def live_shop(live_server, settings):
    """The one live-server fixture: pytest-django's live server with both providers pointed at its
    own sandboxes over real HTTP (no mocks on the wire), sandbox callbacks answered inline and
    mail kept in memory. Tests that need more (a synced catalogue, a browser, a worker) build on it."""
    settings.SITE_URL = live_server.url
    settings.QPAY_BASE_URL = live_server.url + "/sandbox/qpay"
    settings.QPAY_CALLBACK_PUBLIC_BASE_URL = live_server.url
    # The sandbox takes only this installation's own sandbox credentials (never real ones).
    settings.QPAY_CLIENT_ID, settings.QPAY_CLIENT_SECRET, settings.QPAY_INVOICE_CODE = (
        settings.SANDBOX_QPAY_CLIENT_ID,
        settings.SANDBOX_QPAY_CLIENT_SECRET,
        settings.SANDBOX_QPAY_INVOICE_CODE,
    )
    settings.ESIMGO_BASE_URL = live_server.url + "/sandbox/esimgo/v2.4"
    settings.ESIMGO_API_KEY = settings.SANDBOX_ESIMGO_API_KEY
    settings.ESIMGO_CALLBACK_URL = live_server.url + "/esimgo/callback/"
    settings.SANDBOX_ESIMGO_RATE_LIMIT = 0  # the shop's own limiter is tested against the sandbox's separately
    settings.SANDBOX_QPAY_CALLBACK_INLINE = True  # the bank page answers after the shop has answered QPay
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    settings.STAFF_ALERT_EMAILS = ["staff@example.mn"]
    return live_server
