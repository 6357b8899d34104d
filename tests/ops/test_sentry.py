"""Error reports leave the server scrubbed: captured in-process by a transport (no network)."""

import json
import logging

import pytest
import sentry_sdk
from sentry_sdk.transport import Transport

from esimshop import sentry

PHONE = "88123456"
EMAIL = "traveller@example.mn"
TOKEN = "f" * 64
LPA = "LPA:1$rsp.example.io$JQ-1UMJ8A-1D0W3XK"
MATCHING_ID = "JQ-1UMJ8A-1D0W3XK"


class CapturingTransport(Transport):
    def __init__(self, options=None):
        super().__init__(options)
        self.envelopes = []

    def capture_envelope(self, envelope):
        self.envelopes.append(envelope)

    def events(self):
        return [item.payload.json for env in self.envelopes for item in env.items if item.type == "event"]


@pytest.fixture
def captured():
    transport = CapturingTransport()
    assert sentry.init(
        dsn="https://public@sentry.example.invalid/1", release="abc123", environment="test", transport=transport
    )
    yield transport
    sentry_sdk.get_client().close()
    sentry_sdk.init(dsn=None)


def test_off_without_a_dsn():
    assert sentry.init(dsn="", release="", environment="test") is False


def test_an_exception_with_secrets_everywhere_is_scrubbed(captured, settings):
    settings.QPAY_CLIENT_SECRET = "qpay-client-secret-value"
    customer = {"phone_number": PHONE, "email": EMAIL, "matching_id": MATCHING_ID}  # noqa: F841 - a frame local
    try:
        raise ValueError(
            f"provisioning failed for {PHONE} <{EMAIL}> {LPA} "
            f"/payments/qpay/callback/x/?token={TOKEN} secret qpay-client-secret-value"
        )
    except ValueError:
        sentry_sdk.capture_exception()
    logging.getLogger("orders.provisioning").error("order for %s (%s) failed: %s", PHONE, EMAIL, LPA)
    sentry_sdk.flush()
    events = captured.events()
    assert len(events) == 2
    text = json.dumps(events)
    for secret in (PHONE, EMAIL, TOKEN, MATCHING_ID, "qpay-client-secret-value"):
        assert secret not in text, secret
    assert "provisioning failed for ******56" in text  # still readable
    assert events[0]["release"] == "abc123"


def test_request_bodies_cookies_and_query_strings_are_dropped():
    event = {
        "request": {
            "url": "https://shop.example.mn/payments/qpay/callback/x/?token=" + TOKEN,
            "query_string": "token=" + TOKEN,
            "data": {"phoneNumber": PHONE},
            "cookies": {"sessionid": "s" * 32},
            "headers": {"Authorization": "Bearer " + "a" * 40, "User-Agent": "curl"},
        },
        "user": {"id": 7, "email": EMAIL},
        "extra": {"customer_email": EMAIL, "note": f"call {PHONE}"},
    }
    scrubbed = sentry.scrub_event(event)
    text = json.dumps(scrubbed)
    for secret in (TOKEN, PHONE, EMAIL, "s" * 32, "a" * 40):
        assert secret not in text
    assert scrubbed["request"]["headers"]["User-Agent"] == "curl"
    assert scrubbed["user"] == {"id": 7}


def test_release_defaults_to_the_git_revision(settings):
    revision = sentry.git_revision(settings.BASE_DIR)
    assert revision == "" or len(revision) == 12
