import re
from decimal import Decimal

import pytest
import responses

from tests.conftest import ESIMGO_TEST_BASE_URL
from tests.payments.qpay_mocks import BASE as QPAY_BASE
from tests.payments.qpay_mocks import add_token

ORGANISATION_URL = f"{ESIMGO_TEST_BASE_URL}/organisation"
ESIMGO_ORDERS_LIST = re.compile(re.escape(f"{ESIMGO_TEST_BASE_URL}/orders") + r"\?.*")
QPAY_PAYMENT_LIST = f"{QPAY_BASE}/payment/list"


@pytest.fixture(autouse=True)
def _staff_settings(settings):
    settings.STAFF_ALERT_EMAILS = ["staff@example.mn"]
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    settings.SITE_URL = "https://shop.example.mn"
    settings.QPAY_MAX_RETRIES = 0
    settings.ESIMGO_MAX_RETRIES = 0
    settings.QPAY_USD_TO_MNT_RATE = Decimal("3450")
    settings.ESIMGO_LOW_BALANCE_THRESHOLD = Decimal("100")
    settings.QPAY_MERCHANT_ID = "SHOP_MERCHANT"  # object_id of the merchant-wide payment list
    yield


@pytest.fixture
def organisation(mocked_responses):
    """eSIM Go balance 250 USD (above the default 100 threshold)."""
    return mocked_responses.add(
        responses.GET,
        ORGANISATION_URL,
        json={"organisations": [{"name": "esimshop", "balance": 250.5, "currency": "USD"}]},
    )


@pytest.fixture
def qpay_token(mocked_responses):
    return add_token(mocked_responses)


@pytest.fixture
def admin_client(admin_client, settings):
    """Admin pages in English (the shop defaults to Mongolian; the switcher's cookie says otherwise)."""
    admin_client.cookies[settings.LANGUAGE_COOKIE_NAME] = "en"
    return admin_client


@pytest.fixture
def client(client, settings):
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "en"
    return client


@pytest.fixture
def member(django_user_model):
    """member("support") / member("finance"): a staff user in that group (groups come from a migration)."""
    from django.contrib.auth.models import Group

    def make(group, username=None):
        user = django_user_model.objects.create_user(username or f"{group}-person", password="x", is_staff=True)
        user.groups.add(Group.objects.get(name=group))
        return django_user_model.objects.get(pk=user.pk)  # fresh: no cached permissions

    return make
