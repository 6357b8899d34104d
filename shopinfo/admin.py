from django.contrib import admin

from shopinfo import business
from shopinfo.models import BusinessDetails, Device, HelpPage


@admin.register(HelpPage)
class HelpPageAdmin(admin.ModelAdmin):
    list_display = ("slug", "title_mn", "title_en", "in_footer", "is_published", "sort_order", "updated_at")
    list_editable = ("in_footer", "is_published", "sort_order")
    search_fields = ("slug", "title_mn", "title_en", "body_mn", "body_en")
    fieldsets = (
        (None, {"fields": ("slug", "sort_order", "in_footer", "is_published")}),
        ("Монгол", {"fields": ("title_mn", "summary_mn", "body_mn")}),
        ("English", {"fields": ("title_en", "summary_en", "body_en")}),
    )


@admin.register(Device)
class DeviceAdmin(admin.ModelAdmin):
    list_display = ("brand", "model_name", "note_mn", "is_listed", "sort_order")
    list_filter = ("brand", "is_listed")
    list_editable = ("is_listed", "sort_order")
    search_fields = ("model_name", "note_mn", "note_en")


@admin.register(BusinessDetails)
class BusinessDetailsAdmin(admin.ModelAdmin):
    """One row: no adding a second one, no deleting it (the pages need it)."""

    list_display = ("__str__", "company_name", "email", "phone", "refund_working_days", "placeholders", "updated_at")
    readonly_fields = ("placeholders",)
    fieldsets = (
        (None, {"fields": ("placeholders",)}),
        ("Company", {"fields": ("company_name", "registration_number", "address_mn", "address_en")}),
        ("Contact", {"fields": ("phone", "email", "messenger_url", "telegram_url", "hours_mn", "hours_en")}),
        ("Refunds", {"fields": ("refund_working_days", "refund_days_confirmed")}),
    )

    @admin.display(description="Still placeholders")
    def placeholders(self, obj):
        labels = business.placeholder_labels(obj) if obj is not None else []
        return ", ".join(labels) or "none"

    def has_add_permission(self, request):
        return not BusinessDetails.objects.exists()

    def has_delete_permission(self, request, obj=None):
        return False
