"""Refunds as QPay does them: card through the API (whole payment, once), bank-app by hand, partial,
never more than was paid; full refunds mark the order refunded and revoke an unused eSIM Go bundle."""

import json
import re
import uuid

import pytest
import responses
from django.core.exceptions import PermissionDenied
from django.urls import reverse

from orders.models import Order
from payments.models import EbarimtReceipt, Payment, Refund
from staff import refunds
from staff.actions import refunds as refund_actions
from staff.models import StaffAction
from tests.conftest import ESIMGO_TEST_BASE_URL
from tests.orders.factories import DeliveredOrderFactory
from tests.payments.qpay_mocks import BASE as QPAY

Outcome = StaffAction.Outcome


@pytest.fixture
def order(db):
    return DeliveredOrderFactory()


def _payment(order, *, kind="CARD", payment_id=None, amount=None):
    return Payment.objects.create(
        invoice=order.invoice,
        qpay_payment_id=payment_id or str(uuid.uuid4()),
        status="PAID",
        amount=amount if amount is not None else order.invoice.amount_mnt,
        payment_type=kind,
    )


@pytest.fixture
def card(order):
    return _payment(order, kind="CARD")


@pytest.fixture
def p2p(order):
    return _payment(order, kind="P2P", payment_id="493622150113497")


OFFER_ID = "3f1c2a9e-offer"


@pytest.fixture
def esimgo(mocked_responses, order):
    """eSIM Go: the eSIM was never installed; validate and revoke both succeed. Records revoke calls."""
    iccid, name = order.esim.iccid, order.bundle.name
    mocked_responses.add(
        responses.GET,
        f"{ESIMGO_TEST_BASE_URL}/esims/{iccid}",
        json={"iccid": iccid, "profileStatus": "Released", "firstInstalledDateTime": None},
    )
    revokes = []

    def revoke(request):
        revokes.append(dict(request.params))
        to_balance = request.params.get("refundToBalance") == "true"
        if request.params.get("type") == "validate":
            answer = {"status": "Bundle can be revoked and refunded to balance"}
            return 200, {}, json.dumps({**answer, "offerId": OFFER_ID} if to_balance else answer)
        if to_balance and request.params.get("offerId") != OFFER_ID:  # "needed for refunding to balance"
            return 400, {}, json.dumps({"message": "offerId is required to refund to balance"})
        return 200, {}, json.dumps({"status": "Successfully Revoked Bundle, bundle has been refunded to balance"})

    mocked_responses.add_callback(
        responses.DELETE, f"{ESIMGO_TEST_BASE_URL}/esims/{iccid}/bundles/{name}", callback=revoke
    )
    return revokes


def _refund_calls(rsps):
    return [c for c in rsps.calls if c.request.method == "DELETE" and "/payment/refund/" in c.request.url]


def _refund(user, order, payment, *, amount=None, method="QPAY_API", note="", key=None):
    return refund_actions.refund(
        user,
        invoice_id=order.invoice_id,
        payment_id=payment.pk,
        amount_mnt=amount if amount is not None else int(payment.amount),
        method=method,
        note=note,
        idempotency_key=key or uuid.uuid4(),
    )


def test_card_refund_goes_through_qpay_once_marks_the_order_refunded_and_revokes_the_unused_bundle(
    order, card, member, mocked_responses, qpay_token, esimgo, django_capture_on_commit_callbacks, client
):
    mocked_responses.add(responses.DELETE, f"{QPAY}/payment/refund/{card.qpay_payment_id}", json={})
    finance = member("finance")
    key = uuid.uuid4()

    with django_capture_on_commit_callbacks(execute=True):
        first = _refund(finance, order, card, key=key)
    second = _refund(finance, order, card, key=key)  # the same form submitted twice

    assert first.outcome == Outcome.DONE and "QPay refunded" in first.message
    assert second.outcome == Outcome.NOTHING_TO_DO
    calls = _refund_calls(mocked_responses)
    assert len(calls) == 1 and json.loads(calls[0].request.body)["note"].startswith("esimshop refund")
    refund = Refund.objects.get()
    assert (refund.status, refund.method, refund.amount_mnt) == (Refund.Status.SUCCEEDED, "QPAY_API", card.amount)
    card.refresh_from_db()
    order.refresh_from_db()
    assert card.status == "REFUNDED" and order.status == Order.Status.REFUNDED
    last = order.transitions.order_by("-id").first()
    assert (last.name, last.actor, last.actor_user) == ("refund_delivered", "staff:finance-person", finance)
    assert refund.esimgo_outcome == Refund.ESIMGoOutcome.REVOKED
    assert [r["type"] for r in esimgo] == ["validate", "transaction"] and esimgo[1]["refundToBalance"] == "true"
    assert esimgo[1]["offerId"] == OFFER_ID  # the validate answer's offer, sent with the transaction
    assert StaffAction.objects.filter(action="refund.card", outcome=Outcome.DONE, object_id=str(order.pk)).count() == 1
    # The shopper's eSIM page says refunded.
    page = client.get(order.get_absolute_url()).content.decode()
    assert 'data-status="REFUNDED"' in page


def test_without_an_offer_id_the_bundle_goes_back_to_inventory_never_to_balance_without_one(
    order, card, member, mocked_responses, qpay_token, django_capture_on_commit_callbacks
):
    iccid, name = order.esim.iccid, order.bundle.name
    mocked_responses.add(
        responses.GET,
        f"{ESIMGO_TEST_BASE_URL}/esims/{iccid}",
        json={"iccid": iccid, "profileStatus": "Released", "firstInstalledDateTime": None},
    )
    revokes = []

    def revoke(request):  # this account offers no refund to balance: validate carries no offerId
        revokes.append(dict(request.params))
        return 200, {}, json.dumps({"status": "Bundle can be revoked and refunded to inventory"})

    mocked_responses.add_callback(
        responses.DELETE, f"{ESIMGO_TEST_BASE_URL}/esims/{iccid}/bundles/{name}", callback=revoke
    )
    mocked_responses.add(responses.DELETE, f"{QPAY}/payment/refund/{card.qpay_payment_id}", json={})
    with django_capture_on_commit_callbacks(execute=True):
        assert _refund(member("finance"), order, card).outcome == Outcome.DONE
    assert [(r["type"], r.get("refundToBalance")) for r in revokes] == [
        ("validate", "true"),
        ("validate", None),
        ("transaction", None),
    ]
    assert not any("offerId" in r for r in revokes)
    assert Refund.objects.get().esimgo_outcome == Refund.ESIMGoOutcome.REVOKED


def test_a_card_refund_qpay_refuses_is_recorded_failed_and_can_be_tried_again(
    order, card, member, mocked_responses, qpay_token
):
    url = f"{QPAY}/payment/refund/{card.qpay_payment_id}"
    mocked_responses.add(responses.DELETE, url, json={"error": "PAYMENT_SETTLED", "message": "settled"}, status=400)
    finance = member("finance")

    failed = _refund(finance, order, card)

    assert failed.outcome == Outcome.FAILED and "PAYMENT_SETTLED" in failed.message
    assert Refund.objects.get().status == Refund.Status.FAILED
    order.refresh_from_db()
    assert order.status == Order.Status.DELIVERED
    mocked_responses.replace(responses.DELETE, url, json={})
    assert _refund(finance, order, card).outcome == Outcome.DONE
    assert list(Refund.objects.order_by("id").values_list("status", flat=True)) == ["FAILED", "SUCCEEDED"]


def test_no_answer_from_qpay_blocks_a_second_refund_until_checked(
    order, card, member, mocked_responses, qpay_token, django_capture_on_commit_callbacks
):
    mocked_responses.add(
        responses.DELETE,
        f"{QPAY}/payment/refund/{card.qpay_payment_id}",
        json={"error": "INTERNAL", "message": "down"},
        status=503,
    )
    finance = member("finance")

    unknown = _refund(finance, order, card)
    again = _refund(finance, order, card)

    assert unknown.outcome == Outcome.FAILED and "Do NOT refund again" in unknown.message
    assert again.outcome == Outcome.REFUSED and "already in progress" in again.message
    assert len(_refund_calls(mocked_responses)) == 1
    refund = Refund.objects.get()
    assert refund.status == Refund.Status.UNKNOWN
    # Staff check: QPay shows the payment REFUNDED, so it did go through.
    mocked_responses.add(
        responses.GET,
        f"{QPAY}/payment/{card.qpay_payment_id}",
        json={
            "payment_id": card.qpay_payment_id,
            "payment_status": "REFUNDED",
            "payment_amount": "19500.00",
            "payment_currency": "MNT",
            "object_type": "INVOICE",
            "object_id": order.invoice.qpay_invoice_id,
            "transaction_type": "CARD",
        },
    )
    with django_capture_on_commit_callbacks(execute=False):
        checked = refund_actions.check_refund(finance, refund.pk)
    refund.refresh_from_db()
    assert checked.outcome == Outcome.DONE and refund.status == Refund.Status.SUCCEEDED
    assert refund_actions.check_refund(finance, refund.pk).outcome == Outcome.NOTHING_TO_DO


def test_bank_app_payment_cannot_go_through_the_api_and_is_recorded_by_hand(
    order, p2p, member, mocked_responses, esimgo, django_capture_on_commit_callbacks
):
    finance = member("finance")

    api = _refund(finance, order, p2p, method="QPAY_API")
    no_note = _refund(finance, order, p2p, method="MANUAL")
    with django_capture_on_commit_callbacks(execute=True):
        manual = _refund(finance, order, p2p, method="MANUAL", note="returned in the QPay portal, ref 7781")

    assert api.outcome == Outcome.REFUSED and "merchant portal" in api.message
    assert no_note.outcome == Outcome.REFUSED
    assert manual.outcome == Outcome.DONE and "by hand in QPay's merchant portal" in manual.message
    assert not _refund_calls(mocked_responses)  # nothing was sent to QPay
    refund = Refund.objects.get()
    assert (refund.method, refund.status, refund.requested_by) == ("MANUAL", "SUCCEEDED", finance)
    order.refresh_from_db()
    assert order.status == Order.Status.REFUNDED


def test_partial_refunds_up_to_the_paid_amount_and_no_further(
    order, p2p, member, esimgo, django_capture_on_commit_callbacks
):
    finance = member("finance")
    paid = int(p2p.amount)

    first = _refund(finance, order, p2p, amount=5000, method="MANUAL", note="goodwill, portal")
    order.refresh_from_db()
    assert first.outcome == Outcome.DONE and order.status == Order.Status.DELIVERED
    assert refunds.refundable(order.invoice) == paid - 5000

    too_much = _refund(finance, order, p2p, amount=paid - 5000 + 1, method="MANUAL", note="portal")
    assert too_much.outcome == Outcome.REFUSED and f"{paid - 5000:,}₮" in too_much.message

    with django_capture_on_commit_callbacks(execute=True):
        rest = _refund(finance, order, p2p, amount=paid - 5000, method="MANUAL", note="rest, portal")
    order.refresh_from_db()
    assert rest.outcome == Outcome.DONE and order.status == Order.Status.REFUNDED
    assert _refund(finance, order, p2p, amount=1, method="MANUAL", note="x").outcome == Outcome.REFUSED
    assert Refund.objects.count() == 2


def test_card_api_refund_is_whole_payment_only(order, card, member):
    result = _refund(member("finance"), order, card, amount=int(card.amount) - 1000)
    assert result.outcome == Outcome.REFUSED and "whole" in result.message
    assert not Refund.objects.exists()


def test_an_installed_esim_keeps_its_bundle(order, p2p, member, mocked_responses, django_capture_on_commit_callbacks):
    iccid = order.esim.iccid
    mocked_responses.add(
        responses.GET,
        f"{ESIMGO_TEST_BASE_URL}/esims/{iccid}",
        json={"iccid": iccid, "profileStatus": "Installed", "firstInstalledDateTime": 1763900000000},
    )
    with django_capture_on_commit_callbacks(execute=True):
        result = _refund(member("finance"), order, p2p, method="MANUAL", note="portal")
    refund = Refund.objects.get()
    assert refund.esimgo_outcome == Refund.ESIMGoOutcome.KEPT_INSTALLED
    assert "installed" in result.message
    assert not [c for c in mocked_responses.calls if c.request.method == "DELETE"]


def test_esimgo_refusing_the_revoke_is_recorded(
    order, p2p, member, mocked_responses, django_capture_on_commit_callbacks
):
    iccid, name = order.esim.iccid, order.bundle.name
    mocked_responses.add(responses.GET, f"{ESIMGO_TEST_BASE_URL}/esims/{iccid}", json={"profileStatus": "Released"})
    mocked_responses.add(
        responses.DELETE,
        f"{ESIMGO_TEST_BASE_URL}/esims/{iccid}/bundles/{name}",
        json={"message": "No unused bundle can be revoked"},
        status=400,
    )
    with django_capture_on_commit_callbacks(execute=True):
        _refund(member("finance"), order, p2p, method="MANUAL", note="portal")
    refund = Refund.objects.get()
    assert refund.esimgo_outcome == Refund.ESIMGoOutcome.NOT_ALLOWED and "No unused bundle" in refund.esimgo_detail


def test_full_refund_cancels_the_ebarimt_receipt(
    order, card, member, mocked_responses, qpay_token, esimgo, django_capture_on_commit_callbacks
):
    EbarimtReceipt.objects.create(
        invoice=order.invoice,
        payment=card,
        status=EbarimtReceipt.Status.ISSUED,
        receiver_type="CITIZEN",
        receiver="88614450",
        lottery="HV 83198235",
    )
    mocked_responses.add(responses.DELETE, f"{QPAY}/payment/refund/{card.qpay_payment_id}", json={})
    cancel = mocked_responses.add(
        responses.DELETE, f"{QPAY}/ebarimt_v3/{card.qpay_payment_id}", json={"barimt_status": "CANCELED"}
    )
    with django_capture_on_commit_callbacks(execute=True):
        result = _refund(member("finance"), order, card)
    receipt = EbarimtReceipt.objects.get()
    assert cancel.call_count == 1 and receipt.status == EbarimtReceipt.Status.CANCELLED
    assert "E-barimt receipt: cancelled" in result.message


def test_only_finance_may_refund(order, card, member):
    with pytest.raises(PermissionDenied):
        _refund(member("support"), order, card)
    assert not Refund.objects.exists()


def test_no_refund_while_the_esim_is_being_provisioned(db, member):
    from tests.orders.factories import OrderFactory

    order = OrderFactory(status=Order.Status.PROVISIONING)
    payment = _payment(order, kind="P2P")
    result = _refund(member("finance"), order, payment, method="MANUAL", note="portal")
    assert result.outcome == Outcome.REFUSED and "provisioned" in result.message


def test_refund_page_says_plainly_that_bank_app_payments_are_refunded_by_hand(
    order, p2p, member, client, esimgo, django_capture_on_commit_callbacks
):
    client.force_login(member("finance"))
    url = reverse("admin:payments_invoice_refund", args=[order.invoice_id])

    page = client.get(url).content.decode()
    key = re.search(r'name="idempotency_key" value="([^"]+)"', page).group(1)
    assert "cannot be refunded through QPay&#x27;s API" in page
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            url,
            {
                "payment": p2p.pk,
                "method": "MANUAL",
                "amount_mnt": int(p2p.amount),
                "note": "portal ref 1",
                "idempotency_key": key,
            },
        )
        again = client.post(
            url,
            {
                "payment": p2p.pk,
                "method": "MANUAL",
                "amount_mnt": int(p2p.amount),
                "note": "portal ref 1",
                "idempotency_key": key,
            },
        )

    assert response.status_code == 302 and again.status_code == 302
    assert Refund.objects.count() == 1
    api_choice = client.post(
        url, {"payment": p2p.pk, "method": "QPAY_API", "amount_mnt": 1, "idempotency_key": uuid.uuid4()}
    )
    assert "cannot refund a bank-app" in api_choice.content.decode()
