"""Reconciliation: what QPay received, what eSIM Go sold us and what our books say, side by side.

Reads only. `collect()` pulls QPay's merchant payment list and eSIM Go's order list for a
period (plus a margin either side, so a payment at 23:59 matches an eSIM bought at 00:01),
loads our invoices, payments and orders, and returns the findings and the per-day totals.
staff.services persists them.

Days are Ulaanbaatar days (settings.TIME_ZONE): that is the day QPay and the shop's staff see.
QPay's list endpoint is paged with no documented date filter and no documented order (the sandbox
lists newest first; nobody has recorded QPay's order), so we read every page until the list ends,
keep the rows dated in the period, and say "incomplete" when we had to stop early (page cap, error,
no merchant id). A finding that needs a provider's full list ("booked here but not at QPay") is
only made when that list is complete (docs/providers/qpay.md, Payment list).
"""

from __future__ import annotations

import logging
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from zoneinfo import ZoneInfo

from django.conf import settings
from django.db.models import Q
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from staff.models import ReconciliationMismatch

logger = logging.getLogger(__name__)

Kind = ReconciliationMismatch.Kind

PAGE_LIMIT = 100
QPAY_MAX_PAGES = 200
ESIMGO_MAX_PAGES = 200
# Match across midnight: a payment late on day D may be provisioned early on D+1.
MATCH_MARGIN = timedelta(hours=2)
# A paid order younger than this may simply still be provisioning.
PROVISIONING_GRACE = timedelta(minutes=30)
# Paid within 1 MNT counts as equal (QPay echoes "10.00"-style decimals).
AMOUNT_TOLERANCE_MNT = Decimal("1")
MONEY_IN_STATUSES = ("PAID", "REFUNDED")  # a REFUNDED row still records money that came in
FAILED_ESIMGO_STATUSES = {"failed", "cancelled", "canceled", "rejected", "error"}


def local_tz():
    return ZoneInfo(settings.TIME_ZONE)


def day_bounds(first: date, last: date) -> tuple[datetime, datetime]:
    """[start, end) of the Ulaanbaatar days first..last inclusive, as aware datetimes."""
    tz = local_tz()
    return datetime.combine(first, time.min, tz), datetime.combine(last + timedelta(days=1), time.min, tz)


def local_day(moment: datetime) -> date:
    return timezone.localtime(moment, local_tz()).date()


def parse_provider_time(value) -> datetime | None:
    """RFC 3339 (eSIM Go, up to nanoseconds) or QPay's "YYYY-MM-DD HH:MM:SS". A time without an
    offset is Ulaanbaatar time: QPay is a Mongolian service and shows local times."""
    if not value:
        return None
    text = str(value).strip()
    try:
        parsed = parse_datetime(text)
    except ValueError:
        parsed = None
    if parsed is None:
        return None
    if timezone.is_naive(parsed):
        parsed = parsed.replace(tzinfo=local_tz())
    return parsed


def _decimal(value) -> Decimal | None:
    if value is None or value == "" or isinstance(value, bool):
        return None
    try:
        result = Decimal(str(value))
    except (InvalidOperation, ValueError):
        return None
    return result if result.is_finite() else None


# --- Provider listings ----------------------------------------------------------------------


@dataclass(frozen=True)
class QPayLine:
    payment_id: str
    status: str
    amount: Decimal
    currency: str
    paid_by: str
    qpay_invoice_id: str
    paid_at: datetime | None


@dataclass(frozen=True)
class ESIMGoLine:
    reference: str
    status: str
    total: Decimal | None
    currency: str
    created_at: datetime | None
    items: tuple[str, ...]
    iccids: tuple[str, ...]

    @property
    def failed(self) -> bool:
        return self.status.lower() in FAILED_ESIMGO_STATUSES


@dataclass
class Listing:
    lines: list = field(default_factory=list)
    complete: bool = False
    error: str = ""


def fetch_qpay_payments(start: datetime, end: datetime, *, client=None) -> Listing:
    """QPay POST /v2/payment/list for the whole merchant, rows dated in [start, end)."""
    from integrations.qpay.client import QPayClient, QPayError

    client = client or QPayClient()
    listing = Listing()
    try:
        merchant_id = client.merchant_id()
        if not merchant_id:
            listing.error = "QPay payment list: merchant id unknown (set QPAY_MERCHANT_ID)"
            return listing
        for page in range(1, QPAY_MAX_PAGES + 1):
            count, rows = client.list_payments(
                object_type="MERCHANT",
                object_id=merchant_id,
                page_number=page,
                page_limit=PAGE_LIMIT,
            )
            lines = [
                QPayLine(
                    payment_id=row.payment_id,
                    status=row.status,
                    amount=row.amount,
                    currency=(row.currency or "MNT").upper(),
                    paid_by=row.payment_type,
                    qpay_invoice_id=row.object_id,
                    paid_at=parse_provider_time(row.payment_date),
                )
                for row in rows
            ]
            listing.lines.extend(line for line in lines if line.paid_at is None or start <= line.paid_at < end)
            if len(rows) < PAGE_LIMIT or page * PAGE_LIMIT >= count:
                listing.complete = True  # the list ended: every page was read, whatever its order
                break
        else:
            listing.error = f"QPay payment list longer than {QPAY_MAX_PAGES} pages; stopped"
    except QPayError as exc:
        logger.warning("reconciliation: QPay payment list failed: %s", exc)
        listing.error = f"QPay payment list: {exc}"
    return listing


def _esimgo_line(raw: dict) -> ESIMGoLine | None:
    if not isinstance(raw, dict) or not raw.get("orderReference"):
        return None
    lines = [line for line in raw.get("order") or [] if isinstance(line, dict)]
    return ESIMGoLine(
        reference=str(raw["orderReference"]),
        status=str(raw.get("status") or ""),
        total=_decimal(raw.get("total")),
        currency=str(raw.get("currency") or "").upper(),
        created_at=parse_provider_time(raw.get("createdDate") or raw.get("createdAt")),
        items=tuple(str(line.get("item") or "") for line in lines if line.get("item")),
        iccids=tuple(str(i) for line in lines for i in (line.get("iccids") or [])),
    )


def fetch_esimgo_orders(start: datetime, end: datetime, *, client=None) -> Listing:
    """eSIM Go GET /orders?createdAt=gte:…&createdAt=lte:…, all pages."""
    from integrations.esimgo.client import ESIMGoClient, ESIMGoError

    client = client or ESIMGoClient()
    listing = Listing()
    try:
        for page in range(1, ESIMGO_MAX_PAGES + 1):
            data = client.list_orders(
                created_from=start,
                created_to=end - timedelta(milliseconds=1),
                page=page,
                limit=PAGE_LIMIT,
                include_iccids=True,
            )
            orders = data.get("orders") or []
            listing.lines.extend(line for line in map(_esimgo_line, orders) if line is not None)
            page_count = data.get("pageCount")
            if (page_count is not None and page >= page_count) or (page_count is None and len(orders) < PAGE_LIMIT):
                listing.complete = True
                break
        else:
            listing.error = f"eSIM Go order list longer than {ESIMGO_MAX_PAGES} pages; stopped"
    except ESIMGoError as exc:
        logger.warning("reconciliation: eSIM Go order list failed: %s", exc)
        listing.error = f"eSIM Go order list: {exc}"
    return listing


# --- Findings -------------------------------------------------------------------------------


@dataclass
class Finding:
    fingerprint: str
    kind: str
    day: date
    detail: str
    invoice_id: object = None
    order_id: int | None = None
    qpay_payment_id: str = ""
    qpay_invoice_id: str = ""
    esimgo_order_reference: str = ""
    expected_amount: Decimal | None = None
    actual_amount: Decimal | None = None
    currency: str = ""


@dataclass
class Books:
    """Our side, loaded in a few queries."""

    invoices_by_qpay_id: dict
    invoices_paid_in_period: list
    payments_by_id: dict
    payments_in_period: list
    orders_by_reference: dict
    orders_in_period: list
    attempt_orders_by_reference: dict
    refunded_payment_ids: set
    refunds: list  # [(day, amount_mnt)]


def _refund_records(start, end, payment_ids):
    """Refunds recorded in our books: (set of QPay payment ids refunded, [(day, amount)])."""
    from payments.models import Refund

    done = Refund.objects.filter(status=Refund.Status.SUCCEEDED)
    refunded_ids = set(
        done.filter(payment__qpay_payment_id__in=payment_ids).values_list("payment__qpay_payment_id", flat=True)
    )
    in_period = done.filter(completed_at__gte=start, completed_at__lt=end).values_list("completed_at", "amount_mnt")
    return refunded_ids, [(local_day(when), Decimal(amount)) for when, amount in in_period]


def load_books(start: datetime, end: datetime, qpay: Listing, esimgo: Listing) -> Books:
    from orders.models import Order, ProvisioningAttempt
    from payments.models import Invoice, Payment, RemainderInvoice

    wide_start, wide_end = start - MATCH_MARGIN, end + MATCH_MARGIN
    qpay_invoice_ids = {line.qpay_invoice_id for line in qpay.lines if line.qpay_invoice_id}
    qpay_payment_ids = {line.payment_id for line in qpay.lines}
    references = {line.reference for line in esimgo.lines}

    # A short payment's remainder is a second QPay invoice of the same purchase (payments.remainder).
    remainder_of = dict(
        RemainderInvoice.objects.filter(qpay_invoice_id__in=qpay_invoice_ids).values_list(
            "qpay_invoice_id", "invoice_id"
        )
    )
    invoices = list(
        Invoice.objects.filter(
            Q(qpay_invoice_id__in=qpay_invoice_ids)
            | Q(pk__in=set(remainder_of.values()))
            | Q(paid_at__gte=wide_start, paid_at__lt=wide_end)
        ).select_related("order")
    )
    by_pk = {invoice.pk: invoice for invoice in invoices}
    invoice_ids = [invoice.pk for invoice in invoices]
    payments = list(
        Payment.objects.filter(
            Q(qpay_payment_id__in=qpay_payment_ids)
            | Q(invoice_id__in=invoice_ids)
            | Q(paid_at__gte=start, paid_at__lt=end)
            | Q(paid_at__isnull=True, first_seen_at__gte=start, first_seen_at__lt=end)
        ).select_related("invoice")
    )
    orders = list(
        Order.objects.filter(
            Q(esimgo_order_reference__in=references)
            | Q(invoice_id__in=invoice_ids)
            | Q(created_at__gte=start, created_at__lt=end)
        ).select_related("invoice")
    )
    attempts = ProvisioningAttempt.objects.filter(esimgo_order_reference__in=references).values_list(
        "esimgo_order_reference", "order_id"
    )
    refunded_ids, refunds = _refund_records(start, end, qpay_payment_ids | {p.qpay_payment_id for p in payments})

    def in_period(moment):
        return moment is not None and start <= moment < end

    return Books(
        invoices_by_qpay_id={
            **{i.qpay_invoice_id: i for i in invoices if i.qpay_invoice_id},
            **{qpay_id: by_pk[pk] for qpay_id, pk in remainder_of.items() if pk in by_pk},
        },
        invoices_paid_in_period=[i for i in invoices if i.status == Invoice.Status.PAID and in_period(i.paid_at)],
        payments_by_id={p.qpay_payment_id: p for p in payments},
        payments_in_period=[p for p in payments if in_period(p.paid_at or p.first_seen_at)],
        orders_by_reference={o.esimgo_order_reference: o for o in orders if o.esimgo_order_reference},
        orders_in_period=[o for o in orders if in_period(o.created_at)],
        attempt_orders_by_reference=dict(attempts),
        refunded_payment_ids=refunded_ids,
        refunds=refunds,
    )


def _mnt(value: Decimal) -> str:
    return f"{value.quantize(Decimal('1'), rounding=ROUND_HALF_UP):,}₮"


def compare(
    start: datetime,
    end: datetime,
    qpay: Listing,
    esimgo: Listing,
    books: Books,
    *,
    now=None,
    qpay_payment_exists=None,
    esimgo_order_exists=None,
) -> list[Finding]:
    """All mismatches between the two listings and our books.

    `qpay_payment_exists(payment_id)` / `esimgo_order_exists(reference)` look one item up at the
    provider (True/False, None when unsure) before we claim the provider lacks it: our dates
    (first seen, order created) can fall outside the listing window when things ran late.
    """
    from orders.models import Order

    now = now or timezone.now()
    qpay_payment_exists = qpay_payment_exists or (lambda payment_id: False)
    esimgo_order_exists = esimgo_order_exists or (lambda reference: False)
    findings: dict[str, Finding] = {}

    def add(finding: Finding):
        findings.setdefault(finding.fingerprint, finding)

    # Per purchase, not per QPay invoice: a remainder invoice's payments count for its purchase.
    def purchase_key(line):
        invoice = books.invoices_by_qpay_id.get(line.qpay_invoice_id)
        return invoice.pk if invoice is not None else line.qpay_invoice_id

    paid_at_qpay_by_invoice: dict = defaultdict(Decimal)
    for line in qpay.lines:
        if line.status in MONEY_IN_STATUSES:
            paid_at_qpay_by_invoice[purchase_key(line)] += line.amount

    # QPay's side: every payment that brought money in.
    for line in qpay.lines:
        if line.status not in MONEY_IN_STATUSES or line.paid_at is None:
            continue
        day = local_day(line.paid_at)
        invoice = books.invoices_by_qpay_id.get(line.qpay_invoice_id)
        ours = books.payments_by_id.get(line.payment_id)
        common = {"qpay_payment_id": line.payment_id, "qpay_invoice_id": line.qpay_invoice_id, "currency": "MNT"}
        if invoice is None:
            add(
                Finding(
                    f"qpay-unknown-invoice:{line.payment_id}",
                    Kind.QPAY_PAID_NOT_IN_BOOKS,
                    day,
                    f"QPay payment {line.payment_id} ({_mnt(line.amount)}, {line.paid_by or '?'}) is for QPay "
                    f"invoice {line.qpay_invoice_id or '?'}, which we have no record of",
                    actual_amount=line.amount,
                    **common,
                )
            )
            continue
        common["invoice_id"] = invoice.pk
        order = getattr(invoice, "order", None) if _has_order(invoice) else None
        common["order_id"] = order.pk if order else None
        if line.status == "PAID" and invoice.status != "PAID":
            flagged = " (flagged for staff)" if invoice.needs_staff_attention else ""
            add(
                Finding(
                    f"qpay-unbooked:{line.payment_id}",
                    Kind.QPAY_PAID_NOT_IN_BOOKS,
                    day,
                    f"QPay shows {_mnt(line.amount)} paid on invoice {invoice.sender_invoice_no}, which is "
                    f"{invoice.status} here{flagged}",
                    actual_amount=line.amount,
                    **common,
                )
            )
        elif line.status == "PAID" and ours is None:
            add(
                Finding(
                    f"qpay-unrecorded:{line.payment_id}",
                    Kind.QPAY_PAID_NOT_IN_BOOKS,
                    day,
                    f"QPay payment {line.payment_id} ({_mnt(line.amount)}) on invoice {invoice.sender_invoice_no} "
                    f"is not recorded here (a second payment?)",
                    actual_amount=line.amount,
                    **common,
                )
            )
        if ours is not None and ours.amount != line.amount:
            add(
                Finding(
                    f"amount-payment:{line.payment_id}",
                    Kind.AMOUNT_DIFFERENCE,
                    day,
                    f"payment {line.payment_id}: QPay says {_mnt(line.amount)}, our record says {_mnt(ours.amount)}",
                    expected_amount=ours.amount,
                    actual_amount=line.amount,
                    **common,
                )
            )
        refunded_here = (
            line.payment_id in books.refunded_payment_ids
            or (ours is not None and ours.status == "REFUNDED")
            or (order is not None and order.status == Order.Status.REFUNDED)
        )
        if line.status == "REFUNDED" and not refunded_here:
            add(
                Finding(
                    f"refund-at-qpay:{line.payment_id}",
                    Kind.REFUND_NOT_REFLECTED,
                    day,
                    f"QPay shows payment {line.payment_id} ({_mnt(line.amount)}) as REFUNDED; our books do not",
                    actual_amount=line.amount,
                    **common,
                )
            )
        if line.status == "PAID" and line.payment_id in books.refunded_payment_ids and line.paid_by.upper() == "CARD":
            add(
                Finding(
                    f"refund-not-at-qpay:{line.payment_id}",
                    Kind.REFUND_NOT_REFLECTED,
                    day,
                    f"card payment {line.payment_id} is refunded in our books but QPay still shows it PAID",
                    actual_amount=line.amount,
                    **common,
                )
            )
        if invoice.status == "PAID" and qpay.complete:
            at_qpay = paid_at_qpay_by_invoice[purchase_key(line)]
            due = Decimal(invoice.amount_mnt)
            if abs(at_qpay - due) > AMOUNT_TOLERANCE_MNT:
                add(
                    Finding(
                        f"amount-invoice:{invoice.pk}",
                        Kind.AMOUNT_DIFFERENCE,
                        day,
                        f"invoice {invoice.sender_invoice_no} is for {_mnt(due)} but QPay received {_mnt(at_qpay)}",
                        expected_amount=due,
                        actual_amount=at_qpay,
                        **common,
                    )
                )

    # Our side: payments we booked as paid that QPay does not list.
    if qpay.complete:
        at_qpay = {line.payment_id for line in qpay.lines}
        for payment in books.payments_in_period:
            if payment.status != "PAID" or payment.qpay_payment_id in at_qpay:
                continue
            if qpay_payment_exists(payment.qpay_payment_id) is not False:
                continue
            when = payment.paid_at or payment.first_seen_at
            add(
                Finding(
                    f"booked-not-at-qpay:{payment.qpay_payment_id}",
                    Kind.BOOKED_NOT_AT_QPAY,
                    local_day(when),
                    f"payment {payment.qpay_payment_id} ({_mnt(payment.amount)}) on invoice "
                    f"{payment.invoice.sender_invoice_no} is PAID here but not in QPay's list",
                    invoice_id=payment.invoice_id,
                    qpay_payment_id=payment.qpay_payment_id,
                    qpay_invoice_id=payment.invoice.qpay_invoice_id or "",
                    expected_amount=payment.amount,
                    currency="MNT",
                )
            )

    # Paid but no eSIM.
    for invoice in books.invoices_paid_in_period:
        day = local_day(invoice.paid_at)
        order = invoice.order if _has_order(invoice) else None
        common = {"invoice_id": invoice.pk, "qpay_invoice_id": invoice.qpay_invoice_id or ""}
        if order is None:
            if now - invoice.paid_at > PROVISIONING_GRACE:
                add(
                    Finding(
                        f"no-esim:{invoice.pk}",
                        Kind.PAID_NO_ESIM,
                        day,
                        f"invoice {invoice.sender_invoice_no} is paid but has no order",
                        **common,
                    )
                )
            continue
        common["order_id"] = order.pk
        stuck = (
            order.status in (Order.Status.PAID, Order.Status.PROVISIONING)
            and now - invoice.paid_at > PROVISIONING_GRACE
        )
        if order.status == Order.Status.NEEDS_ATTENTION or stuck:
            add(
                Finding(
                    f"no-esim:{invoice.pk}",
                    Kind.PAID_NO_ESIM,
                    day,
                    f"invoice {invoice.sender_invoice_no} is paid; its order is {order.status}"
                    + (f": {order.attention_reason[:200]}" if order.attention_reason else ""),
                    **common,
                )
            )

    # eSIM Go's side: every order that cost us money.
    for line in esimgo.lines:
        if line.failed or line.created_at is None or not (start <= line.created_at < end):
            continue
        day = local_day(line.created_at)
        what = (
            f"{', '.join(line.items) or '?'}, {line.total if line.total is not None else '?'} {line.currency}".strip()
        )
        order = books.orders_by_reference.get(line.reference)
        common = {"esimgo_order_reference": line.reference, "currency": line.currency[:3]}
        if order is None:
            attempt_order_id = books.attempt_orders_by_reference.get(line.reference)
            detail = f"eSIM Go order {line.reference} ({what}) matches no paid order here"
            if attempt_order_id:
                detail = f"eSIM Go order {line.reference} ({what}) came from a provisioning attempt of an order that uses another eSIM Go order (surplus purchase)"
            add(
                Finding(
                    f"esimgo-unmatched:{line.reference}",
                    Kind.ESIMGO_ORDER_UNMATCHED,
                    day,
                    detail,
                    order_id=attempt_order_id,
                    actual_amount=line.total,
                    **common,
                )
            )
            continue
        recorded = _decimal((order.esimgo_order or {}).get("total"))
        if recorded is not None and line.total is not None and recorded != line.total:
            add(
                Finding(
                    f"amount-esimgo:{line.reference}",
                    Kind.AMOUNT_DIFFERENCE,
                    day,
                    f"eSIM Go order {line.reference}: eSIM Go says {line.total} {line.currency}, "
                    f"we recorded {recorded}",
                    order_id=order.pk,
                    invoice_id=order.invoice_id,
                    expected_amount=recorded,
                    actual_amount=line.total,
                    **common,
                )
            )

    # Delivered here, but eSIM Go (complete list) has no such order.
    if esimgo.complete:
        at_esimgo = {line.reference for line in esimgo.lines}
        for order in books.orders_in_period:
            reference = order.esimgo_order_reference
            if reference and reference not in at_esimgo and esimgo_order_exists(reference) is False:
                add(
                    Finding(
                        f"no-esim-at-esimgo:{order.pk}",
                        Kind.PAID_NO_ESIM,
                        local_day(order.created_at),
                        f"order {order.public_id} records eSIM Go order {order.esimgo_order_reference}, "
                        f"which eSIM Go does not list",
                        order_id=order.pk,
                        invoice_id=order.invoice_id,
                        esimgo_order_reference=order.esimgo_order_reference,
                    )
                )

    return sorted(findings.values(), key=lambda f: (f.day, f.kind, f.fingerprint))


def _has_order(invoice) -> bool:
    from django.core.exceptions import ObjectDoesNotExist

    try:
        return invoice.order is not None
    except ObjectDoesNotExist:
        return False


# --- Totals ---------------------------------------------------------------------------------


def _money(value: Decimal | None, places: str = "0.01") -> str | None:
    return None if value is None else str(value.quantize(Decimal(places), rounding=ROUND_HALF_UP))


def day_totals(first: date, last: date, qpay: Listing, esimgo: Listing, books: Books) -> list[dict]:
    """Per Ulaanbaatar day: gross MNT (our books), QPay's gross, refunds, net, eSIM Go cost in
    its currency (USD) and in MNT at QPAY_USD_TO_MNT_RATE, margin; then a TOTAL row."""
    rate = Decimal(str(settings.QPAY_USD_TO_MNT_RATE))
    days = [first + timedelta(days=n) for n in range((last - first).days + 1)]
    rows = {
        d: {
            "gross": Decimal(0),
            "qpay_gross": Decimal(0),
            "refunds": Decimal(0),
            "cost_usd": Decimal(0),
            "cost_other": Decimal(0),
            "orders": 0,
            "payments": 0,
        }
        for d in days
    }
    for payment in books.payments_in_period:
        if payment.status in MONEY_IN_STATUSES:
            row = rows.get(local_day(payment.paid_at or payment.first_seen_at))
            if row is not None:
                row["gross"] += payment.amount
                row["payments"] += 1
    for line in qpay.lines:
        if line.status in MONEY_IN_STATUSES and line.paid_at is not None:
            row = rows.get(local_day(line.paid_at))
            if row is not None:
                row["qpay_gross"] += line.amount
    for day, amount in books.refunds:
        if day in rows:
            rows[day]["refunds"] += amount
    for line in esimgo.lines:
        if line.failed or line.created_at is None or line.total is None:
            continue
        row = rows.get(local_day(line.created_at))
        if row is not None:
            row["cost_usd" if line.currency in ("USD", "") else "cost_other"] += line.total
    for order in books.orders_in_period:
        row = rows.get(local_day(order.created_at))
        if row is not None:
            row["orders"] += 1

    def render(label, row):
        net = row["gross"] - row["refunds"]
        cost_mnt = (row["cost_usd"] * rate).quantize(Decimal("1"), rounding=ROUND_HALF_UP)
        return {
            "day": label,
            "gross_mnt": _money(row["gross"], "1"),
            "qpay_gross_mnt": _money(row["qpay_gross"], "1") if qpay.lines or qpay.complete else None,
            "refunds_mnt": _money(row["refunds"], "1"),
            "net_mnt": _money(net, "1"),
            "esimgo_cost_usd": _money(row["cost_usd"]) if esimgo.lines or esimgo.complete else None,
            "esimgo_cost_mnt": _money(cost_mnt, "1") if esimgo.lines or esimgo.complete else None,
            "esimgo_cost_other_currency": _money(row["cost_other"]) if row["cost_other"] else None,
            "margin_mnt": _money(net - cost_mnt, "1") if esimgo.lines or esimgo.complete else None,
            "orders": row["orders"],
            "payments": row["payments"],
        }

    rendered = [render(d.isoformat(), rows[d]) for d in days]
    total = {
        key: sum((r[key] for r in rows.values()), Decimal(0))
        if key not in ("orders", "payments")
        else sum(r[key] for r in rows.values())
        for key in next(iter(rows.values()))
    }
    rendered.append(render("TOTAL", total))
    return rendered


# At most this many single-item look-ups per run; beyond that we report without confirming.
MAX_LOOKUPS = 50


def _qpay_lookup(client):
    from integrations.qpay.client import QPayClient, QPayError, QPayNotFound

    budget = [MAX_LOOKUPS]

    def exists(payment_id):
        if budget[0] <= 0:
            return False
        budget[0] -= 1
        try:
            row = (client or QPayClient()).get_payment(payment_id)
        except QPayNotFound:
            return False
        except QPayError:
            return None
        return row.status in MONEY_IN_STATUSES

    return exists


def _esimgo_lookup(client):
    from integrations.esimgo.client import ESIMGoClient, ESIMGoError, ESIMGoNotFound

    budget = [MAX_LOOKUPS]

    def exists(reference):
        if budget[0] <= 0:
            return False
        budget[0] -= 1
        try:
            data = (client or ESIMGoClient()).get_order(reference)
        except ESIMGoNotFound:
            return False
        except ESIMGoError as exc:
            # eSIM Go answers 400 for an unknown/invalid reference too.
            return False if getattr(exc, "status", None) == 400 else None
        return bool(data.get("orderReference"))

    return exists


@dataclass
class Result:
    start: datetime
    end: datetime
    qpay: Listing
    esimgo: Listing
    findings: list[Finding]
    days: list[dict]


def collect(first: date, last: date, *, qpay_client=None, esimgo_client=None, now=None) -> Result:
    start, end = day_bounds(first, last)
    qpay = fetch_qpay_payments(start - MATCH_MARGIN, end + MATCH_MARGIN, client=qpay_client)
    esimgo = fetch_esimgo_orders(start - MATCH_MARGIN, end + MATCH_MARGIN, client=esimgo_client)
    books = load_books(start, end, qpay, esimgo)
    in_period_qpay = Listing(
        [line for line in qpay.lines if line.paid_at is None or start <= line.paid_at < end], qpay.complete, qpay.error
    )
    findings = compare(
        start,
        end,
        qpay,
        esimgo,
        books,
        now=now,
        qpay_payment_exists=_qpay_lookup(qpay_client),
        esimgo_order_exists=_esimgo_lookup(esimgo_client),
    )
    # Findings only for days in the period (the margins are for matching only).
    findings = [f for f in findings if first <= f.day <= last]
    days = day_totals(first, last, in_period_qpay, esimgo, books)
    return Result(start, end, qpay, esimgo, findings, days)
