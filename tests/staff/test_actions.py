"""Each staff action as a service: guard, double-click safety, audit, permissions per group."""

import pytest
import responses
from django.core.exceptions import PermissionDenied
from django.urls import reverse

from orders.models import ESim, Order
from payments.models import Invoice
from staff.actions import invoices as invoice_actions
from staff.actions import orders as order_actions
from staff.models import StaffAction
from tests.orders.factories import DeliveredOrderFactory, ESimFactory, InvoiceFactory, OrderFactory
from tests.payments.qpay_mocks import BASE as QPAY
from tests.payments.qpay_mocks import add_check, paid_row

Outcome = StaffAction.Outcome


@pytest.fixture
def pending(db):
    return InvoiceFactory(status=Invoice.Status.PENDING, paid_at=None)


def test_recheck_payment_marks_paid_once_and_is_audited(
    pending, member, mocked_responses, qpay_token, django_capture_on_commit_callbacks
):
    add_check(mocked_responses, paid_row(f"{pending.amount_mnt}.00"))
    support = member("support")

    with django_capture_on_commit_callbacks(execute=False):
        first = invoice_actions.recheck_payment(support, pending.pk)
        second = invoice_actions.recheck_payment(support, pending.pk)

    pending.refresh_from_db()
    assert first.outcome == Outcome.DONE and pending.status == Invoice.Status.PAID
    assert second.outcome == Outcome.NOTHING_TO_DO
    assert Order.objects.filter(invoice=pending).count() == 1
    assert pending.transitions.filter(name="mark_paid", actor="staff:support-person").count() == 1
    audit = StaffAction.objects.filter(action="invoice.recheck_payment").order_by("id")
    assert [a.outcome for a in audit] == [Outcome.DONE, Outcome.NOTHING_TO_DO] and audit[0].user == support


def test_recheck_when_qpay_is_down_says_so(pending, member, mocked_responses, qpay_token):
    mocked_responses.add(responses.POST, f"{QPAY}/payment/check", json={"error": "X", "message": "down"}, status=503)
    result = invoice_actions.recheck_payment(member("support"), pending.pk)
    assert result.outcome == Outcome.FAILED
    pending.refresh_from_db()
    assert pending.status == Invoice.Status.PENDING


def test_cancel_unpaid_invoice_checks_first_and_is_finance_only(
    pending, member, mocked_responses, qpay_token, django_capture_on_commit_callbacks
):
    add_check(mocked_responses)  # nothing paid
    delete = mocked_responses.add(responses.DELETE, f"{QPAY}/invoice/{pending.qpay_invoice_id}", json={})
    with pytest.raises(PermissionDenied):
        invoice_actions.cancel_unpaid_invoice(member("support"), pending.pk)
    finance = member("finance")

    with django_capture_on_commit_callbacks(execute=True):
        first = invoice_actions.cancel_unpaid_invoice(finance, pending.pk)
    second = invoice_actions.cancel_unpaid_invoice(finance, pending.pk)

    pending.refresh_from_db()
    assert first.outcome == Outcome.DONE and pending.status == Invoice.Status.CANCELLED
    assert second.outcome == Outcome.NOTHING_TO_DO
    assert delete.call_count == 1


def test_cancel_refuses_an_invoice_qpay_shows_paid(
    pending, member, mocked_responses, qpay_token, django_capture_on_commit_callbacks
):
    add_check(mocked_responses, paid_row(f"{pending.amount_mnt}.00"))
    with django_capture_on_commit_callbacks(execute=False):
        result = invoice_actions.cancel_unpaid_invoice(member("finance"), pending.pk)
    pending.refresh_from_db()
    assert result.outcome == Outcome.REFUSED and pending.status == Invoice.Status.PAID


def test_retry_provisioning_moves_a_flagged_order_once(db, member, django_capture_on_commit_callbacks):
    order = OrderFactory(status=Order.Status.NEEDS_ATTENTION, attention_reason="eSIM Go 503")
    support = member("support")

    with django_capture_on_commit_callbacks(execute=False) as queued:
        first = order_actions.retry_provisioning(support, order.pk)
        second = order_actions.retry_provisioning(support, order.pk)

    order.refresh_from_db()
    assert first.outcome == Outcome.DONE and second.outcome == Outcome.NOTHING_TO_DO
    assert order.status == Order.Status.PROVISIONING and order.attention_reason == ""
    # One provisioning task (besides forgetting the cached payment status, payments.status_cache).
    assert len([callback for callback in queued if callback.__module__ != "payments.status_cache"]) == 1
    transition = order.transitions.get(name="staff_retry_provisioning")
    assert transition.actor_user == support


def test_retry_refuses_a_delivered_order(db, member):
    order = DeliveredOrderFactory()
    assert order_actions.retry_provisioning(member("support"), order.pk).outcome == Outcome.NOTHING_TO_DO
    order.refresh_from_db()
    assert order.status == Order.Status.DELIVERED


def test_mark_delivered_by_hand(db, member, django_capture_on_commit_callbacks):
    order = OrderFactory(status=Order.Status.NEEDS_ATTENTION)
    finance = member("finance")
    with pytest.raises(PermissionDenied):
        order_actions.mark_delivered(
            member("support"), order.pk, iccid="8944500000000000001", matching_id="M", smdp_address="rsp.example.io"
        )
    bad = order_actions.mark_delivered(finance, order.pk, iccid="12345", matching_id="M", smdp_address="rsp.example.io")
    someone_else = ESimFactory()
    stolen = order_actions.mark_delivered(
        finance, order.pk, iccid=someone_else.iccid, matching_id="M", smdp_address="x"
    )

    with django_capture_on_commit_callbacks(execute=False):
        done = order_actions.mark_delivered(
            finance,
            order.pk,
            iccid="8944 5000 0000 0000 001",
            matching_id="K2-1-X",
            smdp_address="rsp.example.io",
            note="bought in the portal",
        )
        again = order_actions.mark_delivered(
            finance, order.pk, iccid="8944500000000000001", matching_id="K2-1-X", smdp_address="rsp.example.io"
        )

    order.refresh_from_db()
    assert bad.outcome == Outcome.REFUSED and stolen.outcome == Outcome.REFUSED
    assert done.outcome == Outcome.DONE and again.outcome == Outcome.NOTHING_TO_DO
    assert order.status == Order.Status.DELIVERED and order.esim.iccid == "8944500000000000001"
    assert ESim.objects.filter(iccid="8944500000000000001").count() == 1
    assert order.emails.filter(kind="esim_ready").count() == 1


def test_groups_see_only_the_buttons_they_may_press(db, member, client):
    order = OrderFactory(status=Order.Status.NEEDS_ATTENTION)
    from payments.models import Payment

    Payment.objects.create(
        invoice=order.invoice, qpay_payment_id="p1", status="PAID", amount=order.invoice.amount_mnt, payment_type="P2P"
    )
    url = reverse("admin:orders_order_change", args=[order.pk])
    client.force_login(member("support"))
    support_page = client.get(url).content.decode()
    client.force_login(member("finance"))
    finance_page = client.get(url).content.decode()

    for label in ("Re-check payment at QPay", "Retry provisioning"):
        assert label in support_page and label in finance_page
    for label in ("Refund…", "Mark delivered by hand…"):
        assert label not in support_page and label in finance_page
    client.force_login(member("support", "support-2"))
    assert client.get(reverse("admin:payments_invoice_refund", args=[order.invoice_id])).status_code == 403
    assert client.post(reverse("admin:orders_order_deliver", args=[order.pk]), {}).status_code == 403


def test_action_buttons_post_and_report(db, member, client, mocked_responses, qpay_token):
    invoice = InvoiceFactory(status=Invoice.Status.PENDING, paid_at=None)
    add_check(mocked_responses)
    client.force_login(member("support"))
    url = reverse("admin:payments_invoice_recheck", args=[invoice.pk])

    assert client.get(url).status_code == 405  # never on a GET (a link preview must not act)
    response = client.post(url, follow=True)

    assert response.redirect_chain[-1][0] == reverse("admin:payments_invoice_change", args=[invoice.pk])
    assert "QPay shows no payment yet" in response.content.decode()
