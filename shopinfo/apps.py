from django.apps import AppConfig


class ShopinfoConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "shopinfo"
    verbose_name = "Help, policies and devices"

    def ready(self):
        from shopinfo import checks  # noqa: F401 - registers the business-details check
