"""eSIM Go V3 usage callbacks: signature (base64 and hex), inbox dedupe, 80 %/100 % e-mails once."""

import base64
import hashlib
import hmac
import json
import re

import pytest
from django.core import mail
from django.core.cache import cache

from orders import usage
from orders.models import EmailLog, ESIMGoCallback
from tests.conftest import ESIMGO_TEST_BASE_URL
from tests.orders.esimgo_mocks import esim_bundles
from tests.orders.factories import DeliveredOrderFactory, InvoiceFactory

pytestmark = pytest.mark.django_db

URL = "/esimgo/callback/"
KEY = "test-esimgo-key"  # settings.ESIMGO_API_KEY in tests


def sign(body: bytes, encoding="base64", key=KEY) -> str:
    digest = hmac.new(key.encode(), body, hashlib.sha256).digest()
    return base64.b64encode(digest).decode() if encoding == "base64" else digest.hex()


def utilisation(
    iccid, *, initial=1_000_000_000, remaining=200_000_000, assignment="a-1", name="esim_1GB_7D_JP_V2", raw_iccid=False
):
    payload = {
        "iccid": "ICCID",
        "alertType": "Utilisation",
        "bundle": {
            "id": assignment,
            "reference": f"{assignment}-ref",
            "name": name,
            "description": "eSIM, 1GB, 7 Days",
            "initialQuantity": initial,
            "remainingQuantity": remaining,
            "startTime": "2026-11-21T00:00:00Z",
            "endTime": "2026-11-28T00:00:00Z",
            "unlimited": False,
        },
    }
    text = json.dumps(payload)
    # ICCID as a bare JSON number (as one docs page renders it) or as a string.
    return text.replace('"ICCID"', iccid if raw_iccid else f'"{iccid}"').encode()


def post(client, body, signature):
    headers = {"X-Signature-SHA256": signature} if signature is not None else {}
    return client.post(URL, data=body, content_type="application/json", headers=headers)


@pytest.fixture
def order(bundle):
    return DeliveredOrderFactory(invoice=InvoiceFactory(bundle=bundle))


@pytest.fixture
def bundles_api(mocked_responses):
    mocked_responses.get(
        re.compile(re.escape(ESIMGO_TEST_BASE_URL) + r"/esims/\d+/bundles.*"),
        json=esim_bundles("esim_1GB_7D_JP_V2", remaining=200_000_000),
    )
    return mocked_responses


@pytest.mark.parametrize("encoding", ["base64", "hex"])
def test_signed_callback_is_stored_processed_and_alerts_at_80(
    client, order, bundles_api, encoding, django_capture_on_commit_callbacks
):
    body = utilisation(order.esim.iccid, remaining=200_000_000)
    with django_capture_on_commit_callbacks(execute=True):
        response = post(client, body, sign(body, encoding))
    assert response.status_code == 200
    assert response.json() == {"ok": True, "duplicate": False}
    row = ESIMGoCallback.objects.get()
    assert row.body == body.decode() and row.iccid == order.esim.iccid and row.alert_type == "Utilisation"
    assert row.processed_at is not None and "80" in row.result
    # Data left refreshed from eSIM Go into the cache.
    assert cache.get(f"orders:usage:{order.esim.iccid}")["bundles"][0]["remaining_bytes"] == 200_000_000
    [message] = mail.outbox
    assert message.to == [order.customer.email]
    assert "80%" in message.subject
    assert f"https://shop.example.mn/esims/{order.access_token}/topup/" in message.body


@pytest.mark.parametrize("signature", [None, "", "not-a-signature", sign(b"other body"), sign(b"x", "hex")])
def test_bad_or_missing_signature_is_401_and_stores_nothing(
    client, order, signature, django_capture_on_commit_callbacks
):
    body = utilisation(order.esim.iccid)
    with django_capture_on_commit_callbacks(execute=True):
        response = post(client, body, signature)
    assert response.status_code == 401
    assert ESIMGoCallback.objects.count() == 0
    assert mail.outbox == []


def test_signature_with_the_wrong_key_is_refused(client, order):
    body = utilisation(order.esim.iccid)
    assert post(client, body, sign(body, key="someone-else")).status_code == 401


def test_duplicate_delivery_is_stored_once_and_emails_once(
    client, order, bundles_api, django_capture_on_commit_callbacks
):
    body = utilisation(order.esim.iccid, remaining=100_000_000)
    with django_capture_on_commit_callbacks(execute=True):
        first = post(client, body, sign(body))
    with django_capture_on_commit_callbacks(execute=True):
        second = post(client, body, sign(body))
    assert first.status_code == second.status_code == 200
    assert second.json()["duplicate"] is True
    assert ESIMGoCallback.objects.count() == 1
    assert len(mail.outbox) == 1


def test_80_and_100_are_each_sent_once_per_assignment(client, order, bundles_api, django_capture_on_commit_callbacks):
    bodies = [
        utilisation(order.esim.iccid, remaining=500_000_000),  # 50 %: nothing
        utilisation(order.esim.iccid, remaining=200_000_000),  # 80 %
        utilisation(order.esim.iccid, remaining=150_000_000),  # still 85 %: no second 80 % e-mail
        utilisation(order.esim.iccid, remaining=0),  # 100 %
        utilisation(order.esim.iccid, remaining=0, assignment="a-2"),  # a new bundle (top-up) used up
    ]
    for body in bodies:
        with django_capture_on_commit_callbacks(execute=True):
            assert post(client, body, sign(body)).status_code == 200
    kinds = list(EmailLog.objects.filter(order=order).order_by("id").values_list("kind", "event_key"))
    assert kinds == [("usage_80", "a-1"), ("usage_100", "a-1"), ("usage_100", "a-2")]
    assert len(mail.outbox) == 3


def test_numeric_iccid_is_kept_exactly_as_a_string(client, bundle, bundles_api, django_capture_on_commit_callbacks):
    from tests.orders.factories import ESimFactory

    iccid = "8944538532008160037"  # beyond float precision
    esim = ESimFactory(iccid=iccid)
    order = DeliveredOrderFactory(invoice=InvoiceFactory(bundle=bundle, customer=esim.customer), esim=esim)
    body = utilisation(iccid, remaining=0, raw_iccid=True)
    assert f'"iccid": {iccid},' in body.decode()
    with django_capture_on_commit_callbacks(execute=True):
        assert post(client, body, sign(body)).status_code == 200
    assert ESIMGoCallback.objects.get().iccid == iccid
    assert EmailLog.objects.filter(order=order, kind="usage_100").exists()


def test_event_family_and_other_alerts_are_stored_without_action(client, order, django_capture_on_commit_callbacks):
    bodies = [
        json.dumps(
            {"date": "2026-11-23T10:00:00Z", "event": "esim.deletion_scheduled", "iccid": order.esim.iccid}
        ).encode(),
        json.dumps({"alertType": "LowBalance", "balanceInfo": {"balance": 90, "threshold": 100}}).encode(),
        json.dumps(
            {"alertType": "CountryChange", "iccid": order.esim.iccid, "country": {"code": "JP", "name": "Japan"}}
        ).encode(),
    ]
    for body in bodies:
        with django_capture_on_commit_callbacks(execute=True):
            assert post(client, body, sign(body)).status_code == 200
    rows = list(ESIMGoCallback.objects.order_by("id").values_list("alert_type", "processed_at", "result"))
    assert [r[0] for r in rows] == ["esim.deletion_scheduled", "LowBalance", "CountryChange"]
    assert all(r[1] is not None and r[2].startswith("stored") for r in rows)
    assert mail.outbox == []


def test_usage_cache_updated_from_callback_when_esimgo_is_down(
    client, order, mocked_responses, django_capture_on_commit_callbacks, settings
):
    settings.ESIMGO_MAX_RETRIES = 0  # no client back-off sleeps in this test
    mocked_responses.get(
        re.compile(re.escape(ESIMGO_TEST_BASE_URL) + r"/esims/\d+/bundles.*"), json={"message": "x"}, status=503
    )
    body = utilisation(order.esim.iccid, remaining=300_000_000)
    with django_capture_on_commit_callbacks(execute=True):
        assert post(client, body, sign(body)).status_code == 200
    cache.delete(usage.DOWN_KEY)
    current = usage.get_usage(order.esim.iccid).current
    assert current.remaining_bytes == 300_000_000 and current.assignment_id == "a-1"


def test_oversized_body_is_refused(client, settings):
    settings.ORDERS_CALLBACK_MAX_BODY_BYTES = 100
    body = b"{" + b" " * 200 + b"}"
    assert post(client, body, sign(body)).status_code == 413
    assert ESIMGoCallback.objects.count() == 0


def test_get_is_not_allowed(client):
    assert client.get(URL).status_code == 405
