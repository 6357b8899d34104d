"""Telegram in the admin: shoppers, the raw update inbox, bot messages, and which orders came
through Telegram (a column and a filter on the order list; orders itself knows nothing of it)."""

from django.contrib import admin
from django.db.models import Exists, OuterRef
from django.utils.translation import gettext_lazy as _

from orders.models import Order
from staff.admin_base import ReadOnlyAdmin
from telegram.models import BotMessage, TelegramPurchase, TelegramUpdate, TelegramUser


@admin.register(TelegramUser)
class TelegramUserAdmin(ReadOnlyAdmin):
    list_display = (
        "telegram_id",
        "username",
        "first_name",
        "language_code",
        "phone_verified_at",
        "blocked_at",
        "created_at",
    )
    search_fields = ("=telegram_id", "username", "phone_number")
    list_filter = ("language_code",)


@admin.register(TelegramUpdate)
class TelegramUpdateAdmin(ReadOnlyAdmin):
    list_display = ("update_id", "kind", "received_at", "processed_at", "result")
    list_filter = ("kind",)
    search_fields = ("=update_id",)


@admin.register(BotMessage)
class BotMessageAdmin(ReadOnlyAdmin):
    list_display = ("created_at", "kind", "telegram_user", "order", "status", "attempts", "sent_at", "last_error")
    list_filter = ("status", "kind")
    list_select_related = ("telegram_user", "order")


@admin.register(TelegramPurchase)
class TelegramPurchaseAdmin(ReadOnlyAdmin):
    list_display = ("created_at", "invoice", "telegram_user")
    list_select_related = ("invoice", "telegram_user")
    search_fields = ("=invoice__id", "=telegram_user__telegram_id")


class ViaTelegramFilter(admin.SimpleListFilter):
    title = _("channel")
    parameter_name = "channel"

    def lookups(self, request, model_admin):
        return [("telegram", _("Telegram")), ("web", _("Web"))]

    def queryset(self, request, queryset):
        if self.value() == "telegram":
            return queryset.filter(via_telegram=True)
        if self.value() == "web":
            return queryset.filter(via_telegram=False)
        return queryset


def _telegram_aware(base):
    class TelegramAwareOrderAdmin(base):
        list_display = (*base.list_display, "via_telegram")
        list_filter = (ViaTelegramFilter, *base.list_filter)

        def get_queryset(self, request):
            linked = TelegramPurchase.objects.filter(invoice_id=OuterRef("invoice_id"))
            return super().get_queryset(request).annotate(via_telegram=Exists(linked))

        @admin.display(description=_("Telegram"), boolean=True, ordering="via_telegram")
        def via_telegram(self, obj):
            return obj.via_telegram

    TelegramAwareOrderAdmin.__name__ = base.__name__
    return TelegramAwareOrderAdmin


if admin.site.is_registered(Order):
    _order_admin = type(admin.site._registry[Order])
    admin.site.unregister(Order)
    admin.site.register(Order, _telegram_aware(_order_admin))
