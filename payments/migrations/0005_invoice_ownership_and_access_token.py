"""Invoices belong to their creator (owner_key, request_fingerprint), carry their own capability
(access_token, filled for existing rows one by one so each gets its own) and remember the
purchase's client address (open-invoice caps)."""
from django.db import migrations, models

import payments.models


def fill_access_tokens(apps, schema_editor):
    Invoice = apps.get_model("payments", "Invoice")
    for invoice in Invoice.objects.filter(access_token__isnull=True).only("pk").iterator():
        Invoice.objects.filter(pk=invoice.pk).update(access_token=payments.models.new_access_token())


class Migration(migrations.Migration):

    dependencies = [("payments", "0004_scale_indexes")]

    operations = [
        migrations.AddField("invoice", "access_token", models.CharField(max_length=64, null=True, editable=False)),
        migrations.RunPython(fill_access_tokens, migrations.RunPython.noop),
        migrations.AlterField("invoice", "access_token", models.CharField(
            max_length=64, unique=True, default=payments.models.new_access_token, editable=False)),
        migrations.AddField("invoice", "owner_key", models.CharField(max_length=80, blank=True, default="", editable=False)),
        migrations.AddField("invoice", "request_fingerprint",
                            models.CharField(max_length=64, blank=True, default="", editable=False)),
        migrations.AddField("invoice", "client_address", models.GenericIPAddressField(
            null=True, blank=True, editable=False, help_text="Where the purchase came from (open-invoice caps).")),
        migrations.RemoveConstraint("invoice", "uniq_open_invoice_per_customer_bundle"),
        migrations.AddConstraint("invoice", models.UniqueConstraint(
            fields=("owner_key", "customer", "bundle", "topup_iccid"),
            condition=models.Q(("status", "PENDING"), ("owner_key__startswith", "s:")),
            name="uniq_open_invoice_per_session_customer_bundle")),
        migrations.AddConstraint("invoice", models.UniqueConstraint(
            fields=("owner_key",), condition=models.Q(("owner_key__startswith", "i:")),
            name="uniq_invoice_per_idempotency_key")),
    ]
