"""The order, provisioning attempt and e-mail state tables, pinned (tests/state_tables.py), and the
conditional form's race: of concurrent claims exactly one wins and is recorded."""

import threading
from datetime import timedelta

import pytest
from django.db import connection
from django.db.models import F
from django.utils import timezone

from esimshop.state_machine import IllegalTransition, try_transition, try_transition_each
from orders import emails, services
from orders.models import (
    ATTEMPT_TRANSITIONS,
    EMAIL_TRANSITIONS,
    TRANSITIONS,
    EmailLog,
    EmailLogTransition,
    Order,
    OrderTransition,
    ProvisioningAttempt,
    ProvisioningAttemptTransition,
)
from tests.factories import DeliveredOrderFactory, InvoiceFactory, OrderFactory, PaidInvoiceFactory
from tests.state_tables import as_plain, check_transition

ORDER = {
    "start_provisioning": ({"PAID"}, "PROVISIONING"),
    "deliver": ({"PAID", "PROVISIONING"}, "DELIVERED"),
    "flag_for_attention": ({"PAID", "PROVISIONING"}, "NEEDS_ATTENTION"),
    "staff_retry_provisioning": ({"NEEDS_ATTENTION"}, "PROVISIONING"),
    "adopt_found_order": ({"NEEDS_ATTENTION"}, "PROVISIONING"),
    "staff_deliver": ({"NEEDS_ATTENTION"}, "DELIVERED"),
    "staff_refund": ({"NEEDS_ATTENTION"}, "REFUNDED"),
    "refund_delivered": ({"DELIVERED"}, "REFUNDED"),
}
UNRESOLVED = {"REQUESTED", "UNKNOWN", "ORDERED"}
ATTEMPT = {
    "ordered": (UNRESOLVED, "ORDERED"),
    "outcome_unknown": (UNRESOLVED, "UNKNOWN"),
    "not_placed": (UNRESOLVED, "NOT_PLACED"),
    "succeeded": (UNRESOLVED, "SUCCEEDED"),
    "superseded": (UNRESOLVED, "SUPERSEDED"),
    "reconciled_absent": ({"REQUESTED", "UNKNOWN"}, "RECONCILED_ABSENT"),
}
EMAIL = {
    "claim": ({"PENDING"}, "SENDING"),
    "release": ({"SENDING"}, "PENDING"),
    "reopen": ({"SENDING"}, "PENDING"),
    "mark_sent": ({"SENDING", "PENDING", "FAILED"}, "SENT"),
    "give_up": ({"PENDING"}, "FAILED"),
}


def test_the_tables_are_these():
    assert as_plain(TRANSITIONS) == ORDER
    assert as_plain(ATTEMPT_TRANSITIONS) == ATTEMPT
    assert as_plain(EMAIL_TRANSITIONS) == EMAIL


@pytest.fixture
def order_in(bundle):
    # With an eSIM whatever the state: a DELIVERED order must have one (order_delivered_has_esim).
    return lambda state: DeliveredOrderFactory(invoice=PaidInvoiceFactory(bundle=bundle), status=state)


@pytest.fixture
def attempt_in(bundle):
    def make(state):
        order = OrderFactory(invoice=PaidInvoiceFactory(bundle=bundle), status=Order.Status.PROVISIONING)
        return ProvisioningAttempt.objects.create(order=order, outcome=state, actor="task")

    return make


@pytest.fixture
def email_in(bundle):
    def make(state):
        order = OrderFactory(invoice=PaidInvoiceFactory(bundle=bundle))
        return EmailLog.objects.create(
            order=order, kind=EmailLog.Kind.PAYMENT_RECEIVED, to="a@example.mn", status=state
        )

    return make


@pytest.mark.django_db
@pytest.mark.parametrize("name", ORDER)
def test_order_transition(name, order_in):
    check_transition(TRANSITIONS, name, order_in)


@pytest.mark.django_db
@pytest.mark.parametrize("name", ATTEMPT)
def test_provisioning_attempt_transition(name, attempt_in):
    check_transition(ATTEMPT_TRANSITIONS, name, attempt_in, conditional=True)


@pytest.mark.django_db
@pytest.mark.parametrize("name", EMAIL)
def test_email_transition(name, email_in):
    check_transition(EMAIL_TRANSITIONS, name, email_in, conditional=True)


@pytest.mark.django_db
def test_order_apply_transition_records_the_staff_member_and_keeps_the_old_exception_name(order_in, django_user_model):
    staff = django_user_model.objects.create_user("ops", password="x", is_staff=True)
    order = order_in(Order.Status.NEEDS_ATTENTION)
    record = order.apply_transition("staff_refund", actor="staff:ops", cause="portal", actor_user=staff)
    assert (record.from_status, record.to_status, record.actor_user) == ("NEEDS_ATTENTION", "REFUNDED", staff)
    from orders.models import InvalidTransition

    with pytest.raises(InvalidTransition):
        order.apply_transition("deliver", actor="test")
    with pytest.raises(IllegalTransition):
        order.apply_transition("no_such_step", actor="test")
    order.refresh_from_db()
    assert order.status == Order.Status.REFUNDED
    assert OrderTransition.objects.filter(order=order).count() == 1


@pytest.mark.django_db
def test_delivering_sets_delivered_at(bundle):
    order = DeliveredOrderFactory(
        invoice=PaidInvoiceFactory(bundle=bundle), status=Order.Status.PROVISIONING, delivered_at=None
    )
    order.apply_transition("deliver", actor="test")
    order.refresh_from_db()
    assert order.status == Order.Status.DELIVERED and order.delivered_at is not None


@pytest.mark.django_db
def test_the_conditional_form_writes_expressions_and_narrows_sources(email_in, attempt_in):
    log = email_in(EmailLog.Status.PENDING)
    assert try_transition(EmailLog, log.pk, "claim", by="task", attempts=F("attempts") + 1)
    log.refresh_from_db()
    assert (log.status, log.attempts) == (EmailLog.Status.SENDING, 1)

    attempt = attempt_in(ProvisioningAttempt.Outcome.ORDERED)
    # "outcome_unknown" is allowed from ORDERED, but this caller only moves a REQUESTED attempt.
    assert not try_transition(ProvisioningAttempt, attempt.pk, "outcome_unknown", by="test", only_from=["REQUESTED"])
    attempt.refresh_from_db()
    assert attempt.outcome == ProvisioningAttempt.Outcome.ORDERED
    assert not ProvisioningAttemptTransition.objects.filter(attempt=attempt).exists()


@pytest.mark.django_db
def test_sites_record_their_transitions(email_in, attempt_in, django_user_model, mailoutbox):
    """The e-mail sender and the sweep, and staff's "buy again", go through the tables."""
    log = email_in(EmailLog.Status.PENDING)
    assert emails.send_logged_email(log.pk) is True
    assert list(EmailLogTransition.objects.filter(email=log).values_list("name", "from_status", "to_status")) == [
        ("claim", "PENDING", "SENDING"),
        ("mark_sent", "SENDING", "SENT"),
    ]
    stuck = email_in(EmailLog.Status.SENDING)
    EmailLog.objects.filter(pk=stuck.pk).update(claimed_at=timezone.now() - timedelta(hours=1))
    assert emails.reopen_stuck_emails(timezone.now() - timedelta(minutes=10)) == 1
    assert EmailLogTransition.objects.get(email=stuck).name == "reopen"

    staff = django_user_model.objects.create_user("ops", password="x", is_staff=True)
    attempt = attempt_in(ProvisioningAttempt.Outcome.UNKNOWN)
    Order.objects.filter(pk=attempt.order_id).update(status=Order.Status.NEEDS_ATTENTION)
    _order, closed = services.staff_buy_again(attempt.order_id, user=staff)
    assert closed == 1
    record = ProvisioningAttemptTransition.objects.get(attempt=attempt)
    assert (record.name, record.from_status, record.actor, record.actor_user) == (
        "reconciled_absent",
        "UNKNOWN",
        "staff:ops",
        staff,
    )
    assert try_transition_each(ProvisioningAttempt.objects.filter(pk=attempt.pk), "succeeded", by="test") == 0


@pytest.mark.django_db(transaction=True)
def test_of_concurrent_claims_exactly_one_wins_and_is_recorded():
    order = OrderFactory(invoice=InvoiceFactory(status="PAID"))
    log = EmailLog.objects.create(order=order, kind=EmailLog.Kind.PAYMENT_RECEIVED, to="a@example.mn")
    start = threading.Barrier(4)
    results = []

    def claim():
        try:
            start.wait(10)
            results.append(try_transition(EmailLog, log.pk, "claim", by="task"))
        except Exception as exc:  # noqa: BLE001 - reported to the test
            results.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=claim) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    if connection.vendor == "sqlite":  # no row locks: its test database refuses a racing writer instead
        results = [r for r in results if not isinstance(r, Exception) or "locked" not in str(r)]
    assert results.count(True) == 1 and all(r is False for r in results if r is not True), results
    assert EmailLogTransition.objects.filter(email=log, name="claim").count() == 1
