import pytest

from tests.orders.factories import BundleFactory


@pytest.fixture(autouse=True)
def _orders_settings(settings):
    settings.SITE_URL = "https://shop.example.mn"
    settings.STAFF_ALERT_EMAILS = ["staff@example.mn"]
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    settings.ORDERS_RECONCILE_AFTER_SECONDS = 60
    settings.ORDERS_SWEEP_AFTER_SECONDS = 120
    yield


@pytest.fixture
def bundle(db):
    return BundleFactory(name="esim_1GB_7D_JP_V2", countries=["JP"], computed_price_mnt=19500)


@pytest.fixture
def client(client, settings):
    """Pages in English (the shop picks the language from its cookie only); see `mn_client`."""
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "en"
    return client


@pytest.fixture
def mn_client(db):
    from django.test import Client

    return Client()
