"""Benchmark: staff searches, admin changelists, a day's reconciliation, the public status
endpoint and the sweeps with 1,000,000 invoices and orders against the same with 1,000.

    .venv/bin/python bench/scale.py [--big 1000000] [--small 1000] [--json-out FILE]

Each size gets a throwaway PostgreSQL database on the DATABASE_URL server (migrated, so the
indexes are the migrations' own), filled by bench/scale_data.py, and is measured in a process of
its own (in process: Django's test client for admin pages and the status endpoint, a superuser
signed in; the functions themselves for reconciliation and sweeps; local-memory cache and an
in-memory Celery broker, so only PostgreSQL is measured). Every operation: 2 warm-up runs, then
the median of 7. Target: each 1M figure within 2x of the 1k figure. For the big size the
slowest SQL statement of each operation is shown with its EXPLAIN ANALYZE plan. Each operation's
shared-buffer pages touched (EXPLAIN (ANALYZE, BUFFERS) of its SELECTs) are shown too: the work
that grows with the data, which the machine's load does not move.
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench import common  # noqa: E402

TARGET = 2.0
RUNS, WARMUP = 7, 2


def env_for(database_url: str) -> dict:
    return {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "esimshop.settings",
        "DATABASE_URL": database_url,
        "REDIS_URL": "",
        "CELERY_TASK_ALWAYS_EAGER": "False",
        "DEBUG": "False",
        "LOG_LEVEL": "WARNING",
        "SECRET_KEY": "bench-only-" + os.urandom(16).hex(),
        "SECURE_SSL_REDIRECT": "False",
        "ESIMGO_API_KEY": "bench-key",
        "SANDBOX": "False",
        "ALLOWED_HOSTS": "testserver",
        "QPAY_CLIENT_ID": "bench",
        "QPAY_CLIENT_SECRET": "bench",
        "QPAY_INVOICE_CODE": "bench",
        "EMAIL_URL": "consolemail://",
    }


def operations(facts: dict):
    """(name, callable) for every measured operation, built once Django is set up."""
    from django.contrib.auth import get_user_model
    from django.core.cache import cache
    from django.test import Client

    from orders.services import sweep_undelivered_orders
    from payments.expiry import sweep_pending_invoices
    from staff import reconciliation

    user = get_user_model().objects.filter(username="bench").first() or get_user_model().objects.create_superuser(
        "bench", "bench@example.mn", "bench-password-not-secret"
    )
    staff = Client()
    staff.force_login(user)
    public = Client()

    def admin(path, **query):
        def run():
            response = staff.get(path, query)
            assert response.status_code == 200, (path, query, response.status_code)

        return run

    def status():
        cache.clear()  # the database path, as the first poll of a shopper (or after a change)
        assert public.get(f"/api/customer/transactions/{facts['status_invoice']}/status").status_code == 200

    def reconcile_today():
        today = datetime.fromisoformat(facts["now"]).date()
        start, end = reconciliation.day_bounds(today, today)
        books = reconciliation.load_books(
            start, end, reconciliation.Listing(complete=True), reconciliation.Listing(complete=True)
        )
        assert len(books.invoices_paid_in_period) >= 1

    orders, invoices = "/admin/orders/order/", "/admin/payments/invoice/"
    return [
        ("search orders: phone", admin(orders, q=facts["phone"])),
        ("search orders: e-mail", admin(orders, q=facts["email"])),
        ("search orders: partial phone", admin(orders, q=facts["partial_phone"])),
        ("search orders: ICCID", admin(orders, q=facts["iccid"])),
        ("search orders: QPay payment id", admin(orders, q=facts["qpay_payment_id"])),
        ("search orders: eSIM Go reference", admin(orders, q=facts["esimgo_reference"])),
        ("search invoices: phone", admin(invoices, q=facts["phone"])),
        ("changelist: orders", admin(orders)),
        ("changelist: invoices", admin(invoices)),
        ("changelist: orders needing attention", admin(orders, attention="1")),
        ("reconciliation: one day (our books)", reconcile_today),
        ("status endpoint (database path)", status),
        ("sweep: pending invoices", sweep_pending_invoices),
        ("sweep: undelivered orders", sweep_undelivered_orders),
    ]


def measure_one(size: int, explain: bool) -> dict:
    """Child process: fill this database with `size` purchases and time every operation."""
    import django

    django.setup()
    from django.db import connection

    from bench import scale_data

    common.run_manage(dict(os.environ), "migrate", "--noinput", "-v", "0")
    facts = scale_data.fill(size)
    print(
        f"  {size:,} purchases generated in {facts['seconds']:.1f} s (history {facts['history_seconds']:.1f} s)",
        flush=True,
    )
    results = {"facts": facts, "ops": {}}
    for name, run in operations(facts):
        statements = []

        def capture(execute, sql, params, many, context):
            started = time.perf_counter()
            try:
                return execute(sql, params, many, context)
            finally:
                statements.append((time.perf_counter() - started, sql, params))  # noqa: B023 - this iteration only

        for _ in range(WARMUP):
            run()
        times = []
        for _ in range(RUNS):
            statements.clear()
            started = time.perf_counter()
            with connection.execute_wrapper(capture):
                run()
            times.append(time.perf_counter() - started)
        entry = {
            "median_ms": statistics.median(times) * 1000,
            "queries": len(statements),
            "pages": pages_touched(connection, statements),
        }
        if explain and statements:
            seconds, sql, params = max(statements, key=lambda s: s[0])
            entry["slowest_sql_ms"] = seconds * 1000
            entry["slowest_sql"] = " ".join(sql.split())[:400]
            with connection.cursor() as cursor:
                cursor.execute("EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF, SUMMARY OFF) " + sql, params)
                entry["plan"] = [row[0][:240] for row in cursor.fetchall()][:25]
        results["ops"][name] = entry
        print(f"  {name:<42}{entry['median_ms']:>9.2f} ms  {entry['queries']:>3} queries", flush=True)
    connection.close()
    return results


def pages_touched(connection, statements) -> int:
    """Shared buffers (8 kB pages, cached or read) the operation's SELECTs touch, by EXPLAIN (ANALYZE,
    BUFFERS): what a statement's work grows with, and unlike its time not moved by the machine's load."""
    total = 0
    with connection.cursor() as cursor:
        for _seconds, sql, params in statements:
            if not sql.lstrip().upper().startswith("SELECT"):
                continue
            cursor.execute("EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) " + sql, params)
            plan = cursor.fetchone()[0]
            plan = json.loads(plan) if isinstance(plan, str) else plan
            top = plan[0]["Plan"]
            total += top.get("Shared Hit Blocks", 0) + top.get("Shared Read Blocks", 0)
    return total


def run_size(size: int, explain: bool) -> dict:
    with common.throwaway_postgres(f"scale{size}") as database_url:
        out = Path(f"/tmp/esimshop-scale-{os.getpid()}-{size}.json")
        command = [sys.executable, __file__, "--child", str(size), "--child-out", str(out)]
        if explain:
            command.append("--explain")
        subprocess.run(command, cwd=ROOT, env=env_for(database_url), check=True)
        result = json.loads(out.read_text())
        out.unlink()
        return result


def label(n: int) -> str:
    return (
        f"{n // 1_000_000}M" if n >= 1_000_000 and n % 1_000_000 == 0 else f"{n // 1000}k" if n % 1000 == 0 else str(n)
    )


def report(small: dict, big: dict) -> list[dict]:
    rows = []
    s_label, b_label = label(small["facts"]["rows"]), label(big["facts"]["rows"])
    print(
        f"\n{'operation':<42}{s_label + ' ms':>9}{b_label + ' ms':>10}{'ratio':>8}  verdict"
        f"{s_label + ' pages':>12}{b_label + ' pages':>10}"
    )
    for name, s in small["ops"].items():
        b = big["ops"][name]
        ratio = b["median_ms"] / s["median_ms"]
        verdict = "PASS" if ratio <= TARGET else "MISS"
        rows.append(
            {
                "operation": name,
                "small_ms": s["median_ms"],
                "big_ms": b["median_ms"],
                "ratio": ratio,
                "verdict": verdict,
                "small_pages": s.get("pages"),
                "big_pages": b.get("pages"),
                "plan": b.get("plan"),
                "slowest_sql": b.get("slowest_sql"),
                "slowest_sql_ms": b.get("slowest_sql_ms"),
            }
        )
        print(
            f"{name:<42}{s['median_ms']:>9.2f}{b['median_ms']:>10.2f}{ratio:>7.2f}x  {verdict:<7}"
            f"{s.get('pages', 0):>12}{b.get('pages', 0):>10}"
        )
    print(f"\nEXPLAIN ANALYZE of the slowest statement of each operation ({b_label} rows):")
    for row in rows:
        if row["plan"]:
            print(f"\n-- {row['operation']}: {row['slowest_sql_ms']:.2f} ms\n   {row['slowest_sql']}")
            for line in row["plan"]:
                print(f"     {line}")
    return rows


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--big", type=int, default=1_000_000)
    parser.add_argument("--small", type=int, default=1_000)
    parser.add_argument("--json-out")
    parser.add_argument("--child", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--child-out", help=argparse.SUPPRESS)
    parser.add_argument("--explain", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        Path(args.child_out).write_text(json.dumps(measure_one(args.child, args.explain), default=str))
        return
    common.require_services()
    print(f"{args.small:,} purchases:", flush=True)
    small = run_size(args.small, explain=False)
    print(f"{args.big:,} purchases:", flush=True)
    big = run_size(args.big, explain=True)
    rows = report(small, big)
    if args.json_out:
        Path(args.json_out).write_text(
            json.dumps(
                {
                    "small": args.small,
                    "big": args.big,
                    "rows": rows,
                    "generate_seconds": big["facts"]["seconds"],
                    "load": os.getloadavg()[0],
                },
                indent=2,
                default=str,
            )
        )


if __name__ == "__main__":
    main()
