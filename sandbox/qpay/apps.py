from django.apps import AppConfig


class SandboxQpayConfig(AppConfig):
    name = "sandbox.qpay"
    label = "sandbox_qpay"
    default_auto_field = "django.db.models.BigAutoField"
