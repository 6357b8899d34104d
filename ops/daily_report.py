"""The morning report to staff: yesterday (Ulaanbaatar day) in figures, and what needs a person.

Sales are the orders created (= invoices verified paid) that day, at the invoice amount. Cost is
what eSIM Go charged for the orders delivered that day: the order's eSIM Go `total` when stored,
else the bundle's catalogue price; converted at QPAY_USD_TO_MNT_RATE for the margin. Runway is
the eSIM Go balance divided by the average daily eSIM Go cost of the last 7 days.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal

from django.conf import settings
from django.core.mail import EmailMessage
from django.db.models import Count, Sum
from django.urls import reverse
from django.utils import timezone

from ops import readiness
from orders.models import Order
from payments.models import Invoice, Refund
from staff.models import ReconciliationRun
from staff.reconciliation import day_bounds, local_day

RUNWAY_DAYS = 7


@dataclass
class DailyReport:
    day: date
    sales_count: int
    sales_mnt: int
    cost: Decimal  # eSIM Go currency
    cost_mnt: int
    refunds_count: int
    refunds_mnt: int
    margin_mnt: int  # sales - refunds - cost
    payments_pending: int
    needing_attention: int
    reconciliation: str
    balance: Decimal | None
    currency: str
    runway_days: Decimal | None

    def text(self) -> str:
        site = settings.SITE_URL
        balance = "unknown (eSIM Go did not answer)" if self.balance is None else f"{self.balance} {self.currency}"
        runway = "n/a (no eSIM Go spend in the last 7 days)" if self.runway_days is None else f"{self.runway_days} days"
        return (
            "\n".join(
                [
                    f"esimshop daily report for {self.day:%Y-%m-%d} (Ulaanbaatar)",
                    "",
                    f"Sales:              {self.sales_count} order(s), {self.sales_mnt:,} MNT",
                    f"eSIM Go cost:       {self.cost} ({self.cost_mnt:,} MNT)",
                    f"Refunds:            {self.refunds_count}, {self.refunds_mnt:,} MNT",
                    f"Margin:             {self.margin_mnt:,} MNT",
                    f"Payments pending:   {self.payments_pending}",
                    f"Needing attention:  {self.needing_attention}"
                    f"  {site}{reverse('admin:orders_order_changelist')}?status__exact=NEEDS_ATTENTION",
                    f"Reconciliation:     {self.reconciliation}",
                    f"eSIM Go balance:    {balance}, runway {runway}",
                    "",
                    f"Admin: {site}{reverse('admin:index')}",
                ]
            )
            + "\n"
        )


def _cost(order) -> Decimal:
    total = (order.esimgo_order or {}).get("total")
    try:
        return Decimal(str(total)) if total not in (None, "") else Decimal(order.bundle.price)
    except ArithmeticError:
        return Decimal(order.bundle.price)


def _esimgo_cost(start, end) -> Decimal:
    orders = Order.objects.filter(delivered_at__gte=start, delivered_at__lt=end).select_related("bundle")
    return sum((_cost(o) for o in orders.only("esimgo_order", "bundle__price")), Decimal("0"))


def _reconciliation(day) -> str:
    run = (
        ReconciliationRun.objects.filter(period_start__lte=day, period_end__gte=day)
        .exclude(status=ReconciliationRun.Status.RUNNING)
        .order_by("-started_at")
        .first()
    )
    if run is None:
        return "not run for that day"
    return f"{run.status.lower()}, {run.mismatch_count} mismatch(es)"


def build(day: date | None = None, *, balance: tuple | None = None, now=None) -> DailyReport:
    """`balance` = (Decimal | None, currency) to skip the eSIM Go call (tests, dry runs)."""
    now = now or timezone.now()
    day = day or local_day(now) - timedelta(days=1)
    start, end = day_bounds(day, day)
    sales = Order.objects.filter(created_at__gte=start, created_at__lt=end).aggregate(
        n=Count("id"), mnt=Sum("invoice__amount_mnt")
    )
    refunds = Refund.objects.filter(
        status=Refund.Status.SUCCEEDED, created_at__gte=start, created_at__lt=end
    ).aggregate(n=Count("id"), mnt=Sum("amount_mnt"))
    rate = Decimal(settings.QPAY_USD_TO_MNT_RATE)
    cost = _esimgo_cost(start, end)
    cost_mnt = int((cost * rate).quantize(Decimal("1"), ROUND_HALF_UP))
    sales_mnt, refunds_mnt = int(sales["mnt"] or 0), int(refunds["mnt"] or 0)
    if balance is None:
        try:
            org = readiness.esimgo_organisation()
            balance = (org.balance, org.currency)
        except readiness.CheckFailed:
            balance = (None, "")
    week_start, _ = day_bounds(day - timedelta(days=RUNWAY_DAYS - 1), day)
    daily = _esimgo_cost(week_start, end) / RUNWAY_DAYS
    runway = None if balance[0] is None or daily <= 0 else (balance[0] / daily).quantize(Decimal("0.1"))
    return DailyReport(
        day=day,
        sales_count=sales["n"],
        sales_mnt=sales_mnt,
        cost=cost,
        cost_mnt=cost_mnt,
        refunds_count=refunds["n"],
        refunds_mnt=refunds_mnt,
        margin_mnt=sales_mnt - refunds_mnt - cost_mnt,
        payments_pending=Invoice.objects.filter(status=Invoice.Status.PENDING, expires_at__gt=now).count(),
        needing_attention=Order.objects.filter(status=Order.Status.NEEDS_ATTENTION).count(),
        reconciliation=_reconciliation(day),
        balance=balance[0],
        currency=balance[1],
        runway_days=runway,
    )


def send(day: date | None = None) -> DailyReport:
    report = build(day)
    recipients = [a for a in settings.STAFF_ALERT_EMAILS if a]
    if recipients:
        EmailMessage(
            f"[esimshop] daily report {report.day:%Y-%m-%d}: {report.sales_count} sale(s), {report.sales_mnt:,} MNT",
            report.text(),
            settings.DEFAULT_FROM_EMAIL,
            recipients,
        ).send()
    return report
