"""`python manage.py sync_catalog`: fetch the whole eSIM Go catalogue and apply it.

Shows progress (a line rewritten in place on a terminal, one line per page otherwise) and ends
with "created X, updated Y, unchanged Z, retired W in N.NNs". A provider fault exits non-zero
with the reason on stderr; the catalogue is left as it was.
"""

from django.core.management.base import BaseCommand, CommandError

from catalog.services import CatalogueSyncError, sync_catalog


class Command(BaseCommand):
    help = "Sync bundles, countries and regions from eSIM Go (all pages, all or nothing)."

    def handle(self, *args, **options):
        interactive = self.stdout.isatty()

        def progress(pages, page_count, fetched):
            of = f"/{page_count}" if page_count else ""
            line = f"page {pages}{of}: {fetched} bundles fetched"
            if interactive:
                self.stdout.write(f"\r{line}", ending="")
                self.stdout.flush()
            else:
                self.stdout.write(line)

        try:
            result = sync_catalog(progress=progress)
        except CatalogueSyncError as exc:
            if interactive:
                self.stdout.write("")
            raise CommandError(f"Catalogue sync failed: {exc}") from exc
        if interactive:
            self.stdout.write("")
        self.stdout.write(self.style.SUCCESS(result.summary()))
