"""Exactly-once provisioning: duplicates, crashes, unknown outcomes, permanent vs transient failures."""

from datetime import timedelta
from unittest import mock

import pytest
from django.core import mail
from django.utils import timezone, translation

from ops import alerts, watchdog
from orders import provisioning, services
from orders.models import EmailLog, ESim, Order, OrderTransition, ProvisioningAttempt
from tests.orders.esimgo_mocks import purchase_bodies
from tests.orders.factories import ESimFactory, InvoiceFactory, OrderFactory
from tests.orders.fake_esimgo import FakeESIMGo

pytestmark = pytest.mark.django_db


@pytest.fixture
def fake(mocked_responses):
    return FakeESIMGo(mocked_responses)


def later(seconds=3600):
    """Run the next steps as if `seconds` had passed (past the settle time of unresolved attempts)."""
    return mock.patch("django.utils.timezone.now", return_value=timezone.now() + timedelta(seconds=seconds))


# --- the happy path and handle_invoice_paid -----------------------------------------------------


def test_invoice_paid_creates_one_order_and_provisions_on_commit(fake, django_capture_on_commit_callbacks):
    invoice = InvoiceFactory()
    with django_capture_on_commit_callbacks(execute=True):
        order = services.handle_invoice_paid(invoice, actor="callback")
    with django_capture_on_commit_callbacks(execute=True):
        again = services.handle_invoice_paid(invoice, actor="task")

    assert again.pk == order.pk
    assert Order.objects.filter(invoice=invoice).count() == 1
    order.refresh_from_db()
    assert order.status == Order.Status.DELIVERED
    assert len(fake.sold) == 1
    sold = fake.sold[0]
    assert order.esimgo_order_reference == sold["orderReference"]
    assert order.esim.iccid == sold["order"][0]["iccids"][0]
    assert order.esim.matching_id == sold["order"][0]["esims"][0]["matchingId"]
    assert order.esim.smdp_address == "rsp.fake-smdp.io"
    # The eSIM is tagged with our order id at eSIM Go for reconciliation.
    assert fake.esims[order.esim.iccid]["customerRef"] == str(order.public_id)
    assert order.esim.customer_ref_set_at is not None
    names = list(order.transitions.values_list("name", "from_status", "to_status", "actor"))
    assert names == [
        ("create_paid", "", "PAID", "callback"),
        ("start_provisioning", "PAID", "PROVISIONING", "task"),
        ("deliver", "PROVISIONING", "DELIVERED", "task"),
    ]
    kinds = sorted(EmailLog.objects.filter(order=order).values_list("kind", flat=True))
    assert kinds == ["esim_ready", "payment_received"]


def test_purchase_is_a_transaction_with_assign_and_one_bundle(fake, bundle):
    order = OrderFactory(invoice=InvoiceFactory(bundle=bundle))
    provisioning.provision_order(order.pk)
    [body] = purchase_bodies(fake.rsps)
    assert body == {
        "type": "transaction",
        "assign": True,
        "order": [{"type": "bundle", "quantity": 1, "item": "esim_1GB_7D_JP_V2", "allowReassign": False}],
    }


def test_same_task_run_twice_buys_once(fake):
    order = OrderFactory()
    first = provisioning.provision_order(order.pk)
    second = provisioning.provision_order(order.pk)
    assert (first.outcome, second.outcome) == (provisioning.DELIVERED, provisioning.NOTHING_TO_DO)
    assert fake.purchase_calls == 1
    assert ESim.objects.count() == 1


def test_order_response_without_esims_reads_assignments(fake):
    fake.omit_esims_in_response = True
    order = OrderFactory()
    assert provisioning.provision_order(order.pk).outcome == provisioning.DELIVERED
    order.refresh_from_db()
    assert order.esim.matching_id == fake.esims[order.esim.iccid]["matchingId"]
    assignment_calls = [c for c in fake.rsps.calls if "/esims/assignments" in c.request.url]
    assert len(assignment_calls) == 1
    assert f"reference={order.esimgo_order_reference}" in assignment_calls[0].request.url


def test_topup_orders_onto_the_same_iccid_without_reassign(fake):
    first = OrderFactory()
    provisioning.provision_order(first.pk)
    first.refresh_from_db()
    iccid = first.esim.iccid
    topup = OrderFactory(invoice=InvoiceFactory(customer=first.customer, topup_iccid=iccid))
    assert topup.kind == Order.Kind.TOPUP

    assert provisioning.provision_order(topup.pk).outcome == provisioning.DELIVERED
    topup.refresh_from_db()
    assert topup.esim_id == first.esim_id
    body = purchase_bodies(fake.rsps)[-1]
    assert body["order"][0]["iccids"] == [iccid]
    assert body["order"][0]["allowReassign"] is False
    assert fake.esims[iccid]["bundles"] == [first.bundle.name, topup.bundle.name]


def test_incompatible_topup_needs_attention_and_buys_nothing(fake):
    esim = ESimFactory()
    fake.esims[esim.iccid] = {
        "matchingId": esim.matching_id,
        "smdpAddress": esim.smdp_address,
        "customerRef": "",
        "bundles": [],
    }
    order = OrderFactory(invoice=InvoiceFactory(topup_iccid=esim.iccid))
    fake.incompatible.add(order.bundle.name)
    result = provisioning.provision_order(order.pk)
    order.refresh_from_db()
    assert result.outcome == provisioning.NEEDS_ATTENTION
    assert order.status == Order.Status.NEEDS_ATTENTION
    assert fake.sold == []


# --- crashes and unknown outcomes ----------------------------------------------------------------


class WorkerDied(BaseException):
    """Like SIGKILL between eSIM Go's answer and our save: nothing after it runs."""


def test_worker_dying_after_esimgo_answered_is_reconciled_not_rebought(fake):
    order = OrderFactory()
    fake.purchase_failures = [lambda: (_ for _ in ()).throw(WorkerDied())]
    with pytest.raises(WorkerDied):
        provisioning.provision_order(order.pk)
    # eSIM Go sold an eSIM, we saved nothing but the attempt marker.
    assert len(fake.sold) == 1
    attempt = ProvisioningAttempt.objects.get(order=order)
    assert attempt.outcome == ProvisioningAttempt.Outcome.REQUESTED
    order.refresh_from_db()
    assert order.status == Order.Status.PROVISIONING and order.esim is None

    # A re-run while the purchase could still be in flight waits instead of buying.
    assert provisioning.provision_order(order.pk).outcome == provisioning.WAITING
    assert fake.purchase_calls == 1

    # After the settle time it looks the order up at eSIM Go and adopts it.
    with later(90):
        assert provisioning.provision_order(order.pk).outcome == provisioning.DELIVERED
    order.refresh_from_db()
    assert fake.purchase_calls == 1 and len(fake.sold) == 1
    assert order.esimgo_order_reference == fake.sold[0]["orderReference"]
    assert order.esim.iccid == fake.sold[0]["order"][0]["iccids"][0]
    attempt.refresh_from_db()
    assert attempt.outcome == ProvisioningAttempt.Outcome.SUCCEEDED and attempt.adopted
    lookups = [c.request.url for c in fake.rsps.calls if c.request.method == "GET" and "/orders?" in c.request.url]
    assert lookups and "createdAt=gte%3A" in lookups[0]


def test_timeout_after_order_created_reconciles_to_that_order(fake):
    order = OrderFactory()
    fake.purchase_failures = ["timeout_after"]
    with pytest.raises(provisioning.TransientProvisioningError):
        provisioning.provision_order(order.pk)
    assert ProvisioningAttempt.objects.get(order=order).outcome == ProvisioningAttempt.Outcome.UNKNOWN
    assert provisioning.provision_order(order.pk).outcome == provisioning.WAITING
    with later(90):
        assert provisioning.provision_order(order.pk).outcome == provisioning.DELIVERED
    assert fake.purchase_calls == 1 and len(fake.sold) == 1


def _window(settings_seconds=None):
    from orders import conf

    return conf.reconcile_after_seconds() + conf.unknown_outcome_window_seconds()


def test_timeout_without_order_is_never_bought_again_but_flagged_with_evidence(fake):
    order = OrderFactory()
    fake.purchase_failures = ["timeout"]
    with pytest.raises(provisioning.TransientProvisioningError):
        provisioning.provision_order(order.pk)
    with later(90):  # past the settle time: looked for, not there, looked for again later
        result = provisioning.provision_order(order.pk)
    assert result.outcome == provisioning.WAITING and result.countdown > 0
    with later(_window() + 1):  # the whole window passed: staff decide
        assert provisioning.provision_order(order.pk).outcome == provisioning.NEEDS_ATTENTION
    assert fake.purchase_calls == 1 and fake.sold == []
    attempt = ProvisioningAttempt.objects.get(order=order)
    assert attempt.outcome == ProvisioningAttempt.Outcome.UNKNOWN and len(attempt.lookups) == 2
    order.refresh_from_db()
    assert order.status == Order.Status.NEEDS_ATTENTION
    assert (
        "NOT bought again" in order.attention_reason
        and "Looked for it in eSIM Go's order list 2 times" in order.attention_reason
    )
    assert "Buy again" in order.attention_reason and "second paid eSIM Go order" in order.attention_reason


def test_an_order_committed_after_the_first_lookup_is_adopted_not_bought_twice(fake):
    """eSIM Go answered 504 but committed the order later than the shop's first look-up (issue 10, 1)."""
    order = OrderFactory()
    fake.purchase_failures = ["timeout_after"]
    with pytest.raises(provisioning.TransientProvisioningError):
        provisioning.provision_order(order.pk)
    committed_late = fake.orders.pop()  # not in eSIM Go's list yet
    with later(90):
        assert provisioning.provision_order(order.pk).outcome == provisioning.WAITING
    fake.orders.append(committed_late)  # eSIM Go commits it now
    with later(200):
        assert provisioning.provision_order(order.pk).outcome == provisioning.DELIVERED
    assert fake.purchase_calls == 1
    order.refresh_from_db()
    assert order.esimgo_order_reference == committed_late["orderReference"]


def test_reconciliation_never_adopts_an_order_already_claimed(fake):
    # Another order of ours bought the same bundle in the same minute and saved it.
    other = OrderFactory()
    provisioning.provision_order(other.pk)
    order = OrderFactory(invoice=InvoiceFactory(bundle=other.bundle))
    fake.purchase_failures = ["timeout"]
    with pytest.raises(provisioning.TransientProvisioningError):
        provisioning.provision_order(order.pk)
    with later(_window() + 1):  # other's eSIM Go order sits inside the lookup window, but it is claimed
        assert provisioning.provision_order(order.pk).outcome == provisioning.NEEDS_ATTENTION
    order.refresh_from_db()
    assert order.esim_id is None and len(fake.sold) == 1


def test_staff_buy_again_closes_the_unknown_attempt_and_buys(
    fake, django_user_model, django_capture_on_commit_callbacks
):
    from django.contrib.auth.models import Permission
    from django.core.exceptions import PermissionDenied

    from staff.actions import orders as order_actions

    order = OrderFactory()
    fake.purchase_failures = ["timeout"]
    with pytest.raises(provisioning.TransientProvisioningError):
        provisioning.provision_order(order.pk)
    with later(_window() + 1):
        provisioning.provision_order(order.pk)
    user = django_user_model.objects.create_user("fin", password="x", is_staff=True)
    support = django_user_model.objects.create_user("sup", password="x", is_staff=True)
    user.user_permissions.add(Permission.objects.get(codename="deliver_manually"))
    with pytest.raises(PermissionDenied):
        order_actions.buy_again(support, order.pk)
    with django_capture_on_commit_callbacks(execute=True), translation.override("en"):
        result = order_actions.buy_again(user, order.pk)
    assert result.outcome == "DONE" and "two paid eSIM Go orders" in result.message
    order.refresh_from_db()
    assert order.status == Order.Status.DELIVERED and fake.purchase_calls == 2
    assert list(order.attempts.values_list("outcome", flat=True)) == ["RECONCILED_ABSENT", "SUCCEEDED"]


# --- transient vs permanent ------------------------------------------------------------------------


def test_rate_limited_purchase_is_retried_without_reconciling(fake):
    order = OrderFactory()
    fake.purchase_failures = [429]
    with pytest.raises(provisioning.TransientProvisioningError) as info:
        provisioning.provision_order(order.pk)
    assert info.value.countdown == 7  # Retry-After
    assert ProvisioningAttempt.objects.get(order=order).outcome == ProvisioningAttempt.Outcome.NOT_PLACED
    # 429 means nothing was bought: the next run may buy at once.
    assert provisioning.provision_order(order.pk).outcome == provisioning.DELIVERED
    assert fake.purchase_calls == 2 and len(fake.sold) == 1


@pytest.mark.parametrize("status", [500, 503])
def test_server_error_on_purchase_is_an_unknown_outcome(fake, status):
    order = OrderFactory()
    fake.purchase_failures = [status]
    with pytest.raises(provisioning.TransientProvisioningError):
        provisioning.provision_order(order.pk)
    assert ProvisioningAttempt.objects.get(order=order).outcome == ProvisioningAttempt.Outcome.UNKNOWN
    assert provisioning.provision_order(order.pk).outcome == provisioning.WAITING
    assert fake.purchase_calls == 1


@pytest.mark.parametrize("status,message", [(400, "Bundle not found"), (403, "Insufficient balance")])
def test_permanent_failure_needs_attention_and_alerts(fake, status, message, django_capture_on_commit_callbacks):
    order = OrderFactory()
    fake.purchase_failures = [status]
    with django_capture_on_commit_callbacks(execute=True):
        result = provisioning.provision_order(order.pk)
    order.refresh_from_db()
    assert result.outcome == provisioning.NEEDS_ATTENTION
    assert order.status == Order.Status.NEEDS_ATTENTION
    assert message in order.attention_reason
    assert ProvisioningAttempt.objects.get(order=order).outcome == ProvisioningAttempt.Outcome.NOT_PLACED
    subjects = {m.to[0]: m.subject for m in mail.outbox}
    assert "longer" in subjects[order.customer.email]
    # Staff hear of it from the watchdog's one deduplicated alert, not an e-mail per order.
    assert "staff@example.mn" not in subjects
    note = alerts.process(watchdog.orders_needing_attention(timezone.now()))
    assert note.kind == alerts.RAISED and str(order.public_id) in note.text()
    assert mail.outbox[-1].to == ["staff@example.mn"] and "need attention" in mail.outbox[-1].subject
    # Nothing more happens on re-runs: staff decide (retry or refund).
    assert provisioning.provision_order(order.pk).outcome == provisioning.NOTHING_TO_DO
    assert fake.purchase_calls == 1


def test_valid_false_answer_is_permanent(mocked_responses):
    order = OrderFactory()
    mocked_responses.post(
        "https://api.esim-go.com/v2.4/orders",
        json={"valid": False, "status": "failed", "statusMessage": "bundle unavailable"},
    )
    assert provisioning.provision_order(order.pk).outcome == provisioning.NEEDS_ATTENTION
    order.refresh_from_db()
    assert "bundle unavailable" in order.attention_reason


def test_task_gives_up_after_bounded_retries(fake, settings):
    """The Celery wrapper: transient failures retry with backoff, then NEEDS_ATTENTION."""
    from orders.tasks import provision_order_task

    settings.ORDERS_PROVISION_MAX_RETRIES = 2
    order = OrderFactory()
    fake.purchase_failures = [429, 429, 429, 429]
    countdowns = []

    def fake_retry(exc=None, countdown=None, **kwargs):
        countdowns.append(countdown)
        raise RuntimeError("retry scheduled")

    with mock.patch.object(provision_order_task, "retry", fake_retry, create=True):
        for retries in range(2):
            provision_order_task.push_request(retries=retries, is_eager=False)
            try:
                with pytest.raises(RuntimeError):
                    provision_order_task.run(order.pk)
            finally:
                provision_order_task.pop_request()
        provision_order_task.push_request(retries=2, is_eager=False)
        try:
            outcome = provision_order_task.run(order.pk)
        finally:
            provision_order_task.pop_request()
    assert countdowns == [7, 7]  # Retry-After honoured
    assert outcome == provisioning.NEEDS_ATTENTION
    order.refresh_from_db()
    assert order.status == Order.Status.NEEDS_ATTENTION
    assert "retries exhausted" in order.attention_reason
    assert len(fake.sold) == 0


# --- state machine -----------------------------------------------------------------------------


def test_staff_can_retry_or_refund_only_orders_needing_attention(
    fake, django_user_model, django_capture_on_commit_callbacks
):
    from orders.models import InvalidTransition

    staff = django_user_model.objects.create_user("ops", password="x", is_staff=True)
    order = OrderFactory()
    fake.purchase_failures = [403]
    provisioning.provision_order(order.pk)
    with django_capture_on_commit_callbacks(execute=True):
        services.staff_retry_provisioning(order.pk, user=staff)
    order.refresh_from_db()
    assert order.status == Order.Status.DELIVERED
    with pytest.raises(InvalidTransition):
        services.staff_mark_refunded(order.pk, user=staff)

    other = OrderFactory()
    fake.purchase_failures = [400]
    provisioning.provision_order(other.pk)
    services.staff_mark_refunded(other.pk, user=staff, note="refunded via QPay")
    other.refresh_from_db()
    assert other.status == Order.Status.REFUNDED
    last = OrderTransition.objects.filter(order=other).last()
    assert (last.name, last.actor, last.actor_user) == ("staff_refund", "staff:ops", staff)


def test_get_absolute_url_uses_the_access_token(bundle):
    order = OrderFactory(invoice=InvoiceFactory(bundle=bundle))
    assert order.get_absolute_url() == f"/esims/{order.access_token}/"
    assert order.public_id.version == 4


def test_answer_arriving_after_the_order_was_flagged_is_kept_for_staff(
    fake, django_user_model, django_capture_on_commit_callbacks
):
    """The sweep escalates while a slow purchase is still in flight; its eSIM must not be lost or re-bought."""
    staff = django_user_model.objects.create_user("ops2", password="x", is_staff=True)
    order = OrderFactory()
    fake.purchase_failures = [lambda: services.give_up_provisioning(order.pk, reason="too slow", actor="sweep")]
    with django_capture_on_commit_callbacks(execute=True):
        provisioning.provision_order(order.pk)
    order.refresh_from_db()
    assert order.status == Order.Status.NEEDS_ATTENTION and order.esim is None
    attempt = ProvisioningAttempt.objects.get(order=order)
    assert attempt.outcome == ProvisioningAttempt.Outcome.ORDERED
    assert attempt.esimgo_order_reference == fake.sold[0]["orderReference"]
    assert EmailLog.objects.filter(order=order, kind="staff_alert", event_key__startswith="late:").exists()

    with django_capture_on_commit_callbacks(execute=True):
        services.staff_retry_provisioning(order.pk, user=staff)
    order.refresh_from_db()
    assert order.status == Order.Status.DELIVERED
    assert order.esimgo_order_reference == fake.sold[0]["orderReference"]
    assert fake.purchase_calls == 1
