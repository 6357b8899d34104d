"""A btree on UPPER(email) for staff search by a whole e-mail address (bench/scale.py).

Django's iexact is `UPPER(email::text) = UPPER(%s)`; staff/search.py tries it first for a term
that looks like an address. The trigram index of 0004 still serves partial addresses, but for a
whole one it is slow at scale: its trigrams ("sho", "exa", ".mn", ...) are shared by most
customers, so the bitmap scan visits most of the table (EXPLAIN ANALYZE at 1M rows: ~200 ms).
Raw SQL and IF NOT EXISTS as in 0004 (an expression index; the same on SQLite and PostgreSQL).
"""

from django.db import migrations

NAME = "payments_customer_email_upper_idx"


def create(apps, schema_editor):
    schema_editor.execute(f"CREATE INDEX IF NOT EXISTS {NAME} ON payments_customer ((UPPER(email)))")


def drop(apps, schema_editor):
    schema_editor.execute(f"DROP INDEX IF EXISTS {NAME}")


class Migration(migrations.Migration):
    dependencies = [("payments", "0008_transition_history")]

    operations = [migrations.RunPython(create, drop)]
