"""Shopper pages: the eSIM page (a capability URL), its status JSON, top-up, My eSIMs; the eSIM Go callback."""

import logging
from functools import wraps

from django.conf import settings
from django.http import Http404, HttpResponse, HttpResponseRedirect, JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import translation
from django.utils.safestring import mark_safe
from django.utils.translation import gettext as _
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from catalog.presentation import unlimited_tier_label
from esimshop.client_address import client_address, client_ip_or_none
from esimshop.ratelimit import allow
from orders import callbacks, conf, magic_links, qr, selectors, topup, usage
from orders import install_sheet as install_sheets
from orders.forms import MyEsimsEmailForm, TopupForm
from orders.models import Order
from payments.api import payment_path, session_owner
from payments.ebarimt import shopper_receipt
from payments.purchase import PurchaseError, start_purchase
from payments.remainder import money_state
from payments.signals import purchase_started

logger = logging.getLogger(__name__)

SESSION_EMAIL = "my_esims_email"
SESSION_INVOICES = "invoice_ids"  # written by payments' checkout


def private(view):
    """Pages whose URL is a credential: never cached by shared caches, never indexed, never leaked as Referer."""

    @wraps(view)
    def wrapped(request, *args, **kwargs):
        response = view(request, *args, **kwargs)
        response["Cache-Control"] = "private, no-store"
        response["X-Robots-Tag"] = "noindex, nofollow"
        # same-origin, not no-referrer: the URL still never reaches another site, but browsers send
        # `Origin: null` on a POST from a no-referrer page and Django's CSRF check refuses it.
        response["Referrer-Policy"] = "same-origin"
        return response

    return wrapped


def _order_or_404(token) -> Order:
    order = selectors.order_by_access_token(token)
    if order is None:
        raise Http404("no such eSIM")
    return order


@require_GET
@private
def esim_detail(request, token):
    order = _order_or_404(token)
    context = {
        "order": order,
        "plan": selectors.bundle_label(order.bundle),
        "platform": selectors.device_platform(request.headers.get("User-Agent", "")),
        "in_progress": order.is_in_progress,
        "delayed": order.is_in_progress and selectors.delivery_delayed(order),
        "status_url": reverse("orders:esim-status", args=[order.access_token]),
    }
    if order.esim_id and order.status == Order.Status.DELIVERED:
        details = selectors.install_details(order.esim)
        context.update(details)
        context["qr_svg"] = mark_safe(qr.svg(details["lpa"]))  # noqa: S308 - our own generated SVG
        context["topup_url"] = reverse("orders:topup", args=[order.access_token])
        context["install_sheet_url"] = reverse("orders:install-sheet", args=[order.access_token])
    context.update(_ebarimt_context(order))
    context.update(money=money_state(order.invoice))
    return render(request, "orders/esim_detail.html", context)


@require_GET
@private
def install_sheet(request, token):
    """The printable install sheet (PNG, a download) for a delivered eSIM."""
    order = _order_or_404(token)
    if not order.esim_id or order.status != Order.Status.DELIVERED:
        raise Http404("no eSIM to install yet")
    details = selectors.install_details(order.esim)
    png = install_sheets.render(
        plan=selectors.bundle_label(order.bundle),
        lpa=details["lpa"],
        smdp_address=details["smdp_address"],
        activation_code=details["activation_code"],
        iccid=details["iccid"],
    )
    response = HttpResponse(png, content_type="image/png")
    response["Content-Disposition"] = f'attachment; filename="esim-{details["iccid"][-6:]}-install.png"'
    return response


def _topup_label(bundle) -> str:
    """The plan's name, and for an unlimited plan its tier and speed after the daily limit, so
    same-looking top-ups can be told apart (issue 13)."""
    tier = unlimited_tier_label(bundle.name, bundle.unlimited)
    return f"{selectors.bundle_label(bundle)} · {tier}" if tier else selectors.bundle_label(bundle)


def _ebarimt_context(order) -> dict:
    """The issued e-barimt receipt (payments.ebarimt), if any: lottery number and QR."""
    receipt = shopper_receipt(order.invoice)
    if receipt is None:
        # Explicit None: a missing variable makes Django log (at DEBUG) the whole template
        # context, activation code included.
        return {"ebarimt": None, "ebarimt_qr_svg": ""}
    return {"ebarimt": receipt, "ebarimt_qr_svg": mark_safe(qr.svg(receipt.qr_data)) if receipt.qr_data else ""}  # noqa: S308


def _rate_limited(scope: str, request, limit: int) -> JsonResponse | None:
    """A 429 once this address used up its budget for `scope` this minute (payments' limiter)."""
    allowed, retry_after = allow(scope, client_address(request), limit=limit)
    if allowed:
        return None
    response = JsonResponse({"error": _("Too many requests. Please wait a few minutes and try again.")}, status=429)
    response["Retry-After"] = str(retry_after)
    return response


@require_GET
@private
def esim_status(request, token):
    limited = _rate_limited("esim-status", request, conf.status_rate_limit_per_minute())
    if limited:
        return limited
    order = _order_or_404(token)
    return JsonResponse(
        {
            "status": order.status,
            "ready": order.status == Order.Status.DELIVERED,
            "url": order.get_absolute_url(),
        }
    )


@require_http_methods(["GET", "POST"])
@private
def topup_view(request, token):
    order = _order_or_404(token)
    if order.status != Order.Status.DELIVERED or not order.esim_id:
        return redirect(order.get_absolute_url())
    esim = order.esim
    first = esim.orders.filter(kind=Order.Kind.NEW).select_related("bundle").order_by("created_at").first()
    base_bundle = (first or order).bundle
    options = topup.compatible_bundles(esim.iccid, base_bundle)
    # Bound on every POST, even an empty one (an empty QueryDict is falsy): a refusal shows why.
    form = TopupForm(request.POST if request.method == "POST" else None, bundles=options.bundles)
    status = 200
    error = ""
    if request.method == "POST":
        if form.is_valid():
            bundle = form.cleaned_data["bundle"]
            try:
                invoice = start_purchase(
                    phone_number=order.customer.phone_number,
                    email=order.customer.email,
                    bundle=bundle,
                    amount_mnt=bundle.price_mnt,
                    description=_("Top-up %(plan)s") % {"plan": selectors.bundle_label(bundle)},
                    topup_iccid=esim.iccid,
                    language=translation.get_language() or settings.LANGUAGE_CODE,
                    owner=session_owner(request),
                    client_address=client_ip_or_none(request),
                )
            except PurchaseError as exc:
                error, status = exc.message, exc.http_status
            else:
                remember_invoice(request, invoice.pk)
                purchase_started.send(sender=type(invoice), request=request, invoice=invoice)
                return HttpResponseRedirect(payment_path(invoice))
        else:
            status = 400
    context = {
        "order": order,
        "esim": esim,
        "plan": selectors.bundle_label(base_bundle),
        "options": [(bundle, _topup_label(bundle)) for bundle in options.bundles],
        "unavailable": options.unavailable,
        "form": form,
        "error": error,
    }
    return render(request, "orders/topup.html", context, status=status)


def remember_invoice(request, invoice_id):
    ids = list(request.session.get(SESSION_INVOICES, []))
    if str(invoice_id) not in ids:
        ids.append(str(invoice_id))
    request.session[SESSION_INVOICES] = ids[-50:]


@require_http_methods(["GET", "POST"])
@private
def my_esims(request):
    email = request.session.get(SESSION_EMAIL, "")
    form = MyEsimsEmailForm(request.POST if request.method == "POST" else None)  # empty POST: bound, "required"
    status, link_sent, rate_limited = 200, False, False
    if request.method == "POST":
        if form.is_valid():
            try:
                magic_links.request_magic_link(
                    form.cleaned_data["email"], ip=client_ip_or_none(request), language=translation.get_language() or ""
                )
            except magic_links.RateLimited:
                rate_limited, status = True, 429
            else:
                link_sent = True
                form = MyEsimsEmailForm()
        else:
            status = 400
    orders = selectors.my_esims_orders(email=email, invoice_ids=request.session.get(SESSION_INVOICES, []))
    cards, pending = selectors.group_by_esim(orders)
    for card in cards:
        card.usage = usage.get_usage(card.esim.iccid)
        card.plan = selectors.bundle_label(card.first_order.bundle)
        card.countries = selectors.bundle_countries(card.first_order.bundle)
        card.latest = card.orders[0]
    pending_rows = [(order, selectors.bundle_label(order.bundle)) for order in pending]
    unpaid = [
        (invoice, selectors.bundle_label(invoice.bundle), payment_path(invoice))
        for invoice in selectors.open_invoices(email=email, invoice_ids=request.session.get(SESSION_INVOICES, []))
    ]
    context = {
        "unpaid": unpaid,
        "email": email,
        "cards": cards,
        "pending": pending_rows,
        "form": form,
        "link_sent": link_sent,
        "rate_limited": rate_limited,
        "ttl_minutes": conf.magic_link_ttl_minutes(),
    }
    return render(request, "orders/my_esims.html", context, status=status)


@require_http_methods(["GET", "POST"])
@private
def my_esims_login(request, token):
    # Tokens are unguessable (32 random bytes); the limit keeps guessing from costing us anything.
    limited = _rate_limited("magic-link-login", request, conf.magic_link_login_rate_limit_per_minute())
    if limited:
        return render(request, "orders/my_esims_login.html", {"valid": False, "rate_limited": True}, status=429)
    # GET only shows a button: mail scanners that prefetch links must not use up the token.
    if request.method == "GET":
        valid = magic_links.peek_magic_link(token)
        return render(request, "orders/my_esims_login.html", {"valid": valid}, status=200 if valid else 410)
    email = magic_links.consume_magic_link(token)
    if email is None:
        return render(request, "orders/my_esims_login.html", {"valid": False}, status=410)
    invoice_ids = request.session.get(SESSION_INVOICES, [])
    request.session.cycle_key()  # a new session id on sign-in (no fixation)
    request.session[SESSION_EMAIL] = email
    request.session[SESSION_INVOICES] = invoice_ids
    return redirect("orders:my-esims")


@require_POST
@private
def my_esims_logout(request):
    request.session.pop(SESSION_EMAIL, None)
    request.session.pop(SESSION_INVOICES, None)
    request.session.cycle_key()
    return redirect("orders:my-esims")


@csrf_exempt
@require_POST
def esimgo_callback(request):
    length = request.META.get("CONTENT_LENGTH") or "0"
    if not length.isdigit() or int(length) > conf.callback_max_body_bytes():
        return JsonResponse({"error": "body too large"}, status=413)
    body = request.body
    if not callbacks.signature_is_valid(body, request.headers.get("X-Signature-SHA256"), settings.ESIMGO_API_KEY):
        logger.warning(
            "eSIM Go callback rejected: bad or missing signature (%d bytes from %s)", len(body), client_address(request)
        )
        return JsonResponse({"error": "invalid signature"}, status=401)
    row, created = callbacks.receive_callback(body)
    return JsonResponse({"ok": True, "duplicate": not created})
