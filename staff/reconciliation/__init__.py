"""Reconciliation: what QPay received, what eSIM Go sold us and what our books say, side by side.

Reads only. `collect()` runs the stages for a period (plus a margin either side, so a payment at
23:59 matches an eSIM bought at 00:01) and returns the findings and the per-day totals;
staff.services persists them. The stages, one module each:
  listings  QPay's merchant payment list and eSIM Go's order list (the clients' typed answers);
  books     our invoices, payments, orders and refunds for the period;
  findings  every mismatch between the two listings and our books;
  totals    per Ulaanbaatar day (periods: the days QPay and the shop's staff see).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from staff.reconciliation.books import Books, load_books
from staff.reconciliation.findings import Finding, compare
from staff.reconciliation.listings import (
    Listing,
    esimgo_lookup,
    fetch_esimgo_orders,
    fetch_qpay_payments,
    qpay_lookup,
)
from staff.reconciliation.periods import MATCH_MARGIN, day_bounds, local_day, local_tz
from staff.reconciliation.totals import day_totals

__all__ = [
    "Books",
    "Finding",
    "Listing",
    "Result",
    "collect",
    "day_bounds",
    "fetch_esimgo_orders",
    "fetch_qpay_payments",
    "local_day",
    "local_tz",
]


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
        qpay_payment_exists=qpay_lookup(qpay_client),
        esimgo_order_exists=esimgo_lookup(esimgo_client),
    )
    # Findings only for days in the period (the margins are for matching only).
    findings = [f for f in findings if first <= f.day <= last]
    days = day_totals(first, last, in_period_qpay, esimgo, books)
    return Result(start, end, qpay, esimgo, findings, days)
