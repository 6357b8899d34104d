"""Reconciliation, stage 1: what the providers say. QPay's merchant payment list and eSIM Go's
order list for a period, as the clients' typed answers (integrations.qpay.answers.PaymentRow,
integrations.esimgo.answers.ESIMGoOrder), and single look-ups before claiming a provider lacks
something.

QPay's list endpoint is paged with no documented date filter and no documented order (the sandbox
lists newest first; nobody has recorded QPay's order), so we read every page until the list ends,
keep the rows dated in the period, and say "incomplete" when we had to stop early (page cap, error,
no merchant id). A finding that needs a provider's full list ("booked here but not at QPay") is
only made when that list is complete (docs/providers/qpay.md, Payment list).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from integrations.esimgo.client import ESIMGoClient, ESIMGoError, ESIMGoNotFound
from integrations.qpay.client import QPayClient, QPayError, QPayNotFound

logger = logging.getLogger(__name__)

PAGE_LIMIT = 100
QPAY_MAX_PAGES = 200
ESIMGO_MAX_PAGES = 200
MONEY_IN_STATUSES = ("PAID", "REFUNDED")  # a REFUNDED row still records money that came in
# At most this many single-item look-ups per run; beyond that we report without confirming.
MAX_LOOKUPS = 50


@dataclass
class Listing:
    lines: list = field(default_factory=list)  # PaymentRow (QPay) or ESIMGoOrder (eSIM Go)
    complete: bool = False
    error: str = ""


def fetch_qpay_payments(start: datetime, end: datetime, *, client: QPayClient | None = None) -> Listing:
    """QPay POST /v2/payment/list for the whole merchant, rows dated in [start, end)."""
    client = client or QPayClient()
    listing = Listing()
    try:
        merchant_id = client.merchant_id()
        if not merchant_id:
            listing.error = "QPay payment list: merchant id unknown (set QPAY_MERCHANT_ID)"
            return listing
        for page in range(1, QPAY_MAX_PAGES + 1):
            answer = client.list_payments(
                object_type="MERCHANT",
                object_id=merchant_id,
                page_number=page,
                page_limit=PAGE_LIMIT,
            )
            listing.lines.extend(row for row in answer.rows if row.paid_at is None or start <= row.paid_at < end)
            if len(answer.rows) < PAGE_LIMIT or page * PAGE_LIMIT >= answer.count:
                listing.complete = True  # the list ended: every page was read, whatever its order
                break
        else:
            listing.error = f"QPay payment list longer than {QPAY_MAX_PAGES} pages; stopped"
    except QPayError as exc:
        logger.warning("reconciliation: QPay payment list failed: %s", exc)
        listing.error = f"QPay payment list: {exc}"
    return listing


def fetch_esimgo_orders(start: datetime, end: datetime, *, client: ESIMGoClient | None = None) -> Listing:
    """eSIM Go GET /orders?createdAt=gte:…&createdAt=lte:…, all pages."""
    client = client or ESIMGoClient()
    listing = Listing()
    try:
        for page in range(1, ESIMGO_MAX_PAGES + 1):
            answer = client.list_orders(
                created_from=start,
                created_to=end - timedelta(milliseconds=1),
                page=page,
                limit=PAGE_LIMIT,
                include_iccids=True,
            )
            listing.lines.extend(order for order in answer.orders if order.reference)
            page_count = answer.page_count
            if (page_count is not None and page >= page_count) or (page_count is None and answer.received < PAGE_LIMIT):
                listing.complete = True
                break
        else:
            listing.error = f"eSIM Go order list longer than {ESIMGO_MAX_PAGES} pages; stopped"
    except ESIMGoError as exc:
        logger.warning("reconciliation: eSIM Go order list failed: %s", exc)
        listing.error = f"eSIM Go order list: {exc}"
    return listing


def qpay_lookup(client: QPayClient | None) -> Callable[[str], bool | None]:
    """payment id → does QPay have it as money in (None when QPay could not say)."""
    budget = [MAX_LOOKUPS]

    def exists(payment_id: str) -> bool | None:
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


def esimgo_lookup(client: ESIMGoClient | None) -> Callable[[str], bool | None]:
    """order reference → does eSIM Go have it (None when eSIM Go could not say)."""
    budget = [MAX_LOOKUPS]

    def exists(reference: str) -> bool | None:
        if budget[0] <= 0:
            return False
        budget[0] -= 1
        try:
            order = (client or ESIMGoClient()).get_order(reference)
        except ESIMGoNotFound:
            return False
        except ESIMGoError as exc:
            # eSIM Go answers 400 for an unknown/invalid reference too.
            return False if exc.status == 400 else None
        return bool(order.reference)

    return exists
