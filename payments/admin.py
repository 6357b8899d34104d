from django.contrib import admin, messages

from payments import services
from payments.models import Customer, Invoice, InvoiceTransition, Payment, QPayCallback


def _actor(request) -> str:
    return f"staff:{request.user.get_username()}"


class ReadOnlyInline(admin.TabularInline):
    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False


class TransitionInline(ReadOnlyInline):
    model = InvoiceTransition
    fields = ("created_at", "name", "from_status", "to_status", "actor", "cause")
    readonly_fields = fields


class PaymentInline(ReadOnlyInline):
    model = Payment
    fields = ("qpay_payment_id", "status", "amount", "currency", "payment_type", "paid_at", "first_seen_at")
    readonly_fields = fields


class CallbackInline(ReadOnlyInline):
    model = QPayCallback
    fields = ("received_at", "method", "qpay_payment_id", "outcome", "detail", "remote_addr")
    readonly_fields = fields


@admin.register(Customer)
class CustomerAdmin(admin.ModelAdmin):
    list_display = ("phone_number", "email", "created_at")
    search_fields = ("phone_number", "email", "id")
    readonly_fields = ("id", "created_at", "updated_at")


@admin.register(Invoice)
class InvoiceAdmin(admin.ModelAdmin):
    list_display = ("sender_invoice_no", "status", "amount_mnt", "paid_amount", "bundle", "customer",
                    "needs_staff_attention", "created_at", "expires_at")
    list_filter = ("status", "needs_staff_attention", "created_at")
    search_fields = ("id", "sender_invoice_no", "qpay_invoice_id", "customer__phone_number", "customer__email",
                     "payments__qpay_payment_id")
    raw_id_fields = ("customer", "bundle")
    readonly_fields = [f.name for f in Invoice._meta.fields if f.name not in ("needs_staff_attention", "staff_attention_reason")]
    inlines = [TransitionInline, PaymentInline, CallbackInline]
    actions = ["verify_now", "accept_late_payment", "cancel_pending"]

    def has_add_permission(self, request):
        return False

    @admin.action(description="Ask QPay now (payment/check) and apply the result")
    def verify_now(self, request, queryset):
        for invoice in queryset:
            result = services.verify_invoice_payment(invoice.pk, cause="staff check", actor=_actor(request),
                                                     recheck_paid=True)
            self.message_user(request, f"{invoice.sender_invoice_no}: {result.outcome} {result.detail}")

    @admin.action(description="Accept a late payment (expired/cancelled but paid): deliver the eSIM")
    def accept_late_payment(self, request, queryset):
        for invoice in queryset:
            try:
                services.accept_late_payment(invoice.pk, actor=_actor(request))
            except services.IllegalTransition as exc:
                self.message_user(request, f"{invoice.sender_invoice_no}: {exc}", level=messages.ERROR)
            else:
                self.message_user(request, f"{invoice.sender_invoice_no}: accepted")

    @admin.action(description="Cancel pending invoices (here and at QPay)")
    def cancel_pending(self, request, queryset):
        for invoice in queryset.filter(status=Invoice.Status.PENDING):
            services.cancel_invoice(invoice.pk, cause="cancelled by staff", actor=_actor(request))
            self.message_user(request, f"{invoice.sender_invoice_no}: cancelled")


@admin.register(Payment)
class PaymentAdmin(admin.ModelAdmin):
    list_display = ("qpay_payment_id", "invoice", "status", "amount", "payment_type", "first_seen_at")
    list_filter = ("status", "payment_type")
    search_fields = ("qpay_payment_id", "invoice__sender_invoice_no", "invoice__qpay_invoice_id")
    readonly_fields = [f.name for f in Payment._meta.fields]

    def has_add_permission(self, request):
        return False


@admin.register(QPayCallback)
class QPayCallbackAdmin(admin.ModelAdmin):
    list_display = ("received_at", "invoice", "method", "qpay_payment_id", "outcome")
    list_filter = ("outcome", "method")
    search_fields = ("qpay_payment_id", "invoice__sender_invoice_no")
    readonly_fields = [f.name for f in QPayCallback._meta.fields]

    def has_add_permission(self, request):
        return False
