"""Indexes for a million invoices (bench/scale.py measures them against a thousand).

- payments_customer: trigram GIN on phone_number (partial phone search, `LIKE '%9911%'`) and on
  UPPER(email) (Django's icontains is `UPPER(email::text) LIKE UPPER('%x%')`), PostgreSQL only:
  pg_trgm has no SQLite counterpart, and SQLite databases (bin/run) are small anyway.
- payments_invoice.paid_at, payments_payment.paid_at / first_seen_at: a day's reconciliation
  selects by these (btree; both databases).

Raw SQL rather than Meta.indexes: the trigram ones are an expression and an operator class on
one database only; all are IF NOT EXISTS so a re-run or a hand-made index does not fail.
"""
from django.contrib.postgres.operations import TrigramExtension
from django.db import migrations

BTREE = [
    ("payments_invoice_paid_at_idx", "payments_invoice", "paid_at"),
    ("payments_payment_paid_at_idx", "payments_payment", "paid_at"),
    ("payments_payment_first_seen_at_idx", "payments_payment", "first_seen_at"),
    ("payments_invoice_topup_iccid_idx", "payments_invoice", "topup_iccid"),  # staff search by ICCID
]
TRIGRAM = [
    ("payments_customer_phone_trgm", "payments_customer USING gin (phone_number gin_trgm_ops)"),
    ("payments_customer_email_trgm", "payments_customer USING gin ((UPPER(email::text)) gin_trgm_ops)"),
]


def create(apps, schema_editor):
    for name, table, column in BTREE:
        schema_editor.execute(f"CREATE INDEX IF NOT EXISTS {name} ON {table} ({column})")
    if schema_editor.connection.vendor == "postgresql":
        for name, definition in TRIGRAM:
            schema_editor.execute(f"CREATE INDEX IF NOT EXISTS {name} ON {definition}")


def drop(apps, schema_editor):
    names = [name for name, *_ in BTREE]
    if schema_editor.connection.vendor == "postgresql":
        names += [name for name, _ in TRIGRAM]
    for name in names:
        schema_editor.execute(f"DROP INDEX IF EXISTS {name}")


class Migration(migrations.Migration):
    dependencies = [("payments", "0003_remainder_invoice")]

    operations = [
        TrigramExtension(),  # CREATE EXTENSION IF NOT EXISTS pg_trgm; a no-op on SQLite
        migrations.RunPython(create, drop),
    ]
