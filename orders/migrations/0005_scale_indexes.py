"""Index for a million orders (bench/scale.py): provisioning attempts by eSIM Go order reference,
looked up by staff search (a reference pasted from eSIM Go's portal), reconciliation (eSIM Go's
order list against our attempts) and provisioning's own reconcile step. Raw SQL, IF NOT EXISTS,
the same on PostgreSQL and SQLite (see payments/0003_scale_indexes for why not Meta.indexes)."""
from django.db import migrations

NAME = "orders_attempt_esimgo_ref_idx"


def create(apps, schema_editor):
    schema_editor.execute(f"CREATE INDEX IF NOT EXISTS {NAME} ON orders_provisioningattempt (esimgo_order_reference)")


def drop(apps, schema_editor):
    schema_editor.execute(f"DROP INDEX IF EXISTS {NAME}")


class Migration(migrations.Migration):
    dependencies = [("orders", "0004_staff_permissions")]

    operations = [migrations.RunPython(create, drop)]
