"""The morning report's figures on a known data set (Ulaanbaatar day 2026-11-30)."""

import uuid
from datetime import date, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from django.core import mail
from django.core.management import call_command
from django.utils import timezone

from ops import daily_report
from orders.models import Order
from payments.models import Invoice, Payment, Refund
from staff.models import ReconciliationRun
from tests.catalog.factories import BundleFactory
from tests.orders.factories import DeliveredOrderFactory, InvoiceFactory, OrderFactory

pytestmark = pytest.mark.django_db
UB = ZoneInfo("Asia/Ulaanbaatar")
DAY = date(2026, 11, 30)


def at(day, hour):
    return datetime(day.year, day.month, day.day, hour, tzinfo=UB)


def dated(order, created, delivered=None):
    Order.objects.filter(pk=order.pk).update(created_at=created, delivered_at=delivered)
    return order


@pytest.fixture
def known_day(settings):
    settings.QPAY_USD_TO_MNT_RATE = Decimal("3450")
    small = BundleFactory(name="esim_1GB_7D_MN_V2", price=Decimal("4.5"), computed_price_mnt=19500)
    big = BundleFactory(name="esim_5GB_30D_MN_V2", price=Decimal("10"), computed_price_mnt=45000)
    # That day: three sales (19,500 + 45,000 + 19,500 = 84,000 MNT), two delivered.
    dated(DeliveredOrderFactory(invoice__bundle=small, esimgo_order={"total": "4.5"}), at(DAY, 10), at(DAY, 10))
    dated(DeliveredOrderFactory(invoice__bundle=big, esimgo_order={}), at(DAY, 12), at(DAY, 12))
    refunded = dated(OrderFactory(invoice__bundle=small, status=Order.Status.NEEDS_ATTENTION), at(DAY, 23))
    payment = Payment.objects.create(
        invoice=refunded.invoice, qpay_payment_id="pay-1", status="PAID", amount=Decimal("19500")
    )
    refund = Refund.objects.create(
        invoice=refunded.invoice,
        payment=payment,
        amount_mnt=19500,
        method=Refund.Method.QPAY_API,
        status=Refund.Status.SUCCEEDED,
        idempotency_key=uuid.uuid4(),
        requested_by_username="finance",
    )
    Refund.objects.filter(pk=refund.pk).update(created_at=at(DAY, 23))
    # The day before (not in the day's sales; in the 7-day runway).
    dated(
        DeliveredOrderFactory(invoice__bundle=small, esimgo_order={"total": "4.5"}),
        at(DAY - timedelta(days=1), 9),
        at(DAY - timedelta(days=1), 9),
    )
    # A day outside both.
    dated(DeliveredOrderFactory(invoice__bundle=big), at(DAY - timedelta(days=8), 9), at(DAY - timedelta(days=8), 9))
    InvoiceFactory(bundle=small, status=Invoice.Status.PENDING, paid_at=None)
    ReconciliationRun.objects.create(
        period_start=DAY, period_end=DAY, status=ReconciliationRun.Status.COMPLETE, actor="beat", mismatch_count=2
    )


def test_figures(known_day):
    report = daily_report.build(DAY, balance=(Decimal("100"), "USD"))
    assert (report.sales_count, report.sales_mnt) == (3, 84000)
    assert report.cost == Decimal("14.5") and report.cost_mnt == 50025  # 14.5 USD x 3450
    assert (report.refunds_count, report.refunds_mnt) == (1, 19500)
    assert report.margin_mnt == 84000 - 19500 - 50025
    assert report.payments_pending == 1
    assert report.needing_attention == 1
    assert report.reconciliation == "complete, 2 mismatch(es)"
    # Runway: 100 USD / (19 USD spent over the last 7 days / 7) = 36.8 days.
    assert report.runway_days == Decimal("36.8")
    text = report.text()
    assert "Sales:              3 order(s), 84,000 MNT" in text
    assert "Margin:             14,475 MNT" in text
    assert "eSIM Go balance:    100 USD, runway 36.8 days" in text


def test_empty_day_and_unknown_balance():
    report = daily_report.build(DAY, balance=(None, ""))
    assert (report.sales_count, report.sales_mnt, report.margin_mnt) == (0, 0, 0)
    assert report.reconciliation == "not run for that day"
    assert "unknown (eSIM Go did not answer), runway n/a" in report.text()


def test_command_prints_and_sends(known_day, mocked_responses, capsys):
    from tests.ops.conftest import organisation

    organisation(mocked_responses, balance=100)
    call_command("daily_report", "--date", "2026-11-30", "--send")
    out = capsys.readouterr().out
    assert "esimshop daily report for 2026-11-30" in out and "84,000 MNT" in out
    assert mail.outbox[0].subject == "[esimshop] daily report 2026-11-30: 3 sale(s), 84,000 MNT"
    assert mail.outbox[0].to == ["staff@example.mn"]


def test_default_day_is_yesterday_in_ulaanbaatar():
    now = datetime(2026, 12, 1, 0, 30, tzinfo=UB)  # just after midnight in Ulaanbaatar
    assert daily_report.build(balance=(None, ""), now=now).day == DAY
    assert timezone.is_aware(now)
