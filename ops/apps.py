from django.apps import AppConfig


class OpsConfig(AppConfig):
    """Running the shop: heartbeats, readiness, the watchdog's alerts, metrics, the daily report.

    At the top of the dependency chain (it reads every other app; nothing imports it but urls
    and settings)."""

    default_auto_field = "django.db.models.BigAutoField"
    name = "ops"
    verbose_name = "Operations"
