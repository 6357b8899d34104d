"""Fill a migrated PostgreSQL database with N historical purchases for bench/scale.py, fast.

Each table is filled by one INSERT ... SELECT over generate_series: PostgreSQL builds the rows
itself, so nothing crosses the wire per row (faster still than COPY, which would have to stream
a million rows from Python); 1,000,000 invoices + payments + eSIMs + orders take about a minute.

History (N of each): customers (N/2, two purchases each), invoices PAID over the past year
(created N/365 a day), one PAID payment each, one eSIM each, one DELIVERED order each with its
one SUCCEEDED provisioning attempt.
Today (the same in every size, so a 1k and a 1M database are asked for the same work): 300
invoices - 100 PENDING (30 of them past expiry), 200 PAID with orders, 10 of them still PROVISIONING.
Ids, phone numbers, e-mails, ICCIDs and QPay ids are deterministic functions of the row number,
so the bench knows what to search for.
"""

from datetime import timedelta

TODAY = 300
BUNDLES = 20


def phone(g: int) -> str:
    return str(88000000 + g * 37 % 11999999)


def iccid(g: int) -> str:
    return "8944" + str(g).rjust(15, "0")


def qpay_payment_id(g: int) -> str:
    return str(100000000000000 + g)


HISTORY_SQL = """
INSERT INTO payments_customer (id, phone_number, email, created_at, updated_at)
SELECT md5('c' || g)::uuid, (88000000 + g * 37 %% 11999999)::text, 'shopper' || g || '@example.mn',
       now() - interval '2 days' - (g * %(step)s) * interval '1 second', now() - interval '2 days'
FROM generate_series(1, %(customers)s) g;

INSERT INTO payments_invoice (id, customer_id, bundle_id, topup_iccid, amount_mnt, description, company_register,
    language, status, sender_invoice_no, qpay_invoice_id, qr_text, qr_image, short_url, bank_urls, paid_amount,
    paid_at, expires_at, check_count, needs_staff_attention, staff_attention_reason, created_at, updated_at)
SELECT md5('i' || g)::uuid, md5('c' || (1 + g %% %(customers)s))::uuid, %(bundle)s + g %% %(bundles)s, '', 12500, '',
       '', 'mn', 'PAID', 'ESIM' || upper(md5('s' || g)), md5('q' || g)::uuid::text, '', '', '', '[]', 12500,
       t + interval '1 minute', t + interval '30 minutes', 1, false, '', t, t + interval '1 minute'
FROM (SELECT g, now() - interval '1 day' - (g * %(step)s) * interval '1 second' AS t
      FROM generate_series(1, %(n)s) g) rows;

INSERT INTO payments_payment (invoice_id, qpay_payment_id, status, amount, currency, payment_type, paid_at, raw,
    first_seen_at, updated_at)
SELECT md5('i' || g)::uuid, (100000000000000 + g)::text, 'PAID', 12500, 'MNT', 'P2P', t, '{}', t, t
FROM (SELECT g, now() - interval '1 day' - (g * %(step)s) * interval '1 second' + interval '1 minute' AS t
      FROM generate_series(1, %(n)s) g) rows;

INSERT INTO orders_esim (id, iccid, matching_id, smdp_address, customer_ref_set_at, created_at, customer_id)
SELECT g, '8944' || lpad(g::text, 15, '0'), upper(md5('m' || g)), 'rsp.example.io', t, t,
       md5('c' || (1 + g %% %(customers)s))::uuid
FROM (SELECT g, now() - interval '1 day' - (g * %(step)s) * interval '1 second' + interval '2 minutes' AS t
      FROM generate_series(1, %(n)s) g) rows;

INSERT INTO orders_order (id, public_id, invoice_id, bundle_id, customer_id, kind, topup_iccid, status, language,
    esim_id, esimgo_order_reference, esimgo_order, attention_reason, created_at, updated_at, delivered_at)
SELECT g, md5('o' || g)::uuid, md5('i' || g)::uuid, %(bundle)s + g %% %(bundles)s,
       md5('c' || (1 + g %% %(customers)s))::uuid, 'NEW', '', 'DELIVERED', 'mn', g, md5('r' || g)::uuid::text, '{}',
       '', t, t, t + interval '1 minute'
FROM (SELECT g, now() - interval '1 day' - (g * %(step)s) * interval '1 second' + interval '1 minute' AS t
      FROM generate_series(1, %(n)s) g) rows;

INSERT INTO orders_provisioningattempt (id, marker, outcome, actor, started_at, finished_at, esimgo_order_reference,
    adopted, response, error, order_id)
SELECT g, md5('a' || g)::uuid, 'SUCCEEDED', 'task', t, t, md5('r' || g)::uuid::text, false, '{}', '', g
FROM (SELECT g, now() - interval '1 day' - (g * %(step)s) * interval '1 second' + interval '1 minute' AS t
      FROM generate_series(1, %(n)s) g) rows;
"""

SEQUENCES = ("orders_esim", "orders_order", "orders_provisioningattempt", "payments_payment")


def fill(n: int) -> dict:
    """History of n purchases plus today's fixed set; returns what the bench searches for."""
    import time

    from django.db import connection
    from django.utils import timezone

    from catalog.models import Bundle
    from tests.catalog.factories import BundleFactory  # the project's own factories: a valid bundle

    started = time.monotonic()
    bundles = [BundleFactory(name=f"esim_{i}GB_7D_MN_V2", countries=["MN"]) for i in range(1, BUNDLES + 1)]
    first_bundle = min(b.pk for b in bundles)
    params = {"n": n, "customers": max(n // 2, 1), "step": 365 * 86400 / n, "bundle": first_bundle, "bundles": BUNDLES}
    with connection.cursor() as cursor:
        # Load first, index afterwards: building an index over a million rows once is far cheaper
        # than keeping it up to date a row at a time (random UUID keys touch a new page each).
        # Foreign-key triggers are off for the load (session_replication_role); the rows are
        # consistent by construction. Everything is put back before anything is measured.
        recreate = _drop_secondary_indexes(cursor)
        cursor.execute("SET session_replication_role = replica")
        for statement in HISTORY_SQL.split(";\n"):
            if statement.strip():
                cursor.execute(statement, params)
        cursor.execute("SET session_replication_role = origin")
        cursor.execute("SET maintenance_work_mem = '256MB'")
        for sql in recreate:
            cursor.execute(sql)
        for table in SEQUENCES:
            cursor.execute(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), (SELECT max(id) FROM {table}))")
    history_seconds = time.monotonic() - started
    today = fill_today(Bundle.objects.get(pk=first_bundle))
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")
    g = max(n // 3, 1)
    return {
        "rows": n,
        "seconds": time.monotonic() - started,
        "history_seconds": history_seconds,
        "phone": phone(g),
        "email": f"shopper{1 + g % max(n // 2, 1)}@example.mn",
        "iccid": iccid(g),
        "qpay_payment_id": qpay_payment_id(g),
        "partial_phone": phone(g)[2:],
        "today": today,
        "status_invoice": str(_uuid("i", g)),
        "esimgo_reference": str(_uuid("r", g)),
        "now": timezone.now().isoformat(),
    }


LOADED_TABLES = (
    "payments_customer",
    "payments_invoice",
    "payments_payment",
    "orders_esim",
    "orders_order",
    "orders_provisioningattempt",
)


def _drop_secondary_indexes(cursor) -> list[str]:
    """Drop every index but the primary keys on the loaded tables; return the SQL that recreates them
    (unique constraints as constraints, other indexes - partial, trigram - from their own definition)."""
    cursor.execute(
        """
        SELECT c.conrelid::regclass::text, c.conname, pg_get_constraintdef(c.oid)
        FROM pg_constraint c WHERE c.contype = 'u' AND c.conrelid::regclass::text = ANY(%s)""",
        [list(LOADED_TABLES)],
    )
    constraints = cursor.fetchall()
    cursor.execute(
        """
        SELECT i.indexrelid::regclass::text, pg_get_indexdef(i.indexrelid)
        FROM pg_index i WHERE i.indrelid::regclass::text = ANY(%s) AND NOT i.indisprimary
          AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = i.indexrelid)""",
        [list(LOADED_TABLES)],
    )
    indexes = cursor.fetchall()
    for table, name, _definition in constraints:
        cursor.execute(f'ALTER TABLE {table} DROP CONSTRAINT "{name}"')
    for name, _definition in indexes:
        cursor.execute(f"DROP INDEX {name}")
    return [f'ALTER TABLE {table} ADD CONSTRAINT "{name}" {definition}' for table, name, definition in constraints] + [
        definition for _name, definition in indexes
    ]


def _uuid(prefix: str, g: int):
    import hashlib
    import uuid

    return uuid.UUID(hashlib.md5(f"{prefix}{g}".encode()).hexdigest())


def fill_today(bundle) -> dict:
    """Today's 300 invoices through the ORM (the same rows in every size)."""
    import uuid

    from django.utils import timezone

    from orders.models import ESim, Order
    from payments.models import Customer, Invoice, Payment

    now = timezone.now()
    customers = Customer.objects.bulk_create(
        Customer(phone_number=str(99000000 + i), email=f"today{i}@example.mn") for i in range(TODAY)
    )
    invoices, payments, esims, orders = [], [], [], []
    for i, customer in enumerate(customers):
        pending = i < 100
        invoices.append(
            Invoice(
                customer=customer,
                bundle=bundle,
                amount_mnt=12500,
                status="PENDING" if pending else "PAID",
                sender_invoice_no=f"ESIMTODAY{i:05d}",
                qpay_invoice_id=str(uuid.uuid4()),
                paid_amount=None if pending else 12500,
                paid_at=None if pending else now - timedelta(minutes=30),
                expires_at=now - timedelta(minutes=5) if i < 30 else now + timedelta(minutes=20),
            )
        )
    Invoice.objects.bulk_create(invoices)
    Invoice.objects.filter(pk__in=[inv.pk for inv in invoices]).update(created_at=now - timedelta(minutes=40))
    for i, invoice in enumerate(invoices[100:], start=100):
        payments.append(
            Payment(
                invoice=invoice,
                qpay_payment_id=f"9{i:014d}",
                status="PAID",
                amount=12500,
                payment_type="P2P",
                paid_at=invoice.paid_at,
            )
        )
        if i >= 110:
            esims.append(
                ESim(
                    iccid=f"8955{i:015d}", matching_id=f"M{i}", smdp_address="rsp.example.io", customer=invoice.customer
                )
            )
    Payment.objects.bulk_create(payments)
    ESim.objects.bulk_create(esims)
    by_iccid = {e.iccid: e for e in ESim.objects.filter(iccid__startswith="8955")}
    for i, invoice in enumerate(invoices[100:], start=100):
        esim = by_iccid.get(f"8955{i:015d}")
        orders.append(
            Order(
                invoice=invoice,
                bundle=bundle,
                customer=invoice.customer,
                esim=esim,
                status="DELIVERED" if esim else "PROVISIONING",
                esimgo_order_reference=str(uuid.uuid4()) if esim else None,
                delivered_at=now - timedelta(minutes=25) if esim else None,
            )
        )
    Order.objects.bulk_create(orders)
    Order.objects.filter(pk__in=[o.pk for o in orders]).update(created_at=now - timedelta(minutes=30))
    return {"invoices": len(invoices), "orders": len(orders)}
