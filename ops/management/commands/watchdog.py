"""Every minute from the esimshop-watchdog.timer (deploy/systemd/): evaluate the alert
conditions and notify staff (deduplicated). Runs without Celery on purpose."""

from django.core.management.base import BaseCommand

from ops import alerts, watchdog


class Command(BaseCommand):
    help = "Evaluate alert conditions and e-mail/webhook staff about new, lasting and cleared ones."

    def add_arguments(self, parser):
        parser.add_argument("--dry-run", action="store_true", help="print the conditions, notify nobody")

    def handle(self, *args, dry_run=False, **options):
        conditions = watchdog.conditions()
        if dry_run:
            for condition in conditions:
                self.stdout.write(f"{'ACTIVE' if condition.active else 'ok    '} {condition.key}: {condition.summary}")
            return
        notes = alerts.process_all(conditions)
        active = sum(c.active for c in conditions)
        for note in notes:
            self.stdout.write(note.subject)
        self.stdout.write(f"watchdog: {len(conditions)} conditions, {active} active, {len(notes)} notification(s) sent")
