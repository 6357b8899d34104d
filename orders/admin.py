"""Admin for orders: read-mostly; state changes only through the named staff services."""
from django.contrib import admin, messages

from orders import services
from orders.models import EmailLog, ESim, ESIMGoCallback, InvalidTransition, MagicLinkToken, Order, OrderTransition, ProvisioningAttempt


class OrderTransitionInline(admin.TabularInline):
    model = OrderTransition
    extra = 0
    can_delete = False
    readonly_fields = ("created_at", "name", "from_status", "to_status", "actor", "actor_user", "cause")
    fields = readonly_fields

    def has_add_permission(self, request, obj=None):
        return False


class ProvisioningAttemptInline(admin.TabularInline):
    model = ProvisioningAttempt
    extra = 0
    can_delete = False
    readonly_fields = ("started_at", "finished_at", "marker", "outcome", "actor", "esimgo_order_reference", "adopted", "error")
    fields = readonly_fields

    def has_add_permission(self, request, obj=None):
        return False


class EmailLogInline(admin.TabularInline):
    model = EmailLog
    extra = 0
    can_delete = False
    readonly_fields = ("created_at", "kind", "event_key", "to", "status", "attempts", "sent_at", "last_error")
    fields = readonly_fields

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(Order)
class OrderAdmin(admin.ModelAdmin):
    list_display = ("public_id", "status", "kind", "bundle", "customer", "esim", "created_at", "delivered_at")
    list_filter = ("status", "kind")
    search_fields = ("public_id", "esim__iccid", "esimgo_order_reference", "customer__email", "customer__phone_number", "invoice__id")
    readonly_fields = (
        "public_id", "invoice", "bundle", "customer", "kind", "topup_iccid", "status", "language", "esim",
        "esimgo_order_reference", "esimgo_order", "attention_reason", "created_at", "updated_at", "delivered_at",
    )
    inlines = [OrderTransitionInline, ProvisioningAttemptInline, EmailLogInline]
    actions = ["retry_provisioning", "mark_refunded"]

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    @admin.action(description="Retry provisioning (orders needing attention)")
    def retry_provisioning(self, request, queryset):
        for order in queryset:
            try:
                services.staff_retry_provisioning(order.pk, user=request.user)
            except InvalidTransition as exc:
                self.message_user(request, str(exc), messages.WARNING)

    @admin.action(description="Mark refunded (after refunding the shopper)")
    def mark_refunded(self, request, queryset):
        for order in queryset:
            try:
                services.staff_mark_refunded(order.pk, user=request.user)
            except InvalidTransition as exc:
                self.message_user(request, str(exc), messages.WARNING)


@admin.register(ESim)
class ESimAdmin(admin.ModelAdmin):
    list_display = ("iccid", "customer", "created_at", "customer_ref_set_at")
    search_fields = ("iccid", "customer__email")
    readonly_fields = ("iccid", "matching_id", "smdp_address", "customer", "customer_ref_set_at", "created_at")


@admin.register(EmailLog)
class EmailLogAdmin(admin.ModelAdmin):
    list_display = ("created_at", "kind", "order", "status", "attempts", "sent_at")
    list_filter = ("kind", "status")
    readonly_fields = [f.name for f in EmailLog._meta.fields]


@admin.register(ESIMGoCallback)
class ESIMGoCallbackAdmin(admin.ModelAdmin):
    list_display = ("received_at", "alert_type", "iccid", "processed_at", "result")
    list_filter = ("alert_type",)
    search_fields = ("iccid",)
    readonly_fields = [f.name for f in ESIMGoCallback._meta.fields]


@admin.register(MagicLinkToken)
class MagicLinkTokenAdmin(admin.ModelAdmin):
    list_display = ("email", "created_at", "expires_at", "sent_at", "skipped", "used_at", "request_ip")
    exclude = ("token_hash",)
    readonly_fields = ("email", "created_at", "expires_at", "sent_at", "skipped", "used_at", "request_ip")
