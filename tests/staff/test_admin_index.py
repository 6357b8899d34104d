"""Admin index: the needs-attention queue first, then sales charts whose numbers are the database's."""

import re
from collections import Counter, defaultdict
from datetime import datetime, time, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
import responses
from django.urls import reverse
from django.utils import timezone

from orders.models import Order
from staff import selectors
from staff.models import ReconciliationMismatch, ReconciliationRun
from tests.orders.factories import BundleFactory, DeliveredOrderFactory, InvoiceFactory, OrderFactory
from tests.staff.conftest import ORGANISATION_URL

UB = ZoneInfo("Asia/Ulaanbaatar")


def _today():
    return timezone.localtime(timezone.now(), UB).date()


def _order_on(day, bundle, *, hour=12, amount=None, factory=DeliveredOrderFactory, **kwargs):
    invoice = InvoiceFactory(bundle=bundle, amount_mnt=amount or bundle.price_mnt)
    order = factory(invoice=invoice, **kwargs)
    Order.objects.filter(pk=order.pk).update(created_at=datetime.combine(day, time(hour), UB))
    return order


@pytest.fixture
def sales(db):
    """Orders over the last 30 days, some near midnight, plus some outside the window."""
    japan = BundleFactory(name="esim_1GB_7D_JP_V2", countries=["JP"], computed_price_mnt=19500)
    korea = BundleFactory(name="esim_3GB_15D_KR_V2", countries=["KR"], computed_price_mnt=42000)
    europe = BundleFactory(name="esim_5GB_30D_EU_V2", countries=["FR", "DE", "IT"], computed_price_mnt=88000)
    today = _today()
    _order_on(today, japan, hour=0)
    _order_on(today, korea, hour=23)
    _order_on(today - timedelta(days=1), japan, hour=23)  # 23:xx Ulaanbaatar = 15:xx UTC, same local day
    _order_on(today - timedelta(days=1), japan, hour=1)  # 01:xx Ulaanbaatar = previous day in UTC
    _order_on(today - timedelta(days=3), europe, amount=90000)
    _order_on(today - timedelta(days=29), korea)
    _order_on(
        today - timedelta(days=29),
        japan,
        factory=OrderFactory,
        status=Order.Status.NEEDS_ATTENTION,
        attention_reason="eSIM Go 503",
    )
    _order_on(today - timedelta(days=30), europe)  # outside the 30-day window
    return today


def _bars(html, chart_id):
    svg = re.search(rf'<svg id="{chart_id}".*?</svg>', html, re.S).group(0)
    return {key: int(value) for key, value in re.findall(r'data-key="([^"]+)" data-value="(\d+)"', svg)}


def _expected_from_database(today):
    first = today - timedelta(days=29)
    orders, revenue = Counter(), defaultdict(int)
    for order in Order.objects.select_related("invoice"):
        day = timezone.localtime(order.created_at, UB).date()
        if first <= day <= today:
            orders[day.isoformat()] += 1
            revenue[day.isoformat()] += order.invoice.amount_mnt
    return orders, revenue


def test_chart_numbers_equal_the_database(sales, admin_client, organisation):
    html = admin_client.get(reverse("admin:index")).content.decode()

    orders, revenue = _expected_from_database(sales)
    order_bars, revenue_bars = _bars(html, "orders-chart"), _bars(html, "revenue-chart")
    assert len(order_bars) == len(revenue_bars) == 30
    assert {k: v for k, v in order_bars.items() if v} == dict(orders)
    assert {k: v for k, v in revenue_bars.items() if v} == dict(revenue)
    assert order_bars[sales.isoformat()] == 2 and order_bars[(sales - timedelta(days=1)).isoformat()] == 2
    assert f"{sum(revenue.values()):,}₮" in html
    countries = _bars(html, "countries-chart")
    assert countries == {"JP": 4, "KR": 2, "multi": 1}


def test_top_destinations_count_a_multi_country_bundle_once(sales):
    summary = selectors.sales_summary(today=sales)
    assert [(c.code, c.orders, c.revenue_mnt) for c in summary.countries] == [
        ("JP", 4, 4 * 19500),
        ("KR", 2, 2 * 42000),
        ("", 1, 90000),
    ]
    assert summary.total_orders == 7


def test_needs_attention_comes_first_and_links_to_each_problem(sales, admin_client, organisation):
    stuck = Order.objects.get(status=Order.Status.NEEDS_ATTENTION)
    flagged = InvoiceFactory(
        needs_staff_attention=True, staff_attention_reason="payment of 19500 MNT arrived after the invoice was EXPIRED"
    )
    mismatch = ReconciliationMismatch.objects.create(
        fingerprint="esimgo-unmatched:x",
        kind=ReconciliationMismatch.Kind.ESIMGO_ORDER_UNMATCHED,
        day=sales,
        detail="eSIM Go order x matches no paid order here",
        esimgo_order_reference="x",
    )

    html = admin_client.get(reverse("admin:index")).content.decode()

    queue_at, dashboard_at, apps_at = (
        html.index('id="needs-attention"'),
        html.index('id="sales-dashboard"'),
        html.index('id="content-main"'),
    )
    assert queue_at < dashboard_at < apps_at
    queue = html[queue_at:dashboard_at]
    assert reverse("admin:orders_order_change", args=[stuck.pk]) in queue
    assert "eSIM Go 503" in queue
    assert reverse("admin:payments_invoice_change", args=[flagged.pk]) in queue
    assert mismatch.fix_link()[1] in queue
    # Never reconciled: the queue says so and links to running it.
    assert reverse("admin:staff_reconciliationrun_run") in queue


def test_all_clear(db, admin_client, organisation):
    ReconciliationRun.objects.create(
        period_start=_today(), period_end=_today(), actor="test", status=ReconciliationRun.Status.COMPLETE
    )
    html = admin_client.get(reverse("admin:index")).content.decode()
    assert "staff-all-clear" in html


def test_admin_index_query_count_does_not_grow_with_data(
    sales, admin_client, organisation, django_assert_max_num_queries
):
    for n in range(15):
        InvoiceFactory(needs_staff_attention=True, staff_attention_reason=f"flag {n}")
        ReconciliationMismatch.objects.create(
            fingerprint=f"f{n}", kind=ReconciliationMismatch.Kind.PAID_NO_ESIM, day=sales, detail=f"d{n}"
        )
    bundle = BundleFactory(name="esim_1GB_7D_TH_V2", countries=["TH"])
    for n in range(15):
        _order_on(sales - timedelta(days=n), bundle, factory=OrderFactory, status=Order.Status.NEEDS_ATTENTION)
    admin_client.get(reverse("admin:index"))  # warm the balance cache and content types

    with django_assert_max_num_queries(20) as captured:
        response = admin_client.get(reverse("admin:index"))
    assert response.status_code == 200
    assert "All 16" in response.content.decode()  # 15 + the one from `sales`, beyond the 10 shown
    assert len(captured.captured_queries) <= 20


def test_low_balance_warning_and_cache(db, admin_client, mocked_responses, settings):
    settings.ESIMGO_LOW_BALANCE_THRESHOLD = Decimal("300")
    call = mocked_responses.add(
        responses.GET, ORGANISATION_URL, json={"organisations": [{"balance": "250.50", "currency": "USD"}]}
    )

    first = admin_client.get(reverse("admin:index")).content.decode()
    second = admin_client.get(reverse("admin:index")).content.decode()

    assert "staff-balance-low" in first and "250.50 USD" in first
    assert 'id="queue-esimgo_balance"' in first
    assert call.call_count == 1  # cached between page views
    assert second.count("250.50 USD") >= 1


def test_balance_outage_shows_unavailable_without_breaking_the_page(db, admin_client, mocked_responses):
    mocked_responses.add(responses.GET, ORGANISATION_URL, json={"message": "Service Unavailable"}, status=503)
    response = admin_client.get(reverse("admin:index"))
    assert response.status_code == 200
    assert "staff-balance-low" not in response.content.decode()


def test_with_a_worker_the_page_never_waits_on_esimgo(db, admin_client, mocked_responses, monkeypatch):
    from esimshop.celery import app
    from staff.tasks import refresh_esimgo_balance_task

    queued = []
    monkeypatch.setitem(app.conf, "task_always_eager", False)
    monkeypatch.setattr(app, "send_task", lambda name, *args, **kwargs: queued.append(name))

    response = admin_client.get(reverse("admin:index"))
    admin_client.get(reverse("admin:index"))

    assert response.status_code == 200
    assert queued == [refresh_esimgo_balance_task.name]  # one refresh queued, not one per page view
    assert not mocked_responses.calls


def test_support_staff_without_permissions_still_see_the_queue(sales, client, django_user_model, organisation):
    user = django_user_model.objects.create_user("support1", password="x", is_staff=True)
    client.force_login(user)
    html = client.get(reverse("admin:index")).content.decode()
    assert 'id="needs-attention"' in html
    # The dashboard's reconciliation button is for those who may run it.
    assert f'href="{reverse("admin:staff_reconciliationrun_changelist")}"' not in html
