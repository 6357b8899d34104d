"""Reconciliation CSV: one header, day rows (totals) then mismatch rows, then the TOTAL row."""

import csv
import io

from django.conf import settings

COLUMNS = [
    "record",
    "day",
    "kind",
    "status",
    "gross_mnt",
    "qpay_gross_mnt",
    "refunds_mnt",
    "net_mnt",
    "esimgo_cost_usd",
    "esimgo_cost_mnt",
    "margin_mnt",
    "orders",
    "payments",
    "detail",
    "qpay_payment_id",
    "qpay_invoice_id",
    "invoice_id",
    "order_id",
    "esimgo_order_reference",
    "expected_amount",
    "actual_amount",
    "currency",
    "fix_url",
]

# A spreadsheet runs a cell that starts with one of these as a formula; provider text goes in
# the CSV, so neutralise it (OWASP "CSV injection").
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _cell(value):
    if value is None:
        return ""
    text = str(value)
    if text.startswith(_FORMULA_START) and not _is_number(text):
        return "'" + text
    return text


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def reconciliation_csv(run) -> str:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=COLUMNS, extrasaction="ignore")
    writer.writeheader()
    day_rows = [row for row in run.days if row.get("day") != "TOTAL"]
    total_rows = [row for row in run.days if row.get("day") == "TOTAL"]
    for row in day_rows:
        writer.writerow({key: _cell(value) for key, value in {"record": "day", **row}.items()})
    base = settings.SITE_URL
    for mismatch in run.mismatches.all().order_by("day", "kind", "id"):
        _label, url = mismatch.fix_link()
        writer.writerow(
            {
                key: _cell(value)
                for key, value in {
                    "record": "mismatch",
                    "day": mismatch.day.isoformat(),
                    "kind": mismatch.kind,
                    "status": "resolved" if mismatch.resolved_at else "open",
                    "detail": mismatch.detail,
                    "qpay_payment_id": mismatch.qpay_payment_id,
                    "qpay_invoice_id": mismatch.qpay_invoice_id,
                    "invoice_id": mismatch.invoice_id or "",
                    "order_id": mismatch.order_id or "",
                    "esimgo_order_reference": mismatch.esimgo_order_reference,
                    "expected_amount": mismatch.expected_amount,
                    "actual_amount": mismatch.actual_amount,
                    "currency": mismatch.currency,
                    "fix_url": f"{base}{url}",
                }.items()
            }
        )
    for row in total_rows:
        writer.writerow({key: _cell(value) for key, value in {"record": "total", **row}.items()})
    return buffer.getvalue()
