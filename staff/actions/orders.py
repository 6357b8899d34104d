"""Staff actions on an order: retry provisioning, buy again after an unknown eSIM Go order, mark
delivered by hand."""

from __future__ import annotations

import re

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from orders import services
from orders.models import ESim, InvalidTransition, Order, ProvisioningAttempt
from orders.tasks import provision_order_task
from staff.actions.result import ActionResult, Outcome, recorded, require_permission
from staff.audit import actor_name

ICCID_RE = re.compile(r"^89\d{16,20}$")
STUCK_AFTER_SECONDS = 15 * 60


def retry_provisioning(user, order_id) -> ActionResult:
    """NEEDS_ATTENTION → PROVISIONING and provision again; a stuck PAID/PROVISIONING order is just
    queued again (provisioning reconciles any purchase that may have happened before buying)."""
    require_permission(user, "orders.retry_provisioning")
    order = Order.objects.get(pk=order_id)
    if order.status == Order.Status.NEEDS_ATTENTION:
        try:
            order = services.staff_retry_provisioning(order.pk, user=user)
        except InvalidTransition:
            order.refresh_from_db()
            return recorded(
                user,
                "order.retry_provisioning",
                order,
                Outcome.NOTHING_TO_DO,
                _("Already being retried (the order is %(status)s).") % {"status": order.get_status_display()},
            )
        return recorded(
            user,
            "order.retry_provisioning",
            order,
            Outcome.DONE,
            _("Provisioning started again. Reload in a few seconds."),
        )
    if order.is_in_progress and (timezone.now() - order.created_at).total_seconds() > STUCK_AFTER_SECONDS:
        transaction.on_commit(lambda: provision_order_task.delay(order.pk, actor_name(user)), robust=True)
        return recorded(
            user, "order.retry_provisioning", order, Outcome.DONE, _("Provisioning queued again for this stuck order.")
        )
    return recorded(
        user,
        "order.retry_provisioning",
        order,
        Outcome.NOTHING_TO_DO,
        _("Nothing to retry: the order is %(status)s.") % {"status": order.get_status_display()},
    )


def buy_again(user, order_id) -> ActionResult:
    """After an eSIM Go purchase whose outcome stayed unknown (NEEDS_ATTENTION with the look-ups as
    evidence): close the open attempt and buy a new eSIM. It risks a second paid eSIM Go order if
    eSIM Go commits the first purchase late, so it is finance's call, and refused while an eSIM Go
    order is known for this order ("Retry provisioning" delivers that one)."""
    require_permission(user, "orders.deliver_manually")
    order = Order.objects.get(pk=order_id)
    if order.status != Order.Status.NEEDS_ATTENTION:
        return recorded(
            user,
            "order.buy_again",
            order,
            Outcome.NOTHING_TO_DO,
            _("Nothing to buy: the order is %(status)s.") % {"status": order.get_status_display()},
        )
    if order.attempts.filter(outcome=ProvisioningAttempt.Outcome.ORDERED).exists():
        return recorded(
            user,
            "order.buy_again",
            order,
            Outcome.REFUSED,
            _("An eSIM Go order is already known for this order: use Retry provisioning, which delivers it."),
        )
    try:
        order, closed = services.staff_buy_again(order.pk, user=user)
    except InvalidTransition:
        order.refresh_from_db()
        return recorded(
            user,
            "order.buy_again",
            order,
            Outcome.NOTHING_TO_DO,
            _("Already being retried (the order is %(status)s).") % {"status": order.get_status_display()},
        )
    return recorded(
        user,
        "order.buy_again",
        order,
        Outcome.DONE,
        _(
            "Buying a new eSIM. If eSIM Go completes the first purchase late, there will be two paid eSIM Go "
            "orders for this payment; the hourly check reports it."
        ),
        closed_attempts=closed,
    )


def mark_delivered(
    user, order_id, *, iccid, matching_id, smdp_address, esimgo_order_reference="", note=""
) -> ActionResult:
    """An eSIM staff obtained by hand (eSIM Go portal): NEEDS_ATTENTION → DELIVERED, e-mail the shopper."""
    require_permission(user, "orders.deliver_manually")
    iccid = re.sub(r"\s+", "", str(iccid or ""))
    order = Order.objects.get(pk=order_id)
    if not ICCID_RE.match(iccid):
        return recorded(
            user, "order.deliver_manually", order, Outcome.REFUSED, _("An ICCID is 18–22 digits and starts with 89.")
        )
    if order.status == Order.Status.DELIVERED:
        same = order.esim_id and order.esim.iccid == iccid
        return recorded(
            user,
            "order.deliver_manually",
            order,
            Outcome.NOTHING_TO_DO if same else Outcome.REFUSED,
            _("Already delivered with ICCID %(iccid)s.") % {"iccid": order.esim.iccid if order.esim_id else "?"},
        )
    other = ESim.objects.filter(iccid=iccid).exclude(customer_id=order.customer_id).first()
    if other is not None:
        return recorded(
            user,
            "order.deliver_manually",
            order,
            Outcome.REFUSED,
            _("ICCID %(iccid)s belongs to another customer's eSIM.") % {"iccid": iccid},
        )
    if (
        esimgo_order_reference
        and Order.objects.filter(esimgo_order_reference=esimgo_order_reference).exclude(pk=order.pk).exists()
    ):
        return recorded(
            user,
            "order.deliver_manually",
            order,
            Outcome.REFUSED,
            _("That eSIM Go order reference is already another order's."),
        )
    try:
        order = services.staff_deliver(
            order.pk,
            user=user,
            iccid=iccid,
            matching_id=matching_id,
            smdp_address=smdp_address,
            esimgo_order_reference=esimgo_order_reference or None,
            note=note,
        )
    except InvalidTransition:
        order.refresh_from_db()
        return recorded(
            user,
            "order.deliver_manually",
            order,
            Outcome.REFUSED,
            _("Only an order that needs attention can be delivered by hand (this one is %(status)s).")
            % {"status": order.get_status_display()},
        )
    return recorded(
        user,
        "order.deliver_manually",
        order,
        Outcome.DONE,
        _("Delivered with ICCID %(iccid)s; the shopper gets the “eSIM ready” e-mail.") % {"iccid": iccid},
        iccid=iccid,
        esimgo_order_reference=esimgo_order_reference,
    )
