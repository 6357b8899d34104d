"""`python manage.py refresh_bundle_networks [--limit N] [--bundle NAME ...]`: fetch plans' networks
(operators) per country from eSIM Go's per-bundle detail now, instead of waiting for beat.

Like the background run it steps aside while eSIM Go's request budget is busy and stops on a
provider fault; run it again to carry on. --bundle fetches the named bundles whether due or not.
"""

from django.core.management.base import BaseCommand

from catalog.networks import refresh_networks


class Command(BaseCommand):
    help = "Fetch the networks per country of due bundles (or of the named ones) from eSIM Go."

    def add_arguments(self, parser):
        parser.add_argument("--limit", type=int, default=None, help="at most this many bundles (default: the batch)")
        parser.add_argument("--bundle", action="append", dest="names", help="this bundle (repeatable)")

    def handle(self, *args, limit=None, names=None, **options):
        run = refresh_networks(limit, names=names)
        self.stdout.write(f"{run.fetched} fetched, {run.failed} failed, {run.left} left for later")
