"""Finance may reveal an eSIM's activation code in the admin (each reveal is audited); support
sees it masked. Superusers have every permission anyway."""
from django.db import migrations


def grant(apps, schema_editor):
    from django.apps import apps as global_apps
    from django.contrib.auth.management import create_permissions

    # Permissions are normally created after all migrations (post_migrate); make this one exist now.
    create_permissions(global_apps.get_app_config("orders"), verbosity=0, apps=apps)
    Permission = apps.get_model("auth", "Permission")
    permission = Permission.objects.get(content_type__app_label="orders", codename="reveal_activation_code")
    group, _ = apps.get_model("auth", "Group").objects.get_or_create(name="finance")
    group.permissions.add(permission)


def revoke(apps, schema_editor):
    Permission = apps.get_model("auth", "Permission")
    for permission in Permission.objects.filter(content_type__app_label="orders", codename="reveal_activation_code"):
        for group in apps.get_model("auth", "Group").objects.filter(name="finance"):
            group.permissions.remove(permission)


class Migration(migrations.Migration):

    dependencies = [("staff", "0002_support_and_finance_groups"), ("orders", "0007_esim_reveal_activation_code_permission")]

    operations = [migrations.RunPython(grant, revoke)]
