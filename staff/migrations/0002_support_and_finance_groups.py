"""The two staff groups and what they may do (see staff/actions/__init__.py for the action → permission map).

support: view everything staff work with, re-check payments at QPay, retry provisioning.
finance: all of that, plus refunds, cancelling unpaid invoices, manual delivery and reconciliation.
Re-running is harmless: permissions are added, never removed (an admin may have added more).
"""
from django.db import migrations

VIEW = {
    "payments": ["customer", "invoice", "payment", "qpaycallback", "invoicetransition", "refund", "ebarimtreceipt"],
    "orders": ["order", "esim", "ordertransition", "provisioningattempt", "emaillog", "esimgocallback"],
    "catalog": ["bundle", "country", "region"],
    "staff": ["staffaction", "reconciliationrun", "reconciliationmismatch"],
}
SUPPORT_EXTRA = [("payments", "recheck_payment"), ("orders", "retry_provisioning")]
FINANCE_EXTRA = [
    ("payments", "refund_payment"), ("payments", "cancel_invoice_at_qpay"), ("orders", "deliver_manually"),
    ("staff", "add_reconciliationrun"), ("staff", "export_reconciliation"), ("staff", "change_reconciliationmismatch"),
]


def _permissions(apps, pairs):
    Permission = apps.get_model("auth", "Permission")
    found = []
    for app_label, codename in pairs:
        permission = Permission.objects.filter(content_type__app_label=app_label, codename=codename).first()
        if permission is None:
            raise RuntimeError(f"permission {app_label}.{codename} missing")
        found.append(permission)
    return found


def create_groups(apps, schema_editor):
    from django.apps import apps as global_apps
    from django.contrib.auth.management import create_permissions

    # Permissions are normally created after all migrations (post_migrate); make them exist now.
    for label in ("payments", "orders", "catalog", "staff"):
        create_permissions(global_apps.get_app_config(label), verbosity=0, apps=apps)
    Group = apps.get_model("auth", "Group")
    views = [(app, f"view_{model}") for app, models in VIEW.items() for model in models]
    support, _ = Group.objects.get_or_create(name="support")
    support.permissions.add(*_permissions(apps, views + SUPPORT_EXTRA))
    finance, _ = Group.objects.get_or_create(name="finance")
    finance.permissions.add(*_permissions(apps, views + SUPPORT_EXTRA + FINANCE_EXTRA))


def remove_groups(apps, schema_editor):
    apps.get_model("auth", "Group").objects.filter(name__in=["support", "finance"]).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("staff", "0001_initial"),
        ("payments", "0002_refunds_and_ebarimt"),
        ("orders", "0004_staff_permissions"),
        ("catalog", "0001_initial"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]

    operations = [migrations.RunPython(create_groups, remove_groups)]
