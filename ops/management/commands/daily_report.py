from datetime import date

from django.core.management.base import BaseCommand, CommandError

from ops import daily_report


class Command(BaseCommand):
    help = "Print the daily staff report (yesterday, Ulaanbaatar time); --send also e-mails it."

    def add_arguments(self, parser):
        parser.add_argument("--date", help="YYYY-MM-DD (default: yesterday)")
        parser.add_argument("--send", action="store_true", help="e-mail it to STAFF_ALERT_EMAILS as well")

    def handle(self, *args, date=None, send=False, **options):
        day = None
        if date:
            try:
                day = _parse(date)
            except ValueError as exc:
                raise CommandError(f"--date must be YYYY-MM-DD: {exc}") from exc
        report = daily_report.send(day) if send else daily_report.build(day)
        self.stdout.write(report.text())


def _parse(value: str) -> date:
    return date.fromisoformat(value)
