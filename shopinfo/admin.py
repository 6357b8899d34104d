from django.contrib import admin

from shopinfo.models import Device, HelpPage


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
