"""Payments admin: read-only records of what QPay said; changes only through staff actions
(staff/actions/: permission, service with row lock and guard, audit row)."""

from django.contrib import admin, messages
from django.utils.translation import gettext_lazy as _

from payments import services, verification
from payments.models import Customer, EbarimtReceipt, Invoice, InvoiceTransition, Payment, QPayCallback, Refund
from staff import admin_views
from staff.actions import invoices as invoice_actions
from staff.admin_base import ReadOnlyAdmin, ReadOnlyInline
from staff.audit import actor_name, record_staff_action
from staff.panels import invoice_panels
from staff.search import ScaleSafeAdminMixin


class LinkedReadOnlyInline(ReadOnlyInline):
    show_change_link = True


class InvoiceInline(LinkedReadOnlyInline):
    model = Invoice
    fields = ("sender_invoice_no", "status", "amount_mnt", "paid_amount", "bundle", "created_at")
    readonly_fields = fields
    ordering = ["-created_at"]

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("bundle")


@admin.register(Customer)
class CustomerAdmin(ScaleSafeAdminMixin, ReadOnlyAdmin):
    list_display = ("phone_number", "email", "created_at")
    search_fields = ("=phone_number", "email", "=id", "orders__esim__iccid")
    search_lookups = {
        "phone": ["phone_number"],
        "partial_phone": ["phone_number__contains"],
        "email": ["email__icontains"],
        "uuid": ["id"],
        "long_number": ["orders__esim__iccid"],
        "text": ["email__icontains"],
    }
    # No date_hierarchy: its year links come from SELECT DISTINCT date_trunc(...) over the whole
    # table (200 ms at 100k rows, seconds at 1M); the created_at list filter covers the same need.
    fields = ("id", "phone_number", "email", "created_at", "updated_at")
    readonly_fields = fields
    inlines = [InvoiceInline]


class NeedsStaffFilter(admin.SimpleListFilter):
    title = _("needs staff")
    parameter_name = "needs_staff"

    def lookups(self, request, model_admin):
        return [("1", _("flagged payments")), ("refund", _("refund to check")), ("ebarimt", _("e-barimt failed"))]

    def queryset(self, request, queryset):
        if self.value() == "1":
            return queryset.filter(needs_staff_attention=True)
        if self.value() == "refund":
            return queryset.filter(refunds__status__in=Refund.NEEDS_STAFF_STATUSES).distinct()
        if self.value() == "ebarimt":
            return queryset.filter(ebarimt__status__in=EbarimtReceipt.NEEDS_STAFF_STATUSES)
        return queryset


@admin.register(Invoice)
class InvoiceAdmin(ScaleSafeAdminMixin, admin.ModelAdmin):
    list_display = (
        "sender_invoice_no",
        "status",
        "amount_mnt",
        "paid_amount",
        "phone",
        "email",
        "bundle",
        "needs_staff_attention",
        "created_at",
    )
    list_filter = ("status", NeedsStaffFilter, "needs_staff_attention", "created_at")
    list_select_related = ("customer", "bundle")
    # No date_hierarchy: its year links come from SELECT DISTINCT date_trunc(...) over the whole
    # table (200 ms at 100k rows, seconds at 1M); the created_at list filter covers the same need.
    search_fields = (
        "=id",
        "sender_invoice_no",
        "=qpay_invoice_id",
        "=customer__phone_number",
        "customer__email",
        "=payments__qpay_payment_id",
        "=order__esim__iccid",
        "=order__esimgo_order_reference",
        "=topup_iccid",
    )
    search_lookups = {  # staff/search.py: each tried on its own index
        "phone": ["customer__phone_number"],
        "partial_phone": ["customer__phone_number__contains"],
        "email": ["customer__email__icontains"],
        "long_number": ["payments__qpay_payment_id", "order__esim__iccid", "topup_iccid"],
        "uuid": ["id", "qpay_invoice_id", "order__esimgo_order_reference"],
        "text": [
            "qpay_invoice_id",
            "payments__qpay_payment_id",
            "order__esimgo_order_reference",
            "customer__email__icontains",
        ],
        "upper_text": ["sender_invoice_no"],
    }
    raw_id_fields = ("customer", "bundle")
    # Only the staff flag is editable; everything else is QPay's record or the state machine's.
    readonly_fields = [
        f.name
        for f in Invoice._meta.fields
        if f.name not in ("needs_staff_attention", "staff_attention_reason", "qr_image")
    ]
    exclude = ("qr_image",)
    change_form_template = "staff/admin/purchase_change_form.html"
    actions = ["verify_now", "accept_late_payment", "cancel_pending"]

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("customer", "bundle")

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    @admin.display(description=_("phone"), ordering="customer__phone_number")
    def phone(self, obj):
        return obj.customer.phone_number

    @admin.display(description=_("e-mail"), ordering="customer__email")
    def email(self, obj):
        return obj.customer.email

    def get_urls(self):
        return admin_views.invoice_urls(self) + super().get_urls()

    def change_view(self, request, object_id, form_url="", extra_context=None):
        invoice = self.get_object(request, object_id)
        extra = dict(extra_context or {})
        if invoice is not None:
            extra.update(invoice_panels(invoice))
            extra["staff_buttons"] = admin_views.buttons_for_invoice(request, invoice)
        return super().change_view(request, object_id, form_url, extra_context=extra)

    def save_model(self, request, obj, form, change):
        super().save_model(request, obj, form, change)
        if change and form.changed_data:
            record_staff_action(
                request.user,
                "invoice.flag_edit",
                obj,
                fields=form.changed_data,
                needs_staff_attention=obj.needs_staff_attention,
                reason=obj.staff_attention_reason,
            )

    @admin.action(description=_("Re-check payment at QPay now"), permissions=["recheck"])
    def verify_now(self, request, queryset):
        for invoice in queryset[:50]:
            result = invoice_actions.recheck_payment(request.user, invoice.pk)
            self.message_user(request, f"{invoice.sender_invoice_no}: {result.message}", result.level)

    @admin.action(
        description=_("Accept a late payment (expired/cancelled but paid): deliver the eSIM"), permissions=["refund"]
    )
    def accept_late_payment(self, request, queryset):
        for invoice in queryset[:50]:
            try:
                verification.accept_late_payment(invoice.pk, actor=actor_name(request.user))
            except services.IllegalTransition as exc:
                record_staff_action(
                    request.user, "invoice.accept_late_payment", invoice, outcome="REFUSED", message=str(exc)
                )
                self.message_user(request, f"{invoice.sender_invoice_no}: {exc}", level=messages.WARNING)
            else:
                record_staff_action(request.user, "invoice.accept_late_payment", invoice)
                self.message_user(request, f"{invoice.sender_invoice_no}: accepted")

    @admin.action(description=_("Cancel unpaid invoices (here and at QPay)"), permissions=["cancel"])
    def cancel_pending(self, request, queryset):
        for invoice in queryset[:50]:
            result = invoice_actions.cancel_unpaid_invoice(request.user, invoice.pk)
            self.message_user(request, f"{invoice.sender_invoice_no}: {result.message}", result.level)

    def has_recheck_permission(self, request):
        return request.user.has_perm("payments.recheck_payment")

    def has_refund_permission(self, request):
        return request.user.has_perm("payments.refund_payment")

    def has_cancel_permission(self, request):
        return request.user.has_perm("payments.cancel_invoice_at_qpay")


@admin.register(Payment)
class PaymentAdmin(ReadOnlyAdmin):
    list_display = ("qpay_payment_id", "invoice", "status", "amount", "payment_type", "paid_at", "first_seen_at")
    list_filter = ("status", "payment_type", "first_seen_at")
    list_select_related = ("invoice",)
    search_fields = (
        "=qpay_payment_id",
        "invoice__sender_invoice_no",
        "=invoice__qpay_invoice_id",
        "=invoice__customer__phone_number",
        "invoice__customer__email",
    )
    readonly_fields = [f.name for f in Payment._meta.fields]


@admin.register(QPayCallback)
class QPayCallbackAdmin(ReadOnlyAdmin):
    list_display = ("received_at", "invoice", "method", "qpay_payment_id", "outcome", "remote_addr")
    list_filter = ("outcome", "method", "received_at")
    list_select_related = ("invoice",)
    search_fields = ("=qpay_payment_id", "invoice__sender_invoice_no", "=invoice__qpay_invoice_id", "query_string")
    readonly_fields = [f.name for f in QPayCallback._meta.fields]


@admin.register(InvoiceTransition)
class InvoiceTransitionAdmin(ReadOnlyAdmin):
    list_display = ("created_at", "invoice", "name", "from_status", "to_status", "actor", "cause")
    list_filter = ("name", "to_status", "created_at")
    list_select_related = ("invoice",)
    search_fields = ("invoice__sender_invoice_no", "=invoice__id", "actor", "cause")
    readonly_fields = [f.name for f in InvoiceTransition._meta.fields]


@admin.register(Refund)
class RefundAdmin(ReadOnlyAdmin):
    list_display = (
        "id",
        "created_at",
        "invoice",
        "amount_mnt",
        "method",
        "status",
        "esimgo_outcome",
        "requested_by_username",
    )
    list_filter = ("status", "method", "esimgo_outcome", "created_at")
    list_select_related = ("invoice", "payment")
    search_fields = (
        "=payment__qpay_payment_id",
        "invoice__sender_invoice_no",
        "=invoice__customer__phone_number",
        "invoice__customer__email",
        "requested_by_username",
        "note",
    )
    readonly_fields = [f.name for f in Refund._meta.fields]
    change_form_template = "staff/admin/purchase_change_form.html"

    def get_urls(self):
        return admin_views.refund_urls(self) + super().get_urls()

    def change_view(self, request, object_id, form_url="", extra_context=None):
        refund = self.get_object(request, object_id)
        buttons = []
        if refund is not None and request.user.has_perm("payments.refund_payment"):
            from django.urls import reverse

            if refund.status in Refund.NEEDS_STAFF_STATUSES:
                buttons.append(
                    {
                        "label": _("Check refund at QPay"),
                        "method": "post",
                        "url": reverse("admin:payments_refund_check", args=[refund.pk]),
                    }
                )
            if refund.esimgo_outcome == Refund.ESIMGoOutcome.FAILED:
                buttons.append(
                    {
                        "label": _("Try the eSIM Go revoke again"),
                        "method": "post",
                        "url": reverse("admin:payments_refund_revoke", args=[refund.pk]),
                    }
                )
        return super().change_view(
            request, object_id, form_url, extra_context={**(extra_context or {}), "staff_buttons": buttons}
        )


@admin.register(EbarimtReceipt)
class EbarimtReceiptAdmin(ReadOnlyAdmin):
    list_display = ("invoice", "status", "receiver_type", "lottery", "attempts", "last_error", "issued_at")
    list_filter = ("status", "receiver_type")
    list_select_related = ("invoice",)
    search_fields = ("invoice__sender_invoice_no", "=invoice__id", "lottery", "receipt_id", "receiver")
    readonly_fields = [f.name for f in EbarimtReceipt._meta.fields]
