"""The eSIM page's capability is its own random token (public_id is logged and sent to eSIM Go)."""
from django.db import migrations, models

import payments.models


def fill_access_tokens(apps, schema_editor):
    Order = apps.get_model("orders", "Order")
    for order in Order.objects.filter(access_token__isnull=True).only("pk").iterator():
        Order.objects.filter(pk=order.pk).update(access_token=payments.models.new_access_token())


class Migration(migrations.Migration):

    dependencies = [("orders", "0005_scale_indexes"), ("payments", "0005_invoice_ownership_and_access_token")]

    operations = [
        migrations.AddField("order", "access_token", models.CharField(max_length=64, null=True, editable=False)),
        migrations.RunPython(fill_access_tokens, migrations.RunPython.noop),
        migrations.AlterField("order", "access_token", models.CharField(
            max_length=64, unique=True, default=payments.models.new_access_token, editable=False)),
    ]
