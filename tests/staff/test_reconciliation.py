"""Reconciliation on a prepared day with one of every mismatch kind (QPay and eSIM Go mocked)."""

import base64
import csv
import io
import json
from datetime import date
from decimal import Decimal

import pytest
import responses
from django.core.management import call_command
from django.urls import reverse

from payments.models import Invoice, Payment
from staff.exports import _cell, reconciliation_csv
from staff.models import ReconciliationMismatch, ReconciliationRun, StaffAction
from staff.reconciliation import day_bounds, fetch_qpay_payments
from staff.services import RUN_LOCK_KEY, ReconciliationBusy, resolve_mismatch, run_reconciliation
from tests.orders.factories import BundleFactory
from tests.payments.qpay_mocks import add_token
from tests.staff.conftest import QPAY_PAYMENT_LIST
from tests.staff.reconciliation_data import DAY, at, build_world, mock_providers, qpay_row

Kind = ReconciliationMismatch.Kind


@pytest.fixture
def bundle(db):
    return BundleFactory(name="esim_1GB_7D_JP_V2", countries=["JP"], computed_price_mnt=19500)


@pytest.fixture
def world(bundle, mocked_responses, qpay_token):
    world = build_world(bundle)
    mock_providers(mocked_responses, world)
    return world


def _by_fingerprint(run):
    return {m.fingerprint: m for m in run.mismatches.all()}


def test_every_kind_of_mismatch_is_flagged_once_with_a_link_to_fix_it(world):
    run = run_reconciliation(DAY, actor="test")

    assert run.status == ReconciliationRun.Status.COMPLETE
    found = _by_fingerprint(run)
    c = world.cases
    expected = {
        "qpay-unbooked:100000000000002": (Kind.QPAY_PAID_NOT_IN_BOOKS, c["unbooked"].pk, None),
        "qpay-unknown-invoice:100000000000003": (Kind.QPAY_PAID_NOT_IN_BOOKS, None, None),
        f"no-esim:{c['no_esim'].invoice_id}": (Kind.PAID_NO_ESIM, c["no_esim"].invoice_id, c["no_esim"].pk),
        "esimgo-unmatched:0c4a1f3e-0000-4000-8000-00000000dead": (Kind.ESIMGO_ORDER_UNMATCHED, None, None),
        "amount-payment:100000000000006": (Kind.AMOUNT_DIFFERENCE, c["amount"].pk, c["amount"].order.pk),
        f"amount-invoice:{c['amount'].pk}": (Kind.AMOUNT_DIFFERENCE, c["amount"].pk, c["amount"].order.pk),
        "refund-at-qpay:a3f1c2d4-0000-4000-8000-000000000007": (
            Kind.REFUND_NOT_REFLECTED,
            c["refund"].pk,
            c["refund"].order.pk,
        ),
        "booked-not-at-qpay:100000000000008": (Kind.BOOKED_NOT_AT_QPAY, c["phantom"].pk, None),
        f"no-esim-at-esimgo:{c['ghost'].pk}": (Kind.PAID_NO_ESIM, c["ghost"].invoice_id, c["ghost"].pk),
    }
    assert set(found) == set(expected)
    for fingerprint, (kind, invoice_id, order_id) in expected.items():
        mismatch = found[fingerprint]
        assert (mismatch.kind, mismatch.invoice_id, mismatch.order_id) == (kind, invoice_id, order_id), fingerprint
        assert mismatch.day == DAY
        label, url = mismatch.fix_link()
        assert url.startswith("/admin/")
    assert found[f"amount-invoice:{c['amount'].pk}"].expected_amount == Decimal(19500)
    assert found[f"amount-invoice:{c['amount'].pk}"].actual_amount == Decimal(19000)
    assert found["qpay-unbooked:100000000000002"].fix_link()[1] == reverse(
        "admin:payments_invoice_change", args=[c["unbooked"].pk]
    )
    assert run.mismatch_count == 9
    assert run.qpay_payment_count == 7  # the row of 2026-01-13 is outside the day
    assert run.esimgo_order_count == 5


def test_day_totals_gross_refunds_net_cost_and_margin(world):
    run = run_reconciliation(DAY, actor="test")

    day, total = run.days
    assert day["day"] == "2026-01-15" and total["day"] == "TOTAL"
    # Our books: 6 recorded payments of 19,500₮ (good, stuck, short, refunded, phantom, ghost).
    assert day["gross_mnt"] == str(6 * 19500)
    # QPay: good, late, unknown, stuck, short (19,000), refunded, ghost.
    assert day["qpay_gross_mnt"] == str(6 * 19500 + 19000)
    assert day["refunds_mnt"] == "0" and day["net_mnt"] == str(6 * 19500)
    # eSIM Go: five orders of 4.50 USD at 3450₮.
    assert day["esimgo_cost_usd"] == "22.50"
    assert day["esimgo_cost_mnt"] == str(int(Decimal("22.50") * 3450))
    assert day["margin_mnt"] == str(6 * 19500 - 77625)
    assert day["orders"] == 6
    assert {k: v for k, v in total.items() if k != "day"} == {k: v for k, v in day.items() if k != "day"}


def test_running_twice_keeps_one_row_per_mismatch_and_closes_what_was_fixed(world, mocked_responses):
    first = run_reconciliation(DAY, actor="test")
    # Staff fix case 2: the late payment is accepted and recorded.
    late = world.cases["unbooked"]
    Invoice.objects.filter(pk=late.pk).update(status=Invoice.Status.PAID, paid_at=at(10), needs_staff_attention=False)
    Payment.objects.create(
        invoice=late, qpay_payment_id="100000000000002", status="PAID", amount=Decimal(19500), paid_at=at(10)
    )

    second = run_reconciliation(DAY, actor="test")

    fixed = ReconciliationMismatch.objects.get(fingerprint="qpay-unbooked:100000000000002")
    assert fixed.resolved_by == "reconciliation" and f"#{second.pk}" in fixed.resolution_note
    assert fixed not in second.mismatches.all()
    # The accepted payment has no order yet: now it is "paid but no eSIM" (a new, separate row).
    assert second.mismatches.filter(fingerprint=f"no-esim:{late.pk}", kind=Kind.PAID_NO_ESIM).exists()
    assert second.mismatch_count == 9
    # Everything else is the same rows as before, not copies.
    assert ReconciliationMismatch.objects.count() == 10
    assert set(first.mismatches.exclude(pk=fixed.pk).values_list("pk", flat=True)) < set(
        second.mismatches.values_list("pk", flat=True)
    )


def test_a_provider_outage_gives_a_partial_run_that_closes_nothing(bundle, mocked_responses, qpay_token):
    world = build_world(bundle)
    mock_providers(mocked_responses, world)
    run_reconciliation(DAY, actor="test")
    open_before = ReconciliationMismatch.objects.filter(resolved_at__isnull=True).count()

    mocked_responses.replace(
        responses.POST, QPAY_PAYMENT_LIST, json={"error": "INTERNAL", "message": "down"}, status=500
    )
    run = run_reconciliation(DAY, actor="test")

    assert run.status == ReconciliationRun.Status.PARTIAL
    assert not run.qpay_complete and run.esimgo_complete
    assert "QPay payment list" in run.errors
    assert ReconciliationMismatch.objects.filter(resolved_at__isnull=True).count() == open_before
    kinds = set(run.mismatches.values_list("kind", flat=True))
    assert Kind.BOOKED_NOT_AT_QPAY not in kinds  # needs QPay's full list
    assert Kind.ESIMGO_ORDER_UNMATCHED in kinds and Kind.PAID_NO_ESIM in kinds
    assert run.days[0]["qpay_gross_mnt"] is None


def test_csv_has_day_rows_flagged_mismatches_and_total(world, settings):
    run = run_reconciliation(DAY, actor="test")

    rows = list(csv.DictReader(io.StringIO(reconciliation_csv(run))))

    assert [r["record"] for r in rows] == ["day"] + ["mismatch"] * 9 + ["total"]
    mismatch_rows = [r for r in rows if r["record"] == "mismatch"]
    unmatched = next(r for r in mismatch_rows if r["kind"] == "ESIMGO_ORDER_UNMATCHED")
    assert unmatched["esimgo_order_reference"] == "0c4a1f3e-0000-4000-8000-00000000dead"
    assert unmatched["status"] == "open"
    assert unmatched["fix_url"].startswith("https://shop.example.mn/admin/orders/order/?q=")
    assert rows[0]["gross_mnt"] == str(6 * 19500) and rows[-1]["margin_mnt"] == rows[0]["margin_mnt"]


def test_csv_cells_cannot_become_spreadsheet_formulas():
    assert _cell('=HYPERLINK("x")') == '\'=HYPERLINK("x")'
    assert _cell("@SUM(A1)") == "'@SUM(A1)"
    assert _cell("-1500") == "-1500"
    assert _cell(None) == ""


def test_reconcile_command_writes_the_csv(world, tmp_path):
    target = tmp_path / "recon.csv"
    out = io.StringIO()

    call_command("reconcile", "--date", "2026-01-15", "--csv", str(target), stdout=out)

    text = target.read_text(encoding="utf-8")
    assert "qpay-unknown" not in text  # fingerprints are internal; kinds and details are in the file
    assert "QPAY_PAID_NOT_IN_BOOKS" in text and "REFUND_NOT_REFLECTED" in text
    assert "9 mismatches" in out.getvalue()
    assert ReconciliationRun.objects.get().actor == "command"


def test_reconcile_command_refuses_a_bad_date(db):
    from django.core.management.base import CommandError

    with pytest.raises(CommandError):
        call_command("reconcile", "--date", "15/01/2026")
    with pytest.raises(CommandError):
        call_command("reconcile", "--date", "2026-01-15", "--to", "2026-01-14")


def test_one_run_at_a_time(db):
    from django.core.cache import cache

    cache.add(RUN_LOCK_KEY, "someone", 60)
    with pytest.raises(ReconciliationBusy):
        run_reconciliation(DAY, actor="test")


def _serve_pages(mocked_responses, pages, count):
    """QPay's payment list answering page_number N with pages[N-1]; records the bodies sent."""
    sent = []

    def answer(request):
        body = json.loads(request.body)
        sent.append(body)
        number = body["offset"]["page_number"]
        rows = pages[number - 1] if number <= len(pages) else []
        return 200, {}, json.dumps({"count": count, "rows": rows})

    mocked_responses.add_callback(responses.POST, QPAY_PAYMENT_LIST, callback=answer)
    return sent


@pytest.mark.parametrize("order", ["oldest first", "newest first"])
def test_qpay_listing_reads_every_page_whatever_the_order(db, mocked_responses, qpay_token, order):
    # QPay documents no order for its payment list; a page older than the period proves nothing.
    start, end = day_bounds(DAY, DAY)
    older = [qpay_row(f"3{n:014d}", "inv", 1000, at(20, day=date(2026, 1, 10))) for n in range(100)]
    inside = [qpay_row(f"2{n:014d}", "inv", 1000, at(20)) for n in range(100)]
    last = [qpay_row("100000000000001", "inv", 1000, at(21))]
    pages = (
        [older, inside, last]
        if order == "oldest first"
        else [last + inside[:99], [inside[99]] + older[:99], older[99:]]
    )
    sent = _serve_pages(mocked_responses, pages, count=201)

    listing = fetch_qpay_payments(start, end)

    assert listing.complete and not listing.error
    assert len(listing.lines) == 101
    assert [b["offset"]["page_number"] for b in sent] == [1, 2, 3]
    assert {(b["object_type"], b["object_id"]) for b in sent} == {("MERCHANT", "SHOP_MERCHANT")}


def test_qpay_listing_longer_than_the_page_cap_is_incomplete(db, mocked_responses, qpay_token, monkeypatch):
    monkeypatch.setattr("staff.reconciliation.listings.QPAY_MAX_PAGES", 2)
    start, end = day_bounds(DAY, DAY)
    full = [qpay_row(f"2{n:014d}", "inv", 1000, at(20)) for n in range(100)]
    _serve_pages(mocked_responses, [full, full, full], count=300)

    listing = fetch_qpay_payments(start, end)

    assert not listing.complete and "longer than 2 pages" in listing.error


def test_qpay_listing_never_sends_an_empty_merchant_id(db, mocked_responses, qpay_token, settings):
    settings.QPAY_MERCHANT_ID = ""  # and the (mocked) token is not a JWT carrying merchant_id
    sent = _serve_pages(mocked_responses, [[]], count=0)

    listing = fetch_qpay_payments(*day_bounds(DAY, DAY))

    assert not listing.complete and "QPAY_MERCHANT_ID" in listing.error
    assert sent == []


def test_qpay_merchant_id_comes_from_the_token_when_not_configured(db, mocked_responses, settings):
    settings.QPAY_MERCHANT_ID = ""
    claims = base64.urlsafe_b64encode(json.dumps({"merchant_id": "KKTT"}).encode()).decode().rstrip("=")
    add_token(mocked_responses, access=f"eyJhbGciOiJIUzI1NiJ9.{claims}.c2ln")
    sent = _serve_pages(mocked_responses, [[]], count=0)

    assert fetch_qpay_payments(*day_bounds(DAY, DAY)).complete
    assert sent[0]["object_type"] == "MERCHANT" and sent[0]["object_id"] == "KKTT"


def test_staff_resolve_is_recorded_and_idempotent(world, admin_user):
    run = run_reconciliation(DAY, actor="test")
    mismatch = run.mismatches.get(kind=Kind.ESIMGO_ORDER_UNMATCHED)

    resolve_mismatch(mismatch.pk, user=admin_user, note="test order placed by hand in the eSIM Go portal")
    resolve_mismatch(mismatch.pk, user=admin_user, note="clicked twice")

    mismatch.refresh_from_db()
    assert mismatch.resolved_by == f"staff:{admin_user.username}"
    assert mismatch.resolution_note == "test order placed by hand in the eSIM Go portal"
    actions = StaffAction.objects.filter(action="reconciliation.resolve").order_by("id")
    assert [a.outcome for a in actions] == [StaffAction.Outcome.DONE, StaffAction.Outcome.NOTHING_TO_DO]
    # A later run still sees it, but it stays resolved.
    run_reconciliation(DAY, actor="test")
    mismatch.refresh_from_db()
    assert mismatch.resolved_at is not None


def test_admin_run_page_runs_shows_links_and_downloads_csv(world, admin_client, django_assert_max_num_queries):
    response = admin_client.post(reverse("admin:staff_reconciliationrun_run"), {"first": "2026-01-15", "last": ""})
    run = ReconciliationRun.objects.get()
    assert response.status_code == 302 and response.url == reverse(
        "admin:staff_reconciliationrun_change", args=[run.pk]
    )
    assert StaffAction.objects.filter(action="reconciliation.run", object_id=str(run.pk)).exists()

    with django_assert_max_num_queries(12):
        page = admin_client.get(response.url)
    html = page.content.decode()
    assert html.count('data-kind="') == 9
    assert reverse("admin:orders_order_change", args=[world.cases["no_esim"].pk]) in html
    assert reverse("admin:payments_invoice_change", args=[world.cases["unbooked"].pk]) in html

    download = admin_client.get(reverse("admin:staff_reconciliationrun_csv", args=[run.pk]))
    assert download["Content-Type"].startswith("text/csv")
    assert 'filename="reconciliation-2026-01-15.csv"' in download["Content-Disposition"]
    assert b"ESIMGO_ORDER_UNMATCHED" in download.content


def test_reconciliation_pages_need_permissions(world, client, django_user_model):
    from django.contrib.auth.models import Permission

    user = django_user_model.objects.create_user("helpdesk", password="x", is_staff=True)
    user.user_permissions.add(Permission.objects.get(codename="view_reconciliationrun"))
    client.force_login(user)
    run = run_reconciliation(DAY, actor="test")

    assert client.get(reverse("admin:staff_reconciliationrun_change", args=[run.pk])).status_code == 200
    assert client.get(reverse("admin:staff_reconciliationrun_csv", args=[run.pk])).status_code == 403
    assert client.post(reverse("admin:staff_reconciliationrun_run"), {"first": "2026-01-15"}).status_code == 403
    assert ReconciliationRun.objects.count() == 1


def test_refunds_in_our_books_are_totalled_and_checked_against_qpay(bundle, mocked_responses, qpay_token, admin_user):
    from payments.models import Refund

    world = build_world(bundle)
    # Our books refunded the "good" card... as a card refund through QPay; QPay's list still says PAID.
    good = world.cases["good"]
    payment = good.payments.get()
    Payment.objects.filter(pk=payment.pk).update(payment_type="CARD")
    world.qpay_rows[0]["paid_by"] = "CARD"
    refund = Refund.objects.create(
        invoice=good,
        payment=payment,
        amount_mnt=19500,
        method="QPAY_API",
        status="SUCCEEDED",
        idempotency_key=__import__("uuid").uuid4(),
        requested_by_username="finance",
    )
    Refund.objects.filter(pk=refund.pk).update(completed_at=at(18))
    mock_providers(mocked_responses, world)

    run = run_reconciliation(DAY, actor="test")

    day = run.days[0]
    assert day["refunds_mnt"] == "19500" and day["net_mnt"] == str(6 * 19500 - 19500)
    assert run.mismatches.filter(
        fingerprint="refund-not-at-qpay:100000000000001", kind=Kind.REFUND_NOT_REFLECTED
    ).exists()


def test_a_short_payment_completed_by_its_remainder_invoice_reconciles(bundle, mocked_responses, qpay_token):
    """Issue 13: the rest of a short payment is paid on a second QPay invoice (payments.remainder);
    its payment belongs to the same purchase, and the two together cover the price."""
    from payments.models import RemainderInvoice
    from tests.orders.factories import DeliveredOrderFactory
    from tests.staff.reconciliation_data import World, _order, _paid_invoice, _payment, esimgo_order

    world = World()
    price = bundle.price_mnt
    invoice = _paid_invoice(bundle, at(10, 5))
    remainder = RemainderInvoice.objects.create(
        invoice=invoice,
        amount_mnt=price - 9700,
        sender_invoice_no=f"{invoice.sender_invoice_no}R{price - 9700}",
        qpay_invoice_id="b0b0b0b0-0000-4000-8000-000000000001",
    )
    _payment(invoice, "200000000000001", 9700, at(10))
    _payment(invoice, "200000000000002", price - 9700, at(10, 5))
    reference = "0c4a1f3e-0000-4000-8000-00000000beef"
    _order(DeliveredOrderFactory, invoice, at(10, 6), esimgo_order_reference=reference)
    world.qpay_rows += [
        qpay_row("200000000000001", invoice.qpay_invoice_id, 9700, at(10)),
        qpay_row("200000000000002", remainder.qpay_invoice_id, price - 9700, at(10, 5)),
    ]
    world.esimgo_orders.append(esimgo_order(reference, at(10, 6)))
    mock_providers(mocked_responses, world)
    run = run_reconciliation(DAY, actor="test")
    assert run.status == ReconciliationRun.Status.COMPLETE
    assert list(run.mismatches.values_list("fingerprint", flat=True)) == []
