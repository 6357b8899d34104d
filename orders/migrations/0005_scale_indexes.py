"""Indexes for a million orders (bench/scale.py): provisioning attempts by eSIM Go order reference,
looked up by staff search (a reference pasted from eSIM Go's portal), reconciliation (eSIM Go's
order list against our attempts) and provisioning's own reconcile step; orders by top-up ICCID
(staff search by ICCID or a long number; without it a parallel scan of every order, 130 ms at 1M). Raw SQL, IF NOT EXISTS,
the same on PostgreSQL and SQLite (see payments/0004_scale_indexes for why not Meta.indexes)."""
from django.db import migrations

INDEXES = [
    ("orders_attempt_esimgo_ref_idx", "orders_provisioningattempt", "esimgo_order_reference"),
    ("orders_order_topup_iccid_idx", "orders_order", "topup_iccid"),
]


def create(apps, schema_editor):
    for name, table, column in INDEXES:
        schema_editor.execute(f"CREATE INDEX IF NOT EXISTS {name} ON {table} ({column})")


def drop(apps, schema_editor):
    for name, _table, _column in INDEXES:
        schema_editor.execute(f"DROP INDEX IF EXISTS {name}")


class Migration(migrations.Migration):
    dependencies = [("orders", "0004_staff_permissions")]

    operations = [migrations.RunPython(create, drop)]
