"""Mini App entry and session binding, the verified contact, My eSIMs by Telegram account, and the
bot's webhook. Everything is 404 while the feature is off (TELEGRAM_BOT_TOKEN unset)."""

import hmac
import logging
from functools import wraps

from django.conf import settings
from django.http import Http404, JsonResponse
from django.shortcuts import render
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.csrf import csrf_exempt, ensure_csrf_cookie
from django.views.decorators.http import require_GET, require_POST

from esimshop.api_errors import error_response
from orders import selectors as order_selectors
from orders import usage
from orders.models import Order
from orders.views import private
from telegram import bot, identity

logger = logging.getLogger(__name__)

MAX_UPDATE_BYTES = 1_000_000  # Telegram's updates are a few KB


def feature_on(view):
    @wraps(view)
    def wrapped(request, *args, **kwargs):
        if not identity.enabled():
            raise Http404("Telegram is not configured")
        return view(request, *args, **kwargs)

    return wrapped


def safe_next(request, value: str) -> str:
    """Only a path on this site (no scheme, no other host, no //host)."""
    if (
        value
        and value.startswith("/")
        and url_has_allowed_host_and_scheme(value, allowed_hosts={request.get_host()}, require_https=False)
    ):
        return value
    return "/"


@require_GET
@feature_on
@ensure_csrf_cookie
def app_entry(request):
    """What the bot's web_app button opens. The page's script hands Telegram's initData to
    `session` below, then continues to ?next= (the storefront by default)."""
    response = render(request, "telegram/app.html", {"next": safe_next(request, request.GET.get("next", ""))})
    response["Cache-Control"] = "private, no-store"
    return response


@require_POST
@feature_on
def session(request):
    try:
        user = identity.bind_session(request, request.POST.get("init_data", ""))
    except identity.Refused as exc:
        # The shopper reads `error` (their language); `reason` says what was wrong, for support.
        return error_response("telegram_sign_in_refused", extra={"ok": False, "reason": exc.reason})
    response = JsonResponse({"ok": True, "next": safe_next(request, request.POST.get("next", ""))})
    response.set_cookie(
        settings.LANGUAGE_COOKIE_NAME,
        user.language,
        max_age=settings.LANGUAGE_COOKIE_AGE,
        samesite="Lax",
        secure=not settings.DEBUG,
    )
    return response


@require_GET
@feature_on
@private
def contact(request):
    """The phone number the session's Telegram user shared with the bot (verified by Telegram)."""
    user = identity.current_user(request)
    if user is None:
        return error_response("telegram_not_signed_in")
    return JsonResponse({"phone": identity.checkout_phone(user)})


@require_GET
@feature_on
@private
def my_esims(request):
    user = identity.current_user(request)
    if user is None:
        return render(request, "telegram/my_esims.html", {"telegram_user": None}, status=403)
    orders = list(
        Order.objects.filter(invoice__telegram_purchase__telegram_user=user)
        .select_related("bundle", "esim", "invoice")
        .order_by("-created_at")
    )
    cards, pending = order_selectors.group_by_esim(orders)
    for card in cards:
        card.usage = usage.get_usage(card.esim.iccid)
        card.plan = order_selectors.bundle_label(card.first_order.bundle)
        card.countries = order_selectors.bundle_countries(card.first_order.bundle)
        card.latest = card.orders[0]
    context = {
        "telegram_user": user,
        "cards": cards,
        "pending": [(order, order_selectors.bundle_label(order.bundle)) for order in pending],
    }
    return render(request, "telegram/my_esims.html", context)


@csrf_exempt
@require_POST
@feature_on
def webhook(request):
    """Telegram's webhook: secret header first, then the raw update is stored, then handled
    after commit (a task), so Telegram gets its 200 at once. Duplicates are 200 and ignored."""
    secret = settings.TELEGRAM_WEBHOOK_SECRET
    given = request.headers.get("X-Telegram-Bot-Api-Secret-Token", "")
    if not secret or not hmac.compare_digest(given.encode(), secret.encode()):
        logger.warning("Telegram webhook refused: missing or wrong secret token")
        return error_response("forbidden", extra={"ok": False})
    length = request.META.get("CONTENT_LENGTH") or "0"
    if not length.isdigit() or int(length) > MAX_UPDATE_BYTES:
        return error_response("payload_too_large", extra={"ok": False})
    update, reason = bot.parse_update(request.body)
    if update is None:
        return JsonResponse({"ok": False, "reason": reason})  # 200: Telegram must not resend it
    row, created = bot.receive_update(request.body, update)
    return JsonResponse({"ok": True, "duplicate": not created})
