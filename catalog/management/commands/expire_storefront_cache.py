from django.core.management.base import BaseCommand

from catalog.page_warming import warm_and_switch


class Command(BaseCommand):
    help = (
        "Re-render the popular storefront pages with the templates of this release, then switch the "
        "cache over to them (run on release: new templates must not be served stale pages, and the "
        "first visitor after a deploy must not get a cold one)."
    )

    def handle(self, *args, **options):
        result = warm_and_switch()
        self.stdout.write(
            f"storefront cache version is now {result.version if result.switched else 'unchanged'}: "
            f"{result.rendered} pages warmed, {len(result.failed)} not stored"
        )
