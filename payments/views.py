"""Checkout pages, the payment page and QPay's callback."""

import logging
from urllib.parse import urlencode

from django.conf import settings
from django.db import transaction
from django.http import Http404, HttpResponse, HttpResponseBadRequest, HttpResponseNotFound
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import NoReverseMatch, reverse
from django.utils import timezone
from django.utils.translation import get_language
from django.utils.translation import gettext as _
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods

from catalog import balance
from catalog.models import Bundle
from catalog.selectors import bundle_label
from esimshop.client_address import client_address, client_ip_or_none
from esimshop.ratelimit import allow
from payments import inbox, purchase, selectors, signals
from payments import remainder as remainders
from payments.api import (
    payment_path,
    purchase_rate_limited,
    remember_invoice,
    request_check,
    session_owner,
    status_path,
)
from payments.forms import CheckoutForm
from payments.models import Invoice

logger = logging.getLogger(__name__)

FORM_FIELD_FOR = {"phoneNumber": "phone_number", "email": "email"}
# The checkout prefills these after "start again" (a shopper whose request expired keeps them).
SESSION_CONTACT = "checkout_contact"


@require_http_methods(["GET", "POST"])
def checkout(request, bundle_name):
    bundle = get_object_or_404(Bundle, name=bundle_name)
    if not bundle.is_available:
        raise Http404
    status = 200
    if request.method == "POST":
        form = CheckoutForm(request.POST)
        retry_after = purchase_rate_limited(request)
        if retry_after:
            form.is_valid()
            form.add_error(None, _("Too many requests. Slow down."))
            response = render(request, "payments/checkout.html", _checkout_context(bundle, form), status=429)
            response["Retry-After"] = str(retry_after)
            return response
        if form.is_valid():
            data = form.cleaned_data
            if data["amount"] != bundle.price_mnt:
                form = _repriced_form(request.POST, bundle)
                form.add_error(
                    None,
                    _("The price changed to %(price)s₮. Please check and confirm again.")
                    % {"price": f"{bundle.price_mnt:,}"},
                )
            else:
                try:
                    invoice = purchase.start_purchase(
                        phone_number=data["phone_number"],
                        email=data["email"],
                        bundle=bundle,
                        amount_mnt=bundle.price_mnt,
                        company_register=data["company_register"],
                        language=get_language() or "mn",
                        owner=session_owner(request),
                        client_address=client_ip_or_none(request),
                    )
                except purchase.PurchaseError as exc:
                    form.add_error(FORM_FIELD_FOR.get(exc.field), exc.message)
                    status = exc.http_status
                else:
                    remember_invoice(request, invoice)
                    signals.purchase_started.send(sender=Invoice, request=request, invoice=invoice)
                    request.session[SESSION_CONTACT] = {"phone_number": data["phone_number"], "email": data["email"]}
                    return redirect(payment_path(invoice))
        else:
            if "amount" in form.errors:
                # The hidden price check came back missing or garbled: an error on a hidden field is
                # shown nowhere, so show the current price and ask for a confirmation instead.
                form = _repriced_form(request.POST, bundle)
                form.add_error(
                    None,
                    _("The price changed to %(price)s₮. Please check and confirm again.")
                    % {"price": f"{bundle.price_mnt:,}"},
                )
            status = 400
    else:
        contact = request.session.get(SESSION_CONTACT) or {}
        form = CheckoutForm(
            initial={
                "amount": bundle.price_mnt,
                "phone_number": contact.get("phone_number", ""),
                "email": contact.get("email", ""),
            }
        )
    return render(request, "payments/checkout.html", _checkout_context(bundle, form), status=status)


def _checkout_context(bundle, form):
    form.mark_invalid_fields()
    return {
        "bundle": bundle,
        "plan": bundle_label(bundle),
        "form": form,
        "not_for_sale": None if balance.can_cover(bundle) else balance.NOT_FOR_SALE_MESSAGE,
    }


def _repriced_form(data, bundle):
    data = data.copy()
    data["amount"] = str(bundle.price_mnt)
    form = CheckoutForm(data)
    form.is_valid()
    return form


@require_http_methods(["GET", "POST"])
def pay(request, token):
    """The payment page; its URL's token (given only to the creator) is the capability."""
    allowed, retry_after = allow(
        "pay-page", client_address(request), limit=settings.PAYMENTS_PAY_PAGE_RATE_LIMIT_PER_MINUTE
    )
    if not allowed:
        response = HttpResponse(_("Too many requests. Slow down."), status=429, content_type="text/plain")
        response["Retry-After"] = str(retry_after)
        return response
    invoice = selectors.get_invoice_by_access_token(token)
    if invoice is None:
        raise Http404("no such invoice")
    if request.method == "POST":
        return _pay_action(request, invoice)
    if invoice.status == Invoice.Status.PENDING:
        request_check(invoice)
        invoice.refresh_from_db()
    public = selectors.public_status(invoice)
    if public["status"] == "PROCESSED" and public["esimUrl"]:
        return redirect(public["esimUrl"])
    response = render(request, "payments/pay.html", _pay_context(request, invoice, public))
    response["Cache-Control"] = "no-store"
    return response


def _pay_context(request, invoice, public, *, error=""):
    state = public["paymentState"]
    remainder = remainders.open_remainder(invoice) if state == "SHORT" else None
    qr_source = remainder or invoice  # a short payment: only the remainder's QR is offered
    open_for_payment = invoice.is_payable and invoice.expires_at > timezone.now()
    return {
        "invoice": invoice,
        "bundle": invoice.bundle,
        "plan": bundle_label(invoice.bundle),
        "public": public,
        "state": state,
        "money": remainders.money_state(invoice),
        "remainder": remainder,
        "qr_source": qr_source,
        "error": error,
        "status_url": status_path(invoice),
        "sandbox_bank_url": _sandbox_bank_url(request, invoice, qr_source.qpay_invoice_id),
        "waiting": public["status"] in ("PENDING", "PAID"),
        # Past its expiry but not yet expired by the task: stop offering the QR. A short payment
        # offers a QR only once the shopper asked for the remainder invoice.
        "payable": open_for_payment and (state != "SHORT" or remainder is not None),
        "choose_remainder": open_for_payment and state == "SHORT" and remainder is None,
    }


def _pay_action(request, invoice):
    """The payment page's buttons: pay the rest of a short payment, ask for it back, start again."""
    action = request.POST.get("action", "")
    here = payment_path(invoice)
    if action == "restart":
        request.session[SESSION_CONTACT] = {
            "phone_number": invoice.customer.phone_number,
            "email": invoice.customer.email,
        }
        return redirect("payments:checkout", invoice.bundle.name)
    try:
        if action == "remainder":
            remainders.request_remainder(invoice.pk)
        elif action == "refund":
            remainders.ask_for_refund(invoice.pk)
        else:
            return HttpResponseBadRequest("Unknown action", content_type="text/plain")
    except purchase.PurchaseError as exc:
        invoice.refresh_from_db()
        context = _pay_context(request, invoice, selectors.public_status(invoice), error=exc.message)
        return render(request, "payments/pay.html", context, status=exc.http_status)
    return redirect(here)


def _sandbox_bank_url(request, invoice, qpay_invoice_id) -> str:
    if not settings.SANDBOX or not qpay_invoice_id:
        return ""
    try:
        url = reverse("sandbox_qpay:bank", args=[qpay_invoice_id])
    except NoReverseMatch:
        return ""
    return f"{url}?{urlencode({'return': payment_path(invoice)})}"


@csrf_exempt
@transaction.non_atomic_requests
@require_http_methods(["GET", "POST"])
def qpay_callback(request, invoice_id):
    """QPay's callback: an unsigned GET (POST accepted) with ?qpay_payment_id=..., body ignored.

    Authentic = carries the per-invoice HMAC token. Always 200 "SUCCESS" for authentic calls,
    whatever the outcome (recorded on the QPayCallback row); 404 for anything else, with
    nothing stored.

    Order of work, so that no callback is lost whatever else is down: the raw inbox row is
    written FIRST (the database is the only dependency), then the rate limit (Redis; it fails
    open), then verification (QPay). A callback that cannot be stored (database down) gets a
    503 with Retry-After (esimshop/unavailable.py), never a 200 that would make QPay consider it
    delivered; whether QPay retries is not documented (reference qpay.md §7 "Retries"), so the
    payment is found by the invoice's scheduled checks in any case.
    """
    if not inbox.is_valid_callback_token(invoice_id, request.GET.get("token")):
        # Only failures count against an address, so QPay's own (authentic) callbacks are never
        # refused for sharing an address with someone guessing.
        allowed, retry_after = allow(
            "callback-bad-token",
            client_address(request),
            limit=settings.PAYMENTS_CALLBACK_BAD_TOKEN_RATE_LIMIT_PER_MINUTE,
        )
        if not allowed:
            return _too_many(retry_after)
        logger.warning("QPay callback for %s with a missing/wrong token from %s", invoice_id, client_address(request))
        return HttpResponseNotFound("Not found", content_type="text/plain")
    if not Invoice.objects.filter(pk=invoice_id).exists():
        return HttpResponseNotFound("Not found", content_type="text/plain")
    query = request.GET.copy()
    query.pop("token", None)  # the token is a secret: never stored
    callback = inbox.store_qpay_callback(
        invoice_id,
        method=request.method,
        query_string=query.urlencode(),
        body=request.body.decode("utf-8", errors="replace") if request.method == "POST" else "",
        qpay_payment_id=request.GET.get("qpay_payment_id", ""),
        remote_addr=client_ip_or_none(request),
        user_agent=request.META.get("HTTP_USER_AGENT", ""),
    )
    # Each authentic callback costs a QPay payment/check: a replayed callback URL must not turn
    # into a flood against QPay. Generous: QPay sends one per payment; retries and bursts fit.
    allowed, retry_after = allow(
        "callback", str(invoice_id), limit=settings.PAYMENTS_CALLBACK_RATE_LIMIT_PER_INVOICE_PER_MINUTE
    )
    if not allowed:
        logger.warning("QPay callbacks for %s over the per-invoice limit; stored, refused with 429", invoice_id)
        inbox.mark_callback_rate_limited(callback)
        return _too_many(retry_after)
    callback = inbox.process_qpay_callback(callback)
    response = HttpResponse("SUCCESS", content_type="text/plain")
    response["X-Callback-Outcome"] = callback.outcome
    return response


def _too_many(retry_after: int) -> HttpResponse:
    response = HttpResponse("Too many requests", status=429, content_type="text/plain")
    response["Retry-After"] = str(retry_after)
    return response
