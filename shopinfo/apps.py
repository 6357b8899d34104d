from django.apps import AppConfig


class ShopinfoConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "shopinfo"
    verbose_name = "Help, policies and devices"
