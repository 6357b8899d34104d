"""Admin pages and buttons for the staff actions (used by the order and invoice admins)."""

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import HttpResponseNotAllowed, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.translation import gettext as _

from orders.models import Order
from payments.models import Invoice
from staff import refunds
from staff.actions import invoices as invoice_actions
from staff.actions import orders as order_actions
from staff.actions import refunds as refund_actions
from staff.actions.result import Outcome
from staff.forms import DeliverForm, RefundForm


def _post_only(request):
    if request.method != "POST":
        return HttpResponseNotAllowed(["POST"])
    return None


def _finish(request, result, back):
    messages.add_message(request, result.level, result.message)
    return HttpResponseRedirect(back)


def _run(request, back, action, *args, **kwargs):
    refused = _post_only(request)
    if refused:
        return refused
    return _finish(request, action(request.user, *args, **kwargs), back)


def invoice_urls(model_admin):
    site = model_admin.admin_site
    return [
        path(
            "<uuid:pk>/recheck/",
            site.admin_view(
                lambda r, pk: _run(
                    r, reverse("admin:payments_invoice_change", args=[pk]), invoice_actions.recheck_payment, pk
                )
            ),
            name="payments_invoice_recheck",
        ),
        path(
            "<uuid:pk>/cancel/",
            site.admin_view(
                lambda r, pk: _run(
                    r, reverse("admin:payments_invoice_change", args=[pk]), invoice_actions.cancel_unpaid_invoice, pk
                )
            ),
            name="payments_invoice_cancel",
        ),
        path(
            "<uuid:pk>/ebarimt/",
            site.admin_view(
                lambda r, pk: _run(
                    r, reverse("admin:payments_invoice_change", args=[pk]), invoice_actions.reissue_ebarimt, pk
                )
            ),
            name="payments_invoice_ebarimt",
        ),
        path(
            "<uuid:pk>/refund/",
            site.admin_view(lambda r, pk: refund_view(model_admin, r, pk)),
            name="payments_invoice_refund",
        ),
    ]


def order_urls(model_admin):
    site = model_admin.admin_site
    return [
        path(
            "<int:pk>/retry/",
            site.admin_view(
                lambda r, pk: _run(
                    r, reverse("admin:orders_order_change", args=[pk]), order_actions.retry_provisioning, pk
                )
            ),
            name="orders_order_retry",
        ),
        path(
            "<int:pk>/deliver/",
            site.admin_view(lambda r, pk: deliver_view(model_admin, r, pk)),
            name="orders_order_deliver",
        ),
    ]


def refund_urls(model_admin):
    site = model_admin.admin_site
    return [
        path(
            "<int:pk>/check/",
            site.admin_view(
                lambda r, pk: _run(
                    r, reverse("admin:payments_refund_change", args=[pk]), refund_actions.check_refund, pk
                )
            ),
            name="payments_refund_check",
        ),
        path(
            "<int:pk>/revoke/",
            site.admin_view(
                lambda r, pk: _run(
                    r, reverse("admin:payments_refund_change", args=[pk]), refund_actions.retry_esimgo_revoke, pk
                )
            ),
            name="payments_refund_revoke",
        ),
    ]


def _page(model_admin, request, context):
    return TemplateResponse(
        request,
        "staff/admin/action_form.html",
        {**model_admin.admin_site.each_context(request), "opts": model_admin.model._meta, **context},
    )


def refund_view(model_admin, request, pk):
    if not request.user.has_perm("payments.refund_payment"):
        raise PermissionDenied
    invoice = get_object_or_404(Invoice.objects.select_related("customer"), pk=pk)
    payments = [p for p in invoice.payments.all() if p.status in refunds.MONEY_IN]
    left = refunds.refundable(invoice)
    back = reverse("admin:payments_invoice_change", args=[invoice.pk])
    form = RefundForm(request.POST or None, payments=payments, refundable=left)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        result = refund_actions.refund(
            request.user,
            invoice_id=invoice.pk,
            payment_id=data["payment"],
            amount_mnt=data["amount_mnt"],
            method=data["method"],
            note=data["note"],
            idempotency_key=data["idempotency_key"],
        )
        if result.outcome == Outcome.REFUSED:
            form.add_error(None, result.message)
        else:
            return _finish(request, result, back)
    warnings = []
    if any((p.payment_type or "").upper() != "CARD" for p in payments):
        warnings.append(
            _(
                "Bank-app (P2P) payments cannot be refunded through QPay's API. Return the money in QPay's "
                "merchant portal first, then record the refund here with a note. Nothing is sent to QPay "
                "for a manual refund."
            )
        )
    if any((p.payment_type or "").upper() == "CARD" for p in payments):
        warnings.append(_("A card refund through QPay returns the whole payment to the card; it cannot be partial."))
    return _page(
        model_admin,
        request,
        {
            "title": _("Refund %(invoice)s") % {"invoice": invoice.sender_invoice_no},
            "intro": [
                _("Shopper: %(phone)s, %(email)s.")
                % {"phone": invoice.customer.phone_number, "email": invoice.customer.email},
                _("Left to refund: %(left)s.") % {"left": f"{left:,}₮"},
                _(
                    "A full refund also marks the order refunded, cancels the e-barimt receipt and, if the eSIM was never "
                    "installed, returns its bundle to eSIM Go."
                ),
            ],
            "warnings": warnings,
            "form": form,
            "submit_label": _("Refund"),
            "back_url": back,
            "back_label": invoice.sender_invoice_no,
        },
    )


def deliver_view(model_admin, request, pk):
    if not request.user.has_perm("orders.deliver_manually"):
        raise PermissionDenied
    order = get_object_or_404(Order.objects.select_related("customer", "bundle"), pk=pk)
    back = reverse("admin:orders_order_change", args=[order.pk])
    form = DeliverForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        result = order_actions.mark_delivered(request.user, order.pk, **form.cleaned_data)
        if result.outcome == Outcome.REFUSED:
            form.add_error(None, result.message)
        else:
            return _finish(request, result, back)
    return _page(
        model_admin,
        request,
        {
            "title": _("Mark delivered by hand"),
            "intro": [
                _("Use this when you obtained the eSIM yourself (for example in the eSIM Go portal) for %(bundle)s.")
                % {"bundle": order.bundle.name},
                _("The shopper gets the “eSIM ready” e-mail with these details."),
            ],
            "warnings": [],
            "form": form,
            "submit_label": _("Mark delivered"),
            "back_url": back,
            "back_label": str(order.public_id),
        },
    )


def buttons_for_invoice(request, invoice) -> list[dict]:
    user, buttons = request.user, []
    if user.has_perm("payments.recheck_payment") and invoice.qpay_invoice_id:
        buttons.append(
            {
                "label": _("Re-check payment at QPay"),
                "method": "post",
                "url": reverse("admin:payments_invoice_recheck", args=[invoice.pk]),
            }
        )
    if user.has_perm("payments.cancel_invoice_at_qpay") and invoice.status == invoice.Status.PENDING:
        buttons.append(
            {
                "label": _("Cancel at QPay"),
                "method": "post",
                "danger": True,
                "url": reverse("admin:payments_invoice_cancel", args=[invoice.pk]),
            }
        )
    if user.has_perm("payments.refund_payment") and invoice.payments.filter(status__in=("PAID", "REFUNDED")).exists():
        buttons.append(
            {
                "label": _("Refund…"),
                "method": "get",
                "danger": True,
                "url": reverse("admin:payments_invoice_refund", args=[invoice.pk]),
            }
        )
    if user.has_perm("payments.recheck_payment") and invoice.status == invoice.Status.PAID:
        buttons.append(
            {
                "label": _("Issue e-barimt again"),
                "method": "post",
                "url": reverse("admin:payments_invoice_ebarimt", args=[invoice.pk]),
            }
        )
    return buttons


def buttons_for_order(request, order) -> list[dict]:
    user, buttons = request.user, []
    if user.has_perm("orders.retry_provisioning") and order.status in (
        order.Status.NEEDS_ATTENTION,
        order.Status.PAID,
        order.Status.PROVISIONING,
    ):
        buttons.append(
            {
                "label": _("Retry provisioning"),
                "method": "post",
                "url": reverse("admin:orders_order_retry", args=[order.pk]),
            }
        )
    if user.has_perm("orders.deliver_manually") and order.status == order.Status.NEEDS_ATTENTION:
        buttons.append(
            {
                "label": _("Mark delivered by hand…"),
                "method": "get",
                "url": reverse("admin:orders_order_deliver", args=[order.pk]),
            }
        )
    return buttons + buttons_for_invoice(request, order.invoice)
