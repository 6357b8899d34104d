"""Send a signed eSIM Go V3 Utilisation callback from the sandbox to the shop.

python manage.py sandbox_esimgo_usage_callback 8944538532xxxxxxxxx --percent 80
"""

from django.core.management.base import BaseCommand, CommandError

from sandbox.esimgo.models import SandboxEsim
from sandbox.esimgo.services import ApiError, callback_url, send_usage_callback


class Command(BaseCommand):
    help = "POST a V3 Utilisation callback (X-Signature-SHA256) for a sandbox eSIM to ESIMGO_CALLBACK_URL."

    def add_arguments(self, parser):
        parser.add_argument("iccid")
        parser.add_argument("--percent", type=int, default=80, choices=range(0, 101), metavar="0-100")
        parser.add_argument("--bundle", default=None, help="bundle name (default: the latest bundle on the eSIM)")
        parser.add_argument("--url", default=None, help=f"callback URL (default: {callback_url()})")

    def handle(self, *args, **options):
        if not SandboxEsim.objects.filter(iccid=options["iccid"]).exists():
            raise CommandError(f"no sandbox eSIM {options['iccid']}")
        try:
            status, payload = send_usage_callback(
                options["iccid"], options["percent"], url=options["url"], bundle_name=options["bundle"]
            )
        except ApiError as exc:
            raise CommandError(exc.message) from exc
        except Exception as exc:  # noqa: BLE001 - report connection problems plainly
            raise CommandError(f"callback failed: {exc}") from exc
        bundle = payload["bundle"]
        self.stdout.write(
            f"Utilisation {options['percent']}% for {payload['iccid']} ({bundle['name']}, "
            f"{bundle['remainingQuantity']} of {bundle['initialQuantity']} bytes left) -> HTTP {status}"
        )
