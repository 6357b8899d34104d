"""Customer transactions API: the seed-000 purchase contract and the public payment status."""

import hashlib
import json
import logging
import re
from datetime import timedelta
from decimal import Decimal, InvalidOperation

from django.conf import settings
from django.http import JsonResponse
from django.urls import reverse
from django.utils.translation import get_language
from django.utils.translation import gettext_lazy as _
from django.views.decorators.http import require_GET
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema, extend_schema_field
from rest_framework import serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from catalog.models import Bundle
from esimshop.client_address import client_address, client_ip_or_none
from esimshop.ratelimit import allow
from payments import expiry, purchase, selectors, status_cache
from payments.models import Invoice

logger = logging.getLogger(__name__)

STATUS_CHECK_MIN_AGE = timedelta(seconds=20)
PHONE_SEPARATORS = re.compile(r"[\s\-().]")
# A caller-chosen key is a capability for its invoice: long enough to be random (a UUID is 36).
IDEMPOTENCY_KEY = re.compile(r"[A-Za-z0-9_.:\-]{16,255}")
IDEMPOTENCY_KEY_DOC = (
    "Optional. Repeat the same key (16-255 characters of letters, digits, `-_.:`; send a fresh random "
    "UUID per purchase) to get the same invoice back instead of a second one, e.g. when a response was "
    "lost. Without it every call creates a new invoice. The same key with a different body is 422."
)


def normalise_phone(value: str) -> str:
    """Mongolian numbers are 8 digits; accept spaces/hyphens and a +976 prefix."""
    digits = PHONE_SEPARATORS.sub("", str(value or ""))
    if digits.startswith("+976"):
        digits = digits[4:]
    elif len(digits) == 11 and digits.startswith("976"):
        digits = digits[3:]
    return digits


class PhoneNumberField(serializers.CharField):
    def to_internal_value(self, data):
        phone = normalise_phone(super().to_internal_value(data))
        if not re.fullmatch(r"\d{8}", phone):
            raise serializers.ValidationError(_("Enter a Mongolian phone number of 8 digits."))
        return phone


@extend_schema_field(OpenApiTypes.INT)
class WholeMNTField(serializers.Field):
    """A whole number of tugrik given as a JSON number (or digit string); never a float for money."""

    default_error_messages = {"invalid": _("Enter the amount as a whole number of tugrik.")}

    def to_internal_value(self, data):
        if isinstance(data, bool):
            self.fail("invalid")
        try:
            amount = Decimal(str(data).strip())
        except (InvalidOperation, ValueError):
            self.fail("invalid")
        if not amount.is_finite() or amount != amount.to_integral_value() or amount <= 0:
            self.fail("invalid")
        return int(amount)

    def to_representation(self, value):
        return value


class PurchaseInput(serializers.Serializer):
    phoneNumber = PhoneNumberField(max_length=32)
    email = serializers.EmailField(max_length=254)
    amount = WholeMNTField()
    packageCode = serializers.CharField(max_length=128)
    description = serializers.CharField(max_length=255, required=False, allow_blank=True, default="")

    def validate_packageCode(self, value):
        bundle = Bundle.objects.filter(name=value).first()
        if bundle is None:
            raise serializers.ValidationError(_("Unknown package."))
        if not bundle.is_available:
            raise serializers.ValidationError(_("This package is no longer available."))
        self.context["bundle"] = bundle
        return value


def _fields_error(fields: dict, http_status=status.HTTP_400_BAD_REQUEST) -> Response:
    first = next(iter(fields.values()))
    return Response({"error": str(first[0]), "errors": fields}, status=http_status)


def remember_invoice(request, invoice) -> None:
    """The browser's purchases (orders' My eSIMs reads this list)."""
    ids = list(request.session.get("invoice_ids", []))
    if str(invoice.pk) not in ids:
        ids.append(str(invoice.pk))
        request.session["invoice_ids"] = ids[-50:]


def session_owner(request) -> purchase.PurchaseOwner:
    """This browser session as the owner of the invoices it opens (a double click gets the same
    invoice back; another browser with the same phone, e-mail and plan gets its own)."""
    if not request.session.session_key:
        request.session.save()
    return purchase.PurchaseOwner(key="s:" + hashlib.sha256(request.session.session_key.encode()).hexdigest())


def payment_path(invoice) -> str:
    return reverse("payments:pay", args=[invoice.access_token])


def status_path(invoice) -> str:
    return f"{reverse('payments:api-status', args=[invoice.pk])}?token={invoice.access_token}"


def purchase_payload(request, invoice) -> dict:
    return {
        "invoice_id": invoice.qpay_invoice_id,
        "qr_image": invoice.qr_image,
        "qr_link": invoice.short_url or next((u["link"] for u in invoice.bank_urls if u.get("link")), ""),
        "customerId": str(invoice.customer_id),
        "internalInvoiceId": str(invoice.pk),
        "qrText": invoice.qr_text,
        "shortUrl": invoice.short_url,
        "bankLinks": invoice.bank_urls,
        "amount": invoice.amount_mnt,
        "expiresAt": invoice.expires_at.isoformat(),
        "statusUrl": request.build_absolute_uri(status_path(invoice)),
        "paymentUrl": request.build_absolute_uri(payment_path(invoice)),
    }


def purchase_rate_limited(request):
    """Per client address; a purchase costs an eSIM Go validate and a QPay invoice. The API and
    the checkout form share the budget. Returns the seconds to wait, or 0."""
    limit = settings.PAYMENTS_PURCHASE_RATE_LIMIT_PER_MINUTE
    allowed, retry_after = allow("purchase", client_address(request), limit=limit)
    return 0 if allowed else retry_after


class PurchaseApi(APIView):
    """POST /api/customer/transactions/purchase (seed 000)."""

    @extend_schema(
        request=PurchaseInput,
        parameters=[
            OpenApiParameter(
                "Idempotency-Key", str, OpenApiParameter.HEADER, required=False, description=IDEMPOTENCY_KEY_DOC
            )
        ],
        responses={
            201: OpenApiResponse(
                description="Invoice created (or, for a repeated Idempotency-Key, the same one "
                "returned): invoice_id, qr_image, qr_link, customerId, "
                "internalInvoiceId, paymentUrl, statusUrl (capability URLs), ..."
            ),
            400: OpenApiResponse(description='{"error": text, "errors": {field: [text]}}'),
            413: OpenApiResponse(description="Request body too large."),
            422: OpenApiResponse(description="The Idempotency-Key was already used with a different body."),
            429: OpenApiResponse(
                description="Too many purchases from this address (see Retry-After), or too many "
                "unpaid invoices for this phone, e-mail, address or the shop (reason "
                "in `error`)."
            ),
            503: OpenApiResponse(description="A provider is unavailable; nothing was charged."),
        },
    )
    def post(self, request):
        retry_after = purchase_rate_limited(request)
        if retry_after:
            return Response(
                {"error": str(_("Too many requests. Slow down."))},
                status=status.HTTP_429_TOO_MANY_REQUESTS,
                headers={"Retry-After": str(retry_after)},
            )
        if not isinstance(request.data, dict):
            return Response({"error": str(_("Send a JSON object."))}, status=status.HTTP_400_BAD_REQUEST)
        serializer = PurchaseInput(data=request.data)
        if not serializer.is_valid():
            return _fields_error({k: [str(m) for m in v] for k, v in serializer.errors.items()})
        data = serializer.validated_data
        key = request.headers.get("Idempotency-Key")
        if key is not None and not IDEMPOTENCY_KEY.fullmatch(key):
            return _fields_error(
                {
                    "Idempotency-Key": [
                        str(_("Send 16-255 letters, digits or -_.: (a random UUID), or leave the header out."))
                    ]
                }
            )
        try:
            invoice = purchase.start_purchase(
                phone_number=data["phoneNumber"],
                email=data["email"],
                bundle=serializer.context["bundle"],
                amount_mnt=data["amount"],
                description=data["description"],
                language=get_language() or "mn",
                owner=idempotency_owner(key, data) if key else None,
                client_address=client_ip_or_none(request),
            )
        except purchase.PurchaseError as exc:
            if exc.field:
                return _fields_error({exc.field: [str(exc.message)]}, exc.http_status)
            return Response({"error": str(exc.message)}, status=exc.http_status)
        if request.COOKIES:
            # A browser (it holds the shop's cookies): My eSIMs will list this purchase. A cookieless
            # API client would get a session it never sends back - a database row per purchase.
            remember_invoice(request, invoice)
        return Response(purchase_payload(request, invoice), status=status.HTTP_201_CREATED)


def idempotency_owner(key: str, data: dict) -> purchase.PurchaseOwner:
    """The key (hashed: it is the caller's capability) and the request it is bound to."""
    request_data = {name: str(value) for name, value in sorted(data.items())}
    fingerprint = hashlib.sha256(json.dumps(request_data, sort_keys=True).encode()).hexdigest()
    return purchase.PurchaseOwner(key="i:" + hashlib.sha256(key.encode()).hexdigest(), fingerprint=fingerprint)


def request_check(invoice) -> bool:
    """Ask QPay about a pending invoice at most once a minute, whoever is asking; True if asked.

    `invoice`: an Invoice or a payments.status_cache.StatusSnapshot (pk, is_payable, expires_at,
    created_at), so a poll answered from the cache needs no database read to decide."""
    from django.core.cache import cache

    if not invoice.is_payable:
        return False
    from django.utils import timezone

    if invoice.expires_at <= timezone.now():
        if cache.add(f"payments:lazy-expire:{invoice.pk}", 1, 60):
            expiry.enqueue_expiry(invoice.pk)
            return True
        return False
    # The callback normally arrives first; ask QPay only for a shopper who has been waiting.
    if timezone.now() - invoice.created_at < STATUS_CHECK_MIN_AGE:
        return False
    # Bounded per invoice (PAYMENTS_MAX_POLL_CHECKS_PER_INVOICE): polling can't spend QPay calls forever.
    if invoice.check_count >= int(settings.PAYMENTS_MAX_POLL_CHECKS_PER_INVOICE):
        return False
    if cache.add(f"payments:status-check:{invoice.pk}", 1, 60):
        expiry.enqueue_check(invoice.pk, cause="status poll")
        return True
    return False


@require_GET
def invoice_status(request, invoice_id):
    """GET /api/customer/transactions/<internalInvoiceId>/status?token=<access token> — the token
    (given only to the invoice's creator, in statusUrl) is the capability; the id alone is 404."""
    limit = settings.PAYMENTS_STATUS_RATE_LIMIT_PER_MINUTE
    allowed, retry_after = allow("status", client_address(request), limit=limit)
    if not allowed:
        response = JsonResponse({"error": str(_("Too many requests. Slow down."))}, status=429)
        response["Retry-After"] = str(retry_after)
        return response
    token = request.GET.get("token", "")
    snapshot, generation = status_cache.get(invoice_id)
    if snapshot is None:
        invoice = selectors.get_invoice(invoice_id)
        if invoice is None:
            return JsonResponse({"error": str(_("Not found."))}, status=404)
        snapshot = selectors.status_snapshot(invoice)
        status_cache.put(snapshot, generation)
    if not snapshot.token_matches(token):
        # The same 404 as an unknown id: the id alone (it is in QPay's and our logs) opens nothing.
        return JsonResponse({"error": str(_("Not found."))}, status=404)
    if snapshot.public["status"] == Invoice.Status.PENDING and request_check(snapshot):
        # A check was just enqueued (in-process mode runs it now): answer from the database.
        snapshot = selectors.status_snapshot(selectors.get_invoice(invoice_id))
    response = JsonResponse(snapshot.public)
    response["Cache-Control"] = "no-store"
    return response
