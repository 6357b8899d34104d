from django.apps import AppConfig


class SandboxEsimgoConfig(AppConfig):
    name = "sandbox.esimgo"
    label = "sandbox_esimgo"
    default_auto_field = "django.db.models.BigAutoField"
