"""CI's chaos run: bench/chaos.py with 200 purchases (CHAOS_PURCHASES to change) against live
gunicorn, two Celery workers (one SIGKILLed mid-run), Redis and PostgreSQL, with provider faults.

It runs in its own PostgreSQL database (<test database>_chaos, created fresh) and on a Redis
server of its own (redis-server on a free port, tests/outage/servers.py; CHAOS_REDIS_URL points it
at another), so no other test, test session or helper shares its broker and cache: nothing can
flush its queue mid-run, and it flushes nobody's. About 2.5 minutes on two cores. The figures
are printed at the end of the pytest run and asserted here one by one.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.conf import settings

from bench.common import recreate_database
from tests.outage.servers import RedisServer

# xdist_group: its own xdist worker, started first (tests/conftest.py; .ci/run runs xdist).
pytestmark = [pytest.mark.slow, pytest.mark.chaos, pytest.mark.xdist_group("chaos")]

ROOT = Path(__file__).resolve().parents[2]
PURCHASES = int(os.environ.get("CHAOS_PURCHASES", "200"))


def chaos_database_url() -> str:
    db = settings.DATABASES["default"]
    auth = db["USER"] + (f":{db['PASSWORD']}" if db["PASSWORD"] else "")
    return f"postgres://{auth}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}_chaos"


@pytest.fixture
def chaos_redis_url(tmp_path):
    if os.environ.get("CHAOS_REDIS_URL"):
        yield os.environ["CHAOS_REDIS_URL"]
        return
    server = RedisServer(tmp_path)
    server.start()
    try:
        yield server.url
    finally:
        server.stop()


def test_chaos_run(tmp_path, chaos_redis_url, record_property):
    assert "postgresql" in settings.DATABASES["default"]["ENGINE"] and settings.REDIS_URL, (
        "the chaos run needs PostgreSQL and Redis"
    )
    result_file, log_file = tmp_path / "chaos.json", tmp_path / "chaos.log"
    with open(log_file, "w") as log:
        process = subprocess.run(
            [
                sys.executable,
                "bench/chaos.py",
                "--purchases",
                str(PURCHASES),
                "--json-out",
                str(result_file),
                "--database-url",
                chaos_database_url(),
                "--flush-redis",
                "--redis-url",
                chaos_redis_url,
                "--settle-timeout",
                "300",
            ],
            cwd=ROOT,
            stdout=log,
            stderr=subprocess.STDOUT,
            timeout=900,
        )
    output = log_file.read_text(errors="replace")
    report = output[output.rfind("chaos run:") :] if "chaos run:" in output else output[-4000:]
    record_property("chaos_report", report)  # printed in the run's summary (tests/chaos/conftest.py)
    assert result_file.exists(), output[-4000:]
    f = json.loads(result_file.read_text())

    assert f["purchases"] == PURCHASES
    assert f["settled"], report
    assert f["paid_in_full_invoices"] > 0 and f["short_paid_invoices"] > 0 and f["unpaid_invoices"] > 0
    # Every shopper who paid in full has an eSIM, or an order staff are looking at (none, faults being transient).
    assert f["paid_in_full_invoices"] == f["delivered_esims"] + f["needs_attention_orders"], report
    # Issue 10: a purchase eSIM Go never placed (a fault before it) is looked for, then handed to
    # staff with the evidence - never bought blind. Only such orders may need attention.
    assert f["needs_attention_without_unknown_outcome"] == 0, f["examples"]["needs_attention"]
    assert f["needs_attention_with_an_esimgo_order"] == 0, f["examples"]["needs_attention"]
    assert f["orders_still_in_progress"] == 0
    # Nothing provisioned twice, nothing provisioned unpaid — counted from the sandbox eSIM Go's own orders.
    assert f["esimgo_orders_max_per_invoice"] <= 1, report
    assert f["esimgo_orders_unattributed"] == 0, f["examples"]["unattributed_esimgo_orders"]
    assert f["esimgo_orders_total"] == f["delivered_orders"] == f["delivered_esims"]
    assert f["delivered_without_exactly_one_matching_esimgo_order"] == 0, f["examples"]["delivered_mismatch"]
    assert f["orders_for_unpaid_or_short_invoices"] == 0 and f["esims_for_unpaid_or_short_invoices"] == 0
    # Every callback the driver sent is in the inbox; all were answered 200; there were bursts of 50.
    assert f["callback_bursts"] >= 1 and f["callbacks_sent"] > PURCHASES
    assert f["callbacks_lost"] == 0, f["examples"]["lost_callbacks"]
    assert f["callbacks_200"] == f["callbacks_sent"], f["callbacks_not_200"]
    # No 500 anywhere: not to the driver, not in the shop's access log, no traceback in any log.
    assert f["http_500_driver"] == 0
    assert set(f["shop_access_log_5xx"]) <= {"503 /api/customer/transactions/purchase"}, f["shop_access_log_5xx"]
    assert f["tracebacks_in_logs"] == {}, f["tracebacks_in_logs"]
    # Refused purchases (503: a provider fault) left nothing the shopper could pay.
    assert f["purchases_503_left_payable"] == 0
    assert set(f["purchase_statuses"]) <= {"201", "503"}, f["purchase_statuses"]
    # The chaos really happened.
    assert sum(f["faults_injected"].values()) >= 10
    assert f["timeline_seconds"]["worker_restarted_at"] is not None
    assert f["redis_canary_intact"]
    assert f["ok"], f["failures"]
    assert process.returncode == 0, report
    # Passed: drop the run's database (a failed run keeps it, with its logs, for the post-mortem).
    recreate_database(chaos_database_url(), create=False)
