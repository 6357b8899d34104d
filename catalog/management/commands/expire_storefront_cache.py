from django.core.management.base import BaseCommand

from catalog.page_cache import bump_catalogue_version


class Command(BaseCommand):
    help = "Forget every cached storefront page (run on release: new templates must not be served stale pages)."

    def handle(self, *args, **options):
        version = bump_catalogue_version()
        self.stdout.write(f"storefront cache version is now {version}")
