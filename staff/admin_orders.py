"""Orders admin: read-only history; state changes only through staff actions (staff/actions/)."""

from datetime import timedelta

from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.db.models import Exists, OuterRef, Q
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _
from django_countries import countries

from catalog.models import BundleCountry
from orders.models import EmailLog, ESim, ESIMGoCallback, MagicLinkToken, Order, OrderTransition, ProvisioningAttempt
from staff import admin_views
from staff.actions import orders as order_actions
from staff.admin_base import ReadOnlyAdmin, ReadOnlyInline
from staff.audit import record_staff_action
from staff.panels import purchase_panels
from staff.search import IndexedSearchMixin, ScaleSafeAdminMixin

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
        # Three small sets, each found by its own index, then united: one OR across the invoice
        # join would make PostgreSQL scan every order (seconds with a million of them).
        stuck = Q(
            status__in=[Order.Status.PAID, Order.Status.PROVISIONING], created_at__lt=timezone.now() - STUCK_AFTER
        )
        ids = set(
            Order.objects.filter(Q(status=Order.Status.NEEDS_ATTENTION) | stuck).order_by().values_list("pk", flat=True)
        )
        ids.update(Order.objects.filter(invoice__needs_staff_attention=True).order_by().values_list("pk", flat=True))
        return queryset.filter(pk__in=ids)


class CountryFilter(admin.SimpleListFilter):
    """The destination: orders whose bundle covers the country (as its base, not only roaming)."""

    title = _("country")
    parameter_name = "country"

    def lookups(self, request, model_admin):
        # EXISTS per bundle (one probe of the orders' bundle index each), not a join of every order.
        sold = Exists(Order.objects.filter(bundle_id=OuterRef("bundle_id")))
        codes = (
            BundleCountry.objects.filter(sold, kind=BundleCountry.Kind.BASE)
            .values_list("country_id", flat=True)
            .distinct()
            .order_by("country_id")
        )
        return [(code, f"{countries.name(code)} ({code})") for code in codes]

    def queryset(self, request, queryset):
        if not self.value():
            return queryset
        bundles = BundleCountry.objects.filter(kind=BundleCountry.Kind.BASE, country_id=self.value()).values(
            "bundle_id"
        )
        return queryset.filter(bundle_id__in=bundles)


@admin.register(Order)
class OrderAdmin(ScaleSafeAdminMixin, ReadOnlyAdmin):
    list_display = (
        "public_id",
        "status",
        "kind",
        "phone",
        "email",
        "bundle",
        "iccid",
        "amount",
        "created_at",
        "delivered_at",
    )
    list_filter = (NeedsAttentionFilter, "status", "kind", CountryFilter, "created_at")
    list_select_related = ("customer", "bundle", "esim", "invoice")
    # No date_hierarchy: its year links come from SELECT DISTINCT date_trunc(...) over the whole
    # table (200 ms at 100k rows, seconds at 1M); the created_at list filter covers the same need.
    search_fields = (
        "=public_id",
        "=customer__phone_number",
        "customer__email",
        "=esim__iccid",
        "=topup_iccid",
        "=invoice__qpay_invoice_id",
        "=invoice__sender_invoice_no",
        "=invoice__payments__qpay_payment_id",
        "=esimgo_order_reference",
        "=attempts__esimgo_order_reference",
    )
    search_lookups = {  # staff/search.py: each tried on its own index
        "phone": ["customer__phone_number"],
        "partial_phone": ["customer__phone_number__contains"],
        "email": ["customer__email__icontains"],
        "long_number": ["esim__iccid", "topup_iccid", "invoice__payments__qpay_payment_id"],
        "uuid": [
            "public_id",
            "invoice_id",
            "invoice__qpay_invoice_id",
            "esimgo_order_reference",
            "attempts__esimgo_order_reference",
        ],
        "text": [
            "invoice__qpay_invoice_id",
            "invoice__payments__qpay_payment_id",
            "esimgo_order_reference",
            "attempts__esimgo_order_reference",
            "customer__email__icontains",
        ],
        "upper_text": ["invoice__sender_invoice_no"],
    }
    search_help_text = _("Phone, e-mail, ICCID, QPay invoice or payment id, eSIM Go order reference, order id.")
    fields = (
        "public_id",
        "status",
        "kind",
        "bundle",
        "customer",
        "invoice",
        "esim",
        "topup_iccid",
        "language",
        "esimgo_order_reference",
        "esimgo_order",
        "attention_reason",
        "created_at",
        "updated_at",
        "delivered_at",
    )
    readonly_fields = fields
    inlines = [OrderTransitionInline, ProvisioningAttemptInline, EmailLogInline]
    change_form_template = "staff/admin/purchase_change_form.html"
    actions = ["retry_provisioning", "buy_again"]

    def get_queryset(self, request):
        return (
            super().get_queryset(request).select_related("customer", "bundle", "esim", "invoice", "invoice__customer")
        )

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
            result = order_actions.retry_provisioning(request.user, order.pk)
            self.message_user(request, f"{order.public_id}: {result.message}", result.level)

    def has_retry_permission(self, request):
        return request.user.has_perm("orders.retry_provisioning")

    @admin.action(
        description=_("Buy again at eSIM Go (risk: a second paid eSIM Go order if the first purchase appears late)"),
        permissions=["buy_again"],
    )
    def buy_again(self, request, queryset):
        for order in queryset[:20]:
            result = order_actions.buy_again(request.user, order.pk)
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
class ESimAdmin(IndexedSearchMixin, ReadOnlyAdmin):
    list_display = ("iccid", "phone", "email", "created_at", "customer_ref_set_at")
    list_select_related = ("customer",)
    search_fields = ("=iccid", "=customer__phone_number", "customer__email")
    # The activation code is shown masked; finance (orders.reveal_activation_code) and superusers
    # reveal it through reveal_view, which records each reveal in the audit trail.
    search_lookups = {
        "long_number": ["iccid"],
        "phone": ["customer__phone_number"],
        "partial_phone": ["customer__phone_number__contains"],
        "email": ["customer__email__icontains"],
        "text": ["customer__email__icontains"],
    }
    fields = ("iccid", "activation_code", "smdp_address", "customer", "customer_ref_set_at", "created_at")
    readonly_fields = fields
    inlines = [OrderInline]

    @admin.display(description=_("activation code"))
    def activation_code(self, obj):
        url = reverse("admin:orders_esim_reveal", args=[obj.pk])
        return format_html('{} <a href="{}">{}</a>', obj.masked_matching_id, url, _("Reveal (recorded)"))

    def get_urls(self):
        return [
            path("<int:esim_id>/reveal/", self.admin_site.admin_view(self.reveal_view), name="orders_esim_reveal"),
            *super().get_urls(),
        ]

    def reveal_view(self, request, esim_id):
        if not request.user.has_perm("orders.reveal_activation_code"):
            raise PermissionDenied
        esim = get_object_or_404(ESim, pk=esim_id)
        if request.method != "POST":
            return TemplateResponse(
                request,
                "orders/admin/reveal_code.html",
                {
                    **self.admin_site.each_context(request),
                    "esim": esim,
                    "revealed": False,
                    "title": _("Reveal activation code"),
                },
            )
        record_staff_action(request.user, "esim.reveal_activation_code", esim)
        response = TemplateResponse(
            request,
            "orders/admin/reveal_code.html",
            {
                **self.admin_site.each_context(request),
                "esim": esim,
                "revealed": True,
                "title": _("Reveal activation code"),
            },
        )
        response["Cache-Control"] = "private, no-store"
        return response

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
