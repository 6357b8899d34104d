"""Reconciliation, stage 4: per-day totals (gross, QPay's gross, refunds, net, eSIM Go cost, margin)."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal

from django.conf import settings

from staff.reconciliation.books import Books
from staff.reconciliation.listings import MONEY_IN_STATUSES, Listing
from staff.reconciliation.periods import local_day


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
