"""The chaos driver (bench/chaos_shoppers.py) sends a purchase again after a connection error only when that is provably safe."""

import requests
from urllib3.exceptions import NewConnectionError

from bench.chaos import parse_args
from bench.chaos_shoppers import Shoppers, Tally

REFUSED = requests.ConnectionError(NewConnectionError(None, "Connection refused"))
RESET = requests.ConnectionError("('Connection aborted.', RemoteDisconnected('closed without response'))")


class FlakySession:
    """Fails the first request with `error`, answers the next ones; records what was sent."""

    def __init__(self, error, sent):
        self.error, self.sent = error, sent

    def request(self, method, url, **kwargs):
        self.sent.append(kwargs.get("headers", {}).get("Idempotency-Key"))
        if self.error is not None:
            error, self.error = self.error, None
            raise error
        return type("Response", (), {"status_code": 201})()


def driver(*flags):
    return Shoppers(parse_args(["--purchases", "1", *flags]), Tally(), run_id="test")


def test_a_purchase_that_never_reached_the_shop_is_always_sent_again():
    assert driver().purchase_resend(REFUSED) == "never reached the shop"
    assert driver("--no-idempotency-keys").purchase_resend(REFUSED) == "never reached the shop"


def test_a_purchase_reset_after_sending_is_sent_again_only_with_its_idempotency_key():
    assert driver().purchase_resend(RESET) == "same Idempotency-Key"
    assert driver("--no-idempotency-keys").purchase_resend(RESET) == ""


def test_the_resend_carries_the_same_key_on_a_fresh_connection(monkeypatch):
    run, sent = driver(), []
    fresh = FlakySession(None, sent)
    monkeypatch.setattr("bench.chaos_shoppers._new_session", lambda: fresh)
    response = run.http(
        "purchase",
        "POST",
        "http://shop/api",
        session=FlakySession(RESET, sent),
        headers={"Idempotency-Key": "k-1"},
        json={},
        resend=run.purchase_resend,
    )
    assert response.status_code == 201
    assert sent == ["k-1", "k-1"]
    assert any("sent again (same Idempotency-Key)" in note for note in run.tally.notes)


def test_without_a_key_a_reset_purchase_is_not_sent_again(monkeypatch):
    run, sent = driver("--no-idempotency-keys"), []
    monkeypatch.setattr("bench.chaos_shoppers._new_session", lambda: FlakySession(None, sent))
    assert (
        run.http(
            "purchase",
            "POST",
            "http://shop/api",
            session=FlakySession(RESET, sent),
            json={},
            resend=run.purchase_resend,
        )
        is None
    )
    assert len(sent) == 1
    assert run.tally.statuses[("purchase", "error:ConnectionError")] == 1
