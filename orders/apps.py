from django.apps import AppConfig


class OrdersConfig(AppConfig):
    name = "orders"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self):
        # orders takes paid invoices through payments' one hand-off (payments never imports orders).
        from orders import receivers  # noqa: F401  # app registry must be ready before models load
