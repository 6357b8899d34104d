from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class StaffConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "staff"
    verbose_name = _("Staff console")

    def ready(self):
        # In ready(), not at module level: signals imports the audit log's model, loadable only now.
        from staff import signals  # noqa: F401 - records staff sign-ins in the audit log
