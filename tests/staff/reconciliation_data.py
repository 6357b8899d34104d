"""A prepared day with one of every mismatch kind, and the provider answers that go with it.

Day: 2026-01-15 in Ulaanbaatar. Each "case" is an invoice/payment/order set in our books plus
what QPay's payment list and eSIM Go's order list say about it.
"""

import json
import re
import uuid
from dataclasses import dataclass, field
from datetime import date, datetime, time
from decimal import Decimal
from zoneinfo import ZoneInfo

import responses

from orders.models import Order
from payments.models import Invoice, Payment
from tests.conftest import ESIMGO_TEST_BASE_URL
from tests.orders.factories import DeliveredOrderFactory, InvoiceFactory, OrderFactory
from tests.staff.conftest import ESIMGO_ORDERS_LIST, QPAY_PAYMENT_LIST

UB = ZoneInfo("Asia/Ulaanbaatar")
DAY = date(2026, 1, 15)


def at(hour, minute=0, day=DAY):
    return datetime.combine(day, time(hour, minute), UB)


@dataclass
class World:
    qpay_rows: list = field(default_factory=list)
    esimgo_orders: list = field(default_factory=list)
    cases: dict = field(default_factory=dict)


def qpay_row(payment_id, qpay_invoice_id, amount, when, *, status="PAID", paid_by="P2P", naive=False):
    stamp = when.astimezone(UB).strftime("%Y-%m-%d %H:%M:%S") if naive else when.isoformat()
    return {
        "payment_id": payment_id,
        "payment_date": stamp,
        "payment_status": status,
        "payment_fee": "0.00",
        "payment_amount": f"{Decimal(amount):.2f}",
        "payment_currency": "MNT",
        "payment_wallet": "qPay wallet",
        "payment_name": "eSIM",
        "payment_description": "eSIM",
        "qr_code": "",
        "paid_by": paid_by,
        "object_type": "INVOICE",
        "object_id": qpay_invoice_id,
    }


def esimgo_order(reference, when, *, item="esim_1GB_7D_JP_V2", total="4.50", status="completed"):
    return {
        "order": [
            {
                "type": "bundle",
                "item": item,
                "quantity": 1,
                "subTotal": float(total),
                "pricePerUnit": float(total),
                "iccids": ["8944000000000000099"],
            }
        ],
        "total": float(total),
        "currency": "USD",
        "status": status,
        "statusMessage": "Order completed: 1 eSIMs assigned",
        "orderReference": reference,
        "createdDate": when.astimezone(ZoneInfo("UTC")).strftime("%Y-%m-%dT%H:%M:%S.123456789Z"),
        "assigned": True,
    }


def _paid_invoice(bundle, when, **kwargs):
    kwargs.setdefault("status", Invoice.Status.PAID)
    return InvoiceFactory(
        bundle=bundle,
        paid_at=when if kwargs["status"] == Invoice.Status.PAID else None,
        paid_amount=bundle.price_mnt,
        **kwargs,
    )


def _payment(invoice, payment_id, amount, when, *, status="PAID", payment_type="P2P"):
    payment = Payment.objects.create(
        invoice=invoice,
        qpay_payment_id=payment_id,
        status=status,
        amount=Decimal(amount),
        payment_type=payment_type,
        paid_at=when,
    )
    Payment.objects.filter(pk=payment.pk).update(first_seen_at=when)
    return payment


def _order(factory, invoice, when, **kwargs):
    order = factory(invoice=invoice, **kwargs)
    Order.objects.filter(pk=order.pk).update(created_at=when)
    order.refresh_from_db()
    return order


def build_world(bundle) -> World:
    """bundle: price 19,500₮ (factory default), eSIM Go cost 4.50 USD."""
    world = World()
    price = bundle.price_mnt

    # 1. All good: paid, recorded, delivered, eSIM Go order matches.
    good = _paid_invoice(bundle, at(9))
    _payment(good, "100000000000001", price, at(9))
    good_order = _order(
        DeliveredOrderFactory,
        good,
        at(9),
        esimgo_order_reference=str(uuid.uuid4()),
        esimgo_order={"total": "4.50", "currency": "USD"},
    )
    world.qpay_rows.append(qpay_row("100000000000001", good.qpay_invoice_id, price, at(9), naive=True))
    world.esimgo_orders.append(esimgo_order(good_order.esimgo_order_reference, at(9, 1)))
    world.cases["good"] = good

    # 2. Paid at QPay, but our invoice expired and the payment was never verified.
    expired = InvoiceFactory(bundle=bundle, status=Invoice.Status.EXPIRED, paid_at=None)
    world.qpay_rows.append(qpay_row("100000000000002", expired.qpay_invoice_id, price, at(10)))
    world.cases["unbooked"] = expired

    # 3. Paid at QPay for an invoice we have never heard of.
    world.qpay_rows.append(qpay_row("100000000000003", str(uuid.uuid4()), price, at(11)))

    # 4. Paid, recorded, but the order needs attention: no eSIM.
    stuck = _paid_invoice(bundle, at(12))
    _payment(stuck, "100000000000004", price, at(12))
    stuck_order = _order(
        OrderFactory,
        stuck,
        at(12),
        status=Order.Status.NEEDS_ATTENTION,
        attention_reason="eSIM Go refused: Insufficient balance",
    )
    world.qpay_rows.append(qpay_row("100000000000004", stuck.qpay_invoice_id, price, at(12)))
    world.cases["no_esim"] = stuck_order

    # 5. eSIM Go sold us an eSIM no order of ours knows about.
    world.esimgo_orders.append(esimgo_order("0c4a1f3e-0000-4000-8000-00000000dead", at(13)))

    # 6. Amounts differ: QPay received 19,000₮ on a 19,500₮ invoice we recorded as 19,500₮ paid.
    short = _paid_invoice(bundle, at(14))
    _payment(short, "100000000000006", price, at(14))
    short_order = _order(
        DeliveredOrderFactory, short, at(14), esimgo_order_reference=str(uuid.uuid4()), esimgo_order={"total": "4.50"}
    )
    world.qpay_rows.append(qpay_row("100000000000006", short.qpay_invoice_id, price - 500, at(14)))
    world.esimgo_orders.append(esimgo_order(short_order.esimgo_order_reference, at(14, 1)))
    world.cases["amount"] = short

    # 7. Refunded at QPay (card), still PAID and delivered in our books.
    refunded = _paid_invoice(bundle, at(15))
    _payment(refunded, "a3f1c2d4-0000-4000-8000-000000000007", price, at(15), payment_type="CARD")
    refunded_order = _order(
        DeliveredOrderFactory,
        refunded,
        at(15),
        esimgo_order_reference=str(uuid.uuid4()),
        esimgo_order={"total": "4.50"},
    )
    world.qpay_rows.append(
        qpay_row(
            "a3f1c2d4-0000-4000-8000-000000000007",
            refunded.qpay_invoice_id,
            price,
            at(15),
            status="REFUNDED",
            paid_by="CARD",
        )
    )
    world.esimgo_orders.append(esimgo_order(refunded_order.esimgo_order_reference, at(15, 1)))
    world.cases["refund"] = refunded

    # 8. PAID in our books, but QPay neither lists nor knows the payment.
    phantom = _paid_invoice(bundle, at(16))
    _payment(phantom, "100000000000008", price, at(16))
    phantom_order = _order(
        DeliveredOrderFactory, phantom, at(16), esimgo_order_reference=str(uuid.uuid4()), esimgo_order={"total": "4.50"}
    )
    world.esimgo_orders.append(esimgo_order(phantom_order.esimgo_order_reference, at(16, 1)))
    world.cases["phantom"] = phantom

    # 9. Delivered here with an eSIM Go reference eSIM Go does not have.
    ghost = _paid_invoice(bundle, at(17))
    _payment(ghost, "100000000000009", price, at(17))
    ghost_order = _order(DeliveredOrderFactory, ghost, at(17), esimgo_order_reference=str(uuid.uuid4()))
    world.qpay_rows.append(qpay_row("100000000000009", ghost.qpay_invoice_id, price, at(17)))
    world.cases["ghost"] = ghost_order

    # Noise outside the day: must not be reported or counted.
    world.qpay_rows.append(qpay_row("100000000000010", str(uuid.uuid4()), 5000, at(12, day=date(2026, 1, 13))))
    return world


def mock_providers(rsps, world: World, *, qpay_status=200):
    """QPay payment list (one page, newest first) + single-payment look-ups; eSIM Go order list + look-ups."""
    rows = sorted(world.qpay_rows, key=lambda r: r["payment_date"], reverse=True)
    if qpay_status == 200:
        rsps.add(responses.POST, QPAY_PAYMENT_LIST, json={"count": len(rows), "rows": rows})
    else:
        rsps.add(responses.POST, QPAY_PAYMENT_LIST, json={"error": "INTERNAL", "message": "down"}, status=qpay_status)
    known = {r["payment_id"]: r for r in world.qpay_rows}

    def payment_detail(request):
        payment_id = request.url.rsplit("/", 1)[-1]
        if payment_id in known:
            return 200, {}, json.dumps(known[payment_id])
        return 422, {}, json.dumps({"error": "PAYMENT_NOTFOUND", "message": "Гүйлгээ олдсонгүй"})

    rsps.add_callback(
        responses.GET, re.compile(r"https://merchant\.qpay\.mn/v2/payment/[^/]+$"), callback=payment_detail
    )
    rsps.add(
        responses.GET,
        ESIMGO_ORDERS_LIST,
        json={"orders": world.esimgo_orders, "pageCount": 1, "rows": len(world.esimgo_orders)},
    )
    by_ref = {o["orderReference"]: o for o in world.esimgo_orders}

    def order_detail(request):
        reference = request.url.rsplit("/", 1)[-1]
        if reference in by_ref:
            return 200, {}, json.dumps(by_ref[reference])
        return 404, {}, json.dumps({"message": "order not found"})

    rsps.add_callback(
        responses.GET, re.compile(re.escape(f"{ESIMGO_TEST_BASE_URL}/orders/") + r"[^/?]+$"), callback=order_detail
    )
