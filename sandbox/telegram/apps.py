from django.apps import AppConfig


class SandboxTelegramConfig(AppConfig):
    name = "sandbox.telegram"
    label = "sandbox_telegram"
    default_auto_field = "django.db.models.BigAutoField"
