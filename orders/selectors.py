"""Order reads for pages, e-mails and other apps."""

from dataclasses import dataclass, field

from django.db.models import Q
from django.utils import timezone

from catalog.lpa import android_install_url, apple_install_url, build_lpa, smdp_host
from catalog.selectors import bundle_countries, bundle_label  # noqa: F401 - orders' pages use them via this module
from orders import conf
from orders.models import Order, ProvisioningAttempt
from payments.models import Invoice


def install_details(esim) -> dict:
    lpa = build_lpa(esim.smdp_address, esim.matching_id)
    return {
        "esim": esim,
        "lpa": lpa,
        "smdp_address": smdp_host(esim.smdp_address),
        "activation_code": esim.matching_id,
        "iccid": esim.iccid,
        "apple_install_url": apple_install_url(lpa),
        "android_install_url": android_install_url(lpa),
    }


def order_by_access_token(token: str) -> Order | None:
    """The order whose eSIM page URL carries `token` (its capability)."""
    if not token or len(token) > 64:
        return None
    return Order.objects.select_related("bundle", "esim", "invoice", "customer").filter(access_token=token).first()


def device_platform(user_agent: str) -> str:
    """'ios', 'android' or '' (unknown: show both install links)."""
    agent = user_agent or ""
    if "Android" in agent:
        return "android"
    if any(marker in agent for marker in ("iPhone", "iPad", "iPod")):
        return "ios"
    return ""


@dataclass
class ESimCard:
    """One eSIM in My eSIMs, with its orders (first purchase and top-ups), newest first."""

    esim: object
    orders: list = field(default_factory=list)
    usage: object = None

    @property
    def first_order(self):
        return self.orders[-1]


def my_esims_orders(*, email: str = "", invoice_ids=()) -> list[Order]:
    """Orders bought with this (verified) e-mail, plus those this browser paid for."""
    condition = Q(pk__in=[])
    if email:
        condition |= Q(customer__email__iexact=email)
    valid_ids = [value for value in invoice_ids or () if _is_uuid(value)]
    if valid_ids:
        condition |= Q(invoice_id__in=valid_ids)
    return list(Order.objects.filter(condition).select_related("bundle", "esim", "invoice").order_by("-created_at"))


def open_invoices(*, email: str = "", invoice_ids=()) -> list:
    """Unpaid purchases still open for payment (My eSIMs offers to resume a lost payment tab)."""
    condition = Q(pk__in=[])
    if email:
        condition |= Q(customer__email__iexact=email)
    valid_ids = [value for value in invoice_ids or () if _is_uuid(value)]
    if valid_ids:
        condition |= Q(pk__in=valid_ids)
    return list(
        Invoice.objects.filter(
            condition, status=Invoice.Status.PENDING, qpay_invoice_id__isnull=False, expires_at__gt=timezone.now()
        )
        .select_related("bundle")
        .order_by("-created_at")[:10]
    )


def group_by_esim(orders) -> tuple[list[ESimCard], list[Order]]:
    """(cards for delivered eSIMs, orders still without an eSIM: preparing/delayed/refunded)."""
    cards, by_esim, pending = [], {}, []
    for order in orders:
        if order.esim_id is None:
            pending.append(order)
            continue
        card = by_esim.get(order.esim_id)
        if card is None:
            card = by_esim[order.esim_id] = ESimCard(esim=order.esim)
            cards.append(card)
        card.orders.append(order)
    return cards, pending


def _is_uuid(value) -> bool:
    import uuid

    try:
        uuid.UUID(str(value))
    except ValueError:
        return False
    return True


def delivery_delayed(order) -> bool:
    """A paid order not delivered within a couple of minutes, or whose eSIM Go purchase has an
    unknown outcome (being looked for): the page says so and that we will e-mail."""
    if (timezone.now() - order.created_at).total_seconds() > conf.delayed_notice_after_seconds():
        return True
    return order.attempts.filter(outcome=ProvisioningAttempt.Outcome.UNKNOWN).exists()
