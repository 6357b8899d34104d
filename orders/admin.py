"""Orders admin: read-only history; state changes only through staff actions (staff/actions.py)."""
from datetime import timedelta

from django.contrib import admin
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from orders.models import EmailLog, ESim, ESIMGoCallback, MagicLinkToken, Order, OrderTransition, ProvisioningAttempt
from staff import actions as staff_actions
from staff import admin_views
from staff.admin_base import ReadOnlyAdmin, ReadOnlyInline
from staff.panels import purchase_panels

STUCK_AFTER = timedelta(minutes=15)


class OrderTransitionInline(ReadOnlyInline):
    model = OrderTransition
    verbose_name_plural = _("order history (every transition)")
    fields = ("created_at", "name", "from_status", "to_status", "actor", "actor_user", "cause")
    readonly_fields = fields

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("actor_user")


class ProvisioningAttemptInline(ReadOnlyInline):
    model = ProvisioningAttempt
    verbose_name_plural = _("eSIM Go calls made (provisioning attempts)")
    fields = ("started_at", "finished_at", "outcome", "actor", "esimgo_order_reference", "adopted", "response", "error")
    readonly_fields = fields


class EmailLogInline(ReadOnlyInline):
    model = EmailLog
    verbose_name_plural = _("e-mails")
    fields = ("created_at", "kind", "event_key", "to", "status", "attempts", "sent_at", "last_error")
    readonly_fields = fields


class NeedsAttentionFilter(admin.SimpleListFilter):
    title = _("needs attention")
    parameter_name = "attention"

    def lookups(self, request, model_admin):
        return [("1", _("yes: flagged, stuck or payment issue"))]

    def queryset(self, request, queryset):
        if self.value() != "1":
            return queryset
        stuck = Q(status__in=[Order.Status.PAID, Order.Status.PROVISIONING], created_at__lt=timezone.now() - STUCK_AFTER)
        return queryset.filter(Q(status=Order.Status.NEEDS_ATTENTION) | stuck | Q(invoice__needs_staff_attention=True))


class CountryFilter(admin.SimpleListFilter):
    """The destination: orders whose bundle covers the country (as its base, not only roaming)."""

    title = _("country")
    parameter_name = "country"

    def lookups(self, request, model_admin):
        from catalog.models import BundleCountry

        codes = (BundleCountry.objects.filter(kind=BundleCountry.Kind.BASE, bundle__orders__isnull=False)
                 .values_list("country_id", flat=True).distinct().order_by("country_id"))
        from django_countries import countries

        return [(code, f"{countries.name(code)} ({code})") for code in codes]

    def queryset(self, request, queryset):
        if not self.value():
            return queryset
        from catalog.models import BundleCountry

        bundles = BundleCountry.objects.filter(kind=BundleCountry.Kind.BASE, country_id=self.value()).values("bundle_id")
        return queryset.filter(bundle_id__in=bundles)


@admin.register(Order)
class OrderAdmin(ReadOnlyAdmin):
    list_display = ("public_id", "status", "kind", "phone", "email", "bundle", "iccid", "amount", "created_at",
                    "delivered_at")
    list_filter = (NeedsAttentionFilter, "status", "kind", CountryFilter, "created_at")
    list_select_related = ("customer", "bundle", "esim", "invoice")
    date_hierarchy = "created_at"
    search_fields = (
        "=public_id", "=customer__phone_number", "customer__email", "=esim__iccid", "=topup_iccid",
        "=invoice__qpay_invoice_id", "=invoice__sender_invoice_no", "=invoice__payments__qpay_payment_id",
        "=esimgo_order_reference", "=attempts__esimgo_order_reference",
    )
    search_help_text = _("Phone, e-mail, ICCID, QPay invoice or payment id, eSIM Go order reference, order id.")
    fields = ("public_id", "status", "kind", "bundle", "customer", "invoice", "esim", "topup_iccid", "language",
              "esimgo_order_reference", "esimgo_order", "attention_reason", "created_at", "updated_at", "delivered_at")
    readonly_fields = fields
    inlines = [OrderTransitionInline, ProvisioningAttemptInline, EmailLogInline]
    change_form_template = "staff/admin/purchase_change_form.html"
    actions = ["retry_provisioning", "buy_again"]

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("customer", "bundle", "esim", "invoice",
                                                             "invoice__customer")

    @admin.display(description=_("phone"), ordering="customer__phone_number")
    def phone(self, obj):
        return obj.customer.phone_number

    @admin.display(description=_("e-mail"), ordering="customer__email")
    def email(self, obj):
        return obj.customer.email

    @admin.display(description="ICCID", ordering="esim__iccid")
    def iccid(self, obj):
        return obj.esim.iccid if obj.esim_id else obj.topup_iccid or "—"

    @admin.display(description=_("amount (₮)"), ordering="invoice__amount_mnt")
    def amount(self, obj):
        return f"{obj.invoice.amount_mnt:,}"

    def get_urls(self):
        return admin_views.order_urls(self) + super().get_urls()

    def change_view(self, request, object_id, form_url="", extra_context=None):
        order = self.get_object(request, object_id)
        extra = dict(extra_context or {})
        if order is not None:
            extra.update(purchase_panels(order.invoice, order))
            extra["staff_buttons"] = admin_views.buttons_for_order(request, order)
        return super().change_view(request, object_id, form_url, extra_context=extra)

    @admin.action(description=_("Retry provisioning"), permissions=["retry"])
    def retry_provisioning(self, request, queryset):
        for order in queryset[:50]:
            result = staff_actions.retry_provisioning(request.user, order.pk)
            self.message_user(request, f"{order.public_id}: {result.message}", result.level)

    def has_retry_permission(self, request):
        return request.user.has_perm("orders.retry_provisioning")

    @admin.action(description=_("Buy again at eSIM Go (risk: a second paid eSIM Go order if the first purchase "
                                "appears late)"), permissions=["buy_again"])
    def buy_again(self, request, queryset):
        for order in queryset[:20]:
            result = staff_actions.buy_again(request.user, order.pk)
            self.message_user(request, f"{order.public_id}: {result.message}", result.level)

    def has_buy_again_permission(self, request):
        return request.user.has_perm("orders.deliver_manually")


class OrderInline(ReadOnlyInline):
    model = Order
    fk_name = "esim"
    fields = ("public_id", "status", "kind", "bundle", "created_at", "delivered_at")
    readonly_fields = fields
    show_change_link = True

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("bundle")


@admin.register(ESim)
class ESimAdmin(ReadOnlyAdmin):
    list_display = ("iccid", "phone", "email", "created_at", "customer_ref_set_at")
    list_select_related = ("customer",)
    search_fields = ("=iccid", "=customer__phone_number", "customer__email")
    fields = ("iccid", "matching_id", "smdp_address", "customer", "customer_ref_set_at", "created_at")
    readonly_fields = fields
    inlines = [OrderInline]

    @admin.display(description=_("phone"))
    def phone(self, obj):
        return obj.customer.phone_number

    @admin.display(description=_("e-mail"))
    def email(self, obj):
        return obj.customer.email


@admin.register(ProvisioningAttempt)
class ProvisioningAttemptAdmin(ReadOnlyAdmin):
    list_display = ("started_at", "order", "outcome", "actor", "esimgo_order_reference", "adopted", "finished_at")
    list_filter = ("outcome", "adopted", "started_at")
    list_select_related = ("order",)
    search_fields = ("=esimgo_order_reference", "=marker", "=order__public_id", "error")
    readonly_fields = [f.name for f in ProvisioningAttempt._meta.fields]


@admin.register(OrderTransition)
class OrderTransitionAdmin(ReadOnlyAdmin):
    list_display = ("created_at", "order", "name", "from_status", "to_status", "actor", "cause")
    list_filter = ("name", "to_status", "created_at")
    list_select_related = ("order",)
    search_fields = ("=order__public_id", "actor", "cause")
    readonly_fields = [f.name for f in OrderTransition._meta.fields]


@admin.register(EmailLog)
class EmailLogAdmin(ReadOnlyAdmin):
    list_display = ("created_at", "kind", "order", "to", "status", "attempts", "sent_at")
    list_filter = ("kind", "status")
    list_select_related = ("order",)
    search_fields = ("to", "=order__public_id")
    readonly_fields = [f.name for f in EmailLog._meta.fields]


@admin.register(ESIMGoCallback)
class ESIMGoCallbackAdmin(ReadOnlyAdmin):
    list_display = ("received_at", "alert_type", "iccid", "processed_at", "result")
    list_filter = ("alert_type",)
    search_fields = ("=iccid",)
    readonly_fields = [f.name for f in ESIMGoCallback._meta.fields]


@admin.register(MagicLinkToken)
class MagicLinkTokenAdmin(ReadOnlyAdmin):
    list_display = ("email", "created_at", "expires_at", "sent_at", "skipped", "used_at", "request_ip")
    search_fields = ("email",)
    exclude = ("token_hash",)
    readonly_fields = ("email", "created_at", "expires_at", "sent_at", "skipped", "used_at", "request_ip")
