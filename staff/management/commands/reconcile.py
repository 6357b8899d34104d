"""manage.py reconcile --date YYYY-MM-DD [--to YYYY-MM-DD] [--csv PATH|-]"""

from datetime import date

from django.core.management.base import BaseCommand, CommandError

from staff.exports import reconciliation_csv
from staff.services import ReconciliationError, run_reconciliation, yesterday


def _day(value: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise CommandError(f"not a date (YYYY-MM-DD): {value!r}") from None


class Command(BaseCommand):
    help = (
        "Reconcile QPay payments, eSIM Go orders and our books for Ulaanbaatar days "
        "--date..--to (default: yesterday), store the result and optionally write a CSV."
    )

    def add_arguments(self, parser):
        parser.add_argument("--date", dest="first", help="first day, YYYY-MM-DD (default: yesterday)")
        parser.add_argument("--to", dest="last", help="last day, inclusive (default: --date)")
        parser.add_argument("--csv", dest="csv_path", help="write the CSV here ('-' for standard output)")

    def handle(self, *args, first=None, last=None, csv_path=None, **options):
        first_day = _day(first) if first else yesterday()
        last_day = _day(last) if last else first_day
        try:
            run = run_reconciliation(first_day, last_day, actor="command")
        except ReconciliationError as exc:
            raise CommandError(str(exc)) from exc
        if csv_path:
            content = reconciliation_csv(run)
            if csv_path == "-":
                self.stdout.write(content, ending="")
                return
            with open(csv_path, "w", encoding="utf-8", newline="") as handle:
                handle.write(content)
        out = self.stderr if csv_path == "-" else self.stdout
        out.write(
            f"reconciliation #{run.pk} {run}: {run.qpay_payment_count} QPay payments, "
            f"{run.esimgo_order_count} eSIM Go orders, {run.mismatch_count} mismatches"
        )
        if run.errors:
            out.write(self.style.WARNING(run.errors))
        for row in run.days:
            out.write(
                f"  {row['day']:>10}  gross {row['gross_mnt']}₮  refunds {row['refunds_mnt']}₮  net {row['net_mnt']}₮  "
                f"eSIM Go {row['esimgo_cost_usd']} USD = {row['esimgo_cost_mnt']}₮  margin {row['margin_mnt']}₮  "
                f"orders {row['orders']}"
            )
        for mismatch in run.mismatches.all().order_by("day", "kind"):
            out.write(f"  ! {mismatch.day} {mismatch.kind}: {mismatch.detail}")
        if csv_path and csv_path != "-":
            out.write(f"CSV written to {csv_path}")
