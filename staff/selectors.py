"""Reads for the admin index: the "needs attention" queue, sales at a glance, eSIM Go balance.

Each function runs a fixed, small number of queries whatever the data (tests pin the count).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import timedelta
from decimal import Decimal

from django.conf import settings
from django.core.cache import cache
from django.db.models import Count, Sum
from django.db.models.functions import TruncDate
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django_countries import countries as country_names

from catalog.balance import BALANCE_CACHE_KEY  # shared with catalog.balance.can_cover
from catalog.models import BundleCountry
from esimshop.celery import app as celery_app
from integrations.esimgo.client import ESIMGoClient, ESIMGoError
from orders.models import Order
from payments.models import EbarimtReceipt, Invoice, Refund
from staff.models import ReconciliationMismatch, ReconciliationRun
from staff.reconciliation import day_bounds, local_day, local_tz

logger = logging.getLogger(__name__)

QUEUE_ITEMS = 10
STUCK_AFTER = timedelta(minutes=15)
RECONCILIATION_STALE_AFTER = timedelta(hours=36)
BALANCE_TTL_SECONDS = 300
BALANCE_ERROR_TTL_SECONDS = 60
# The Celery task that refreshes the cached balance (staff/tasks.py declares it under this name).
REFRESH_BALANCE_TASK = "staff.tasks.refresh_esimgo_balance_task"


# --- Needs attention ------------------------------------------------------------------------


@dataclass
class QueueItem:
    label: str
    detail: str
    url: str
    when: object = None


@dataclass
class QueueSection:
    key: str
    title: str
    count: int
    items: list[QueueItem] = field(default_factory=list)
    more_url: str = ""
    severity: str = "warning"  # warning | error


def _section(key, title, queryset, to_item, more_url, severity="warning") -> QueueSection | None:
    rows = list(queryset[: QUEUE_ITEMS + 1])
    if not rows:
        return None
    count = len(rows) if len(rows) <= QUEUE_ITEMS else queryset.count()
    return QueueSection(key, title, count, [to_item(row) for row in rows[:QUEUE_ITEMS]], more_url, severity)


def needs_attention(*, now=None) -> list[QueueSection]:
    """What staff should look at first, most urgent first. Empty list = all clear."""
    now = now or timezone.now()
    sections = []
    order_url = reverse("admin:orders_order_changelist")
    sections.append(
        _section(
            "orders_needing_attention",
            _("Paid orders that need staff"),
            Order.objects.filter(status=Order.Status.NEEDS_ATTENTION)
            .select_related("customer", "bundle")
            .order_by("updated_at"),
            lambda o: QueueItem(
                f"{o.customer.phone_number} · {o.bundle.name}",
                o.attention_reason[:160],
                reverse("admin:orders_order_change", args=[o.pk]),
                o.updated_at,
            ),
            f"{order_url}?status__exact=NEEDS_ATTENTION",
            "error",
        )
    )
    sections.append(
        _section(
            "stuck_orders",
            _("Paid orders not delivered after 15 minutes"),
            Order.objects.filter(
                status__in=[Order.Status.PAID, Order.Status.PROVISIONING], created_at__lt=now - STUCK_AFTER
            )
            .select_related("customer", "bundle")
            .order_by("created_at"),
            lambda o: QueueItem(
                f"{o.customer.phone_number} · {o.bundle.name}",
                o.get_status_display(),
                reverse("admin:orders_order_change", args=[o.pk]),
                o.created_at,
            ),
            f"{order_url}?status__in=PAID,PROVISIONING",
            "error",
        )
    )
    sections.append(
        _section(
            "flagged_invoices",
            _("Payments flagged for staff (late, short, double or overpaid)"),
            Invoice.objects.filter(needs_staff_attention=True).select_related("customer").order_by("updated_at"),
            lambda i: QueueItem(
                f"{i.customer.phone_number} · {i.amount_mnt:,}₮ · {i.get_status_display()}",
                i.staff_attention_reason,
                reverse("admin:payments_invoice_change", args=[i.pk]),
                i.updated_at,
            ),
            reverse("admin:payments_invoice_changelist") + "?needs_staff_attention__exact=1",
        )
    )
    for extra in _extra_sections(now):
        sections.append(extra)
    sections.append(
        _section(
            "open_mismatches",
            _("Reconciliation mismatches"),
            ReconciliationMismatch.objects.filter(resolved_at__isnull=True).order_by("-day", "kind", "id"),
            lambda m: QueueItem(f"{m.day} · {m.get_kind_display()}", m.detail, m.fix_link()[1], m.last_seen_at),
            reverse("admin:staff_reconciliationmismatch_changelist") + "?open=1",
        )
    )
    latest = ReconciliationRun.objects.exclude(status=ReconciliationRun.Status.RUNNING).order_by("-started_at").first()
    run_url = reverse("admin:staff_reconciliationrun_changelist")
    if latest is None or now - latest.started_at > RECONCILIATION_STALE_AFTER:
        sections.append(
            QueueSection(
                "reconciliation_stale",
                _("Reconciliation has not run in the last 36 hours"),
                1,
                [
                    QueueItem(
                        _("Run it now"),
                        _("The daily run may not be scheduled (Celery beat)."),
                        reverse("admin:staff_reconciliationrun_run"),
                    )
                ],
                run_url,
            )
        )
    elif latest.status != ReconciliationRun.Status.COMPLETE:
        sections.append(
            QueueSection(
                "reconciliation_incomplete",
                _("The last reconciliation was incomplete"),
                1,
                [
                    QueueItem(
                        str(latest),
                        latest.errors[:200],
                        reverse("admin:staff_reconciliationrun_change", args=[latest.pk]),
                        latest.started_at,
                    )
                ],
                run_url,
            )
        )
    balance = esimgo_balance()
    if balance.get("low"):
        sections.append(
            QueueSection(
                "esimgo_balance",
                _("eSIM Go balance is low"),
                1,
                [
                    QueueItem(
                        f"{balance['balance']} {balance['currency']}",
                        _("Below the warning threshold of %(threshold)s. New eSIMs fail when it runs out.")
                        % {"threshold": balance["threshold"]},
                        "",
                    )
                ],
                "",
                "error",
            )
        )
    return [s for s in sections if s is not None]


def _extra_sections(now) -> list:
    """Refunds whose outcome QPay has not confirmed, and e-barimt receipts that keep failing."""
    sections = []
    sections.append(
        _section(
            "refunds",
            _("Refunds that need a person"),
            Refund.objects.filter(status__in=Refund.NEEDS_STAFF_STATUSES)
            .select_related("invoice__customer")
            .order_by("created_at"),
            lambda r: QueueItem(
                f"{r.invoice.customer.phone_number} · {r.amount_mnt:,}₮ · {r.get_status_display()}",
                r.error or r.note,
                reverse("admin:payments_refund_change", args=[r.pk]),
                r.created_at,
            ),
            reverse("admin:payments_refund_changelist"),
            "error",
        )
    )
    sections.append(
        _section(
            "ebarimt",
            _("E-barimt receipts that failed"),
            EbarimtReceipt.objects.filter(status__in=EbarimtReceipt.NEEDS_STAFF_STATUSES)
            .select_related("invoice__customer")
            .order_by("updated_at"),
            lambda r: QueueItem(
                f"{r.invoice.customer.phone_number} · {r.get_status_display()}",
                r.last_error,
                reverse("admin:payments_invoice_change", args=[r.invoice_id]),
                r.updated_at,
            ),
            reverse("admin:payments_ebarimtreceipt_changelist") + "?status__exact=FAILED",
        )
    )
    return sections


# --- eSIM Go balance ------------------------------------------------------------------------


def _fetch_balance() -> dict:
    now = timezone.now()
    try:
        with ESIMGoClient() as client:
            org = client.get_organisation()
    except ESIMGoError as exc:
        logger.warning("eSIM Go balance unavailable: %s", exc)
        return {"balance": None, "currency": "", "error": str(exc)[:200], "fetched_at": now}
    return {"balance": org.balance, "currency": org.currency or "USD", "error": "", "fetched_at": now}


def esimgo_balance(*, refresh: bool = False) -> dict:
    """{balance, currency, threshold, low, error, fetched_at}, cached a few minutes.

    With a Celery worker (production) the admin page never waits on eSIM Go: a miss queues a
    refresh (the beat task keeps the value warm anyway). Without one (dev, tests) it fetches inline.
    """
    info = None if refresh else cache.get(BALANCE_CACHE_KEY)
    if info is None:
        if not refresh and not celery_app.conf.task_always_eager:
            if cache.add(f"{BALANCE_CACHE_KEY}:queued", 1, 60):
                # By name: staff.tasks imports this module, never the other way round.
                celery_app.send_task(REFRESH_BALANCE_TASK)
            info = {"balance": None, "currency": "", "error": _("checking…"), "fetched_at": None}
        else:
            info = _fetch_balance()
            cache.set(BALANCE_CACHE_KEY, info, BALANCE_ERROR_TTL_SECONDS if info["error"] else BALANCE_TTL_SECONDS)
    threshold = Decimal(str(settings.ESIMGO_LOW_BALANCE_THRESHOLD))
    return {**info, "threshold": threshold, "low": info["balance"] is not None and info["balance"] < threshold}


# --- Sales at a glance ----------------------------------------------------------------------


@dataclass
class DayPoint:
    day: object
    orders: int
    revenue_mnt: int


@dataclass
class CountryPoint:
    code: str  # ISO code, or "" for multi-country bundles
    name: str
    orders: int
    revenue_mnt: int


@dataclass
class SalesSummary:
    first_day: object
    last_day: object
    days: list[DayPoint]
    countries: list[CountryPoint]
    total_orders: int
    total_revenue_mnt: int


def sales_summary(*, days: int = 30, today=None, top: int = 8) -> SalesSummary:
    """Orders and revenue (invoice amounts, before refunds) per Ulaanbaatar day for the last
    `days` days, and the top destinations. A bundle for several countries counts once, under
    "multi-country", not once per country."""
    today = today or local_day(timezone.now())
    first = today - timedelta(days=days - 1)
    start, end = day_bounds(first, today)
    window = Order.objects.filter(created_at__gte=start, created_at__lt=end)
    per_day = {
        row["day"]: row
        for row in window.annotate(day=TruncDate("created_at", tzinfo=local_tz()))
        .values("day")
        .annotate(orders=Count("id"), revenue=Sum("invoice__amount_mnt"))
        .order_by()
    }
    points = []
    for n in range(days):
        day = first + timedelta(days=n)
        row = per_day.get(day)
        points.append(DayPoint(day, row["orders"] if row else 0, int(row["revenue"] or 0) if row else 0))

    per_bundle = list(
        window.values("bundle_id").annotate(orders=Count("id"), revenue=Sum("invoice__amount_mnt")).order_by()
    )
    bundle_countries: dict[int, list[str]] = {}
    for bundle_id, iso in BundleCountry.objects.filter(
        bundle_id__in=[row["bundle_id"] for row in per_bundle], kind=BundleCountry.Kind.BASE
    ).values_list("bundle_id", "country_id"):
        bundle_countries.setdefault(bundle_id, []).append(str(iso))
    by_country: dict[str, list[int]] = {}
    for row in per_bundle:
        isos = bundle_countries.get(row["bundle_id"], [])
        code = isos[0] if len(isos) == 1 else ""
        totals = by_country.setdefault(code, [0, 0])
        totals[0] += row["orders"]
        totals[1] += int(row["revenue"] or 0)
    ranked = sorted(by_country.items(), key=lambda item: (-item[1][0], -item[1][1], item[0]))[:top]
    countries = [
        CountryPoint(code, country_names.name(code) if code else _("Multi-country bundles"), orders, revenue)
        for code, (orders, revenue) in ranked
    ]
    return SalesSummary(
        first, today, points, countries, sum(p.orders for p in points), sum(p.revenue_mnt for p in points)
    )
