"""The outage suite (issue 10): the shop as production runs it — gunicorn, the `worker` and
`provisioning` Celery workers, beat, all supervised (restarted on exit, as the Procfile platform
and systemd do) — on its OWN PostgreSQL and Redis servers (free ports, a temp dir), with the sandbox
providers in another gunicorn on their own database (their fault switchboard on a third Redis
server, so nothing outside the suite can flush it). Then, one after the other:

  * eSIM Go answers 504 and commits the order after the shop's first look-up (late commit);
  * eSIM Go answers 504 and never places the order;
  * Redis is killed for OUTAGE_REDIS_DOWN_SECONDS (default 30 s; the provisioning worker is
    SIGKILLed during it) and restarted empty;
  * PostgreSQL is restarted (pg_ctl -m fast) while callbacks and purchases keep coming;
  * the provisioning worker is SIGKILLed in the middle of an eSIM Go purchase;
  * QPay's payment/check fails for a stretch.
It asserts that every callback sent was stored (a 503 was re-sent, as QPay may), no answer was
a 500, every paid invoice ends DELIVERED or NEEDS_ATTENTION soon after each recovery, and no
invoice has more than one eSIM Go order (the sandbox's own order table). Time windows are
shortened in tests/outage/outage_settings.py (listed there). Figures are printed at the end.
"""

import json
import os
import secrets
import shutil
import subprocess
import threading
import time
from collections import Counter, defaultdict
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import psycopg
import pytest
import requests
from django.conf import settings

from esimshop.production_checks import sandbox_secret
from tests.outage.driver import Driver
from tests.outage.servers import PostgresServer, RedisServer, free_port
from tests.outage.shop import PYTHON, ROOT, Shop

# xdist_group: its own xdist worker, started first (tests/conftest.py; .ci/run runs xdist).
pytestmark = [pytest.mark.slow, pytest.mark.outage, pytest.mark.xdist_group("outage")]

B1, B2, B3 = "esim_1GB_7D_MN_V2", "esim_2GB_15D_MN_V2", "esim_3GB_30D_MN_V2"
REDIS_DOWN_SECONDS = float(os.environ.get("OUTAGE_REDIS_DOWN_SECONDS", "30"))
# After a recovery: the sweep period (3 s) + the check lease (8 s) + the orders sweep's wait (6 s)
# + one provisioning run; generous for a loaded 2-core CI machine.
RECOVERY_BOUND_SECONDS = 45


def shared_database_url(name: str) -> str:
    db = settings.DATABASES["default"]
    auth = db["USER"] + (f":{db['PASSWORD']}" if db["PASSWORD"] else "")
    return f"postgres://{auth}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{name}"


def recreate(admin_url: str, name: str) -> None:
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')


class OutageRun:
    def __init__(self, tmp: Path, switchboard_url: str):
        self.tmp, self.run_id = tmp, secrets.token_hex(4)
        self.pg, self.redis = PostgresServer(tmp), RedisServer(tmp)
        self.switchboard_url = switchboard_url
        self.providers_db_name = f"{settings.DATABASES['default']['NAME']}_outage_providers"
        self.phases = defaultdict(list)  # phase -> invoice ids paid in it
        self.recovery = {}  # phase -> seconds from recovery until its paid invoices were settled
        self.notes = Counter()
        self.shop = None

    def environment(self, shop_port: int, providers_port: int) -> tuple[dict, dict]:
        shop, providers = f"http://127.0.0.1:{shop_port}", f"http://127.0.0.1:{providers_port}"
        base = {k: v for k, v in os.environ.items() if not k.startswith(("ESIMSHOP_", "PYTEST", "DJANGO_"))}
        common = {
            **base,
            "DJANGO_SETTINGS_MODULE": "tests.outage.outage_settings",
            "DEBUG": "False",
            "SECRET_KEY": secrets.token_urlsafe(40),
            "ALLOWED_HOSTS": "127.0.0.1,localhost",
            "SITE_URL": shop,
            "QPAY_CALLBACK_PUBLIC_BASE_URL": shop,
            "ESIMGO_CALLBACK_URL": f"{shop}/esimgo/callback/",
            "QPAY_CONNECT_TIMEOUT": "2",
            "QPAY_READ_TIMEOUT": "3",
            "ESIMGO_CONNECT_TIMEOUT": "2",
            "ESIMGO_READ_TIMEOUT": "3",
            "EMAIL_URL": "dummymail://",
            "LOG_LEVEL": "WARNING",
            "PYTHONUNBUFFERED": "1",
        }
        self.shop_db = f"{self.pg.url}/esimshop"
        providers_secret = secrets.token_urlsafe(50)
        # The shop runs as production does: SANDBOX off, the providers at ordinary (loopback) URLs
        # with the merchant credentials the stand-ins issue (tests/outage/providers_settings.py).
        shop_env = {
            **common,
            "DATABASE_URL": self.shop_db,
            "REDIS_URL": self.redis.url,
            "CACHE_KEY_PREFIX": "outage",
            "STATIC_ROOT": str(self.tmp / "static"),
            "SANDBOX": "False",
            "PROVIDERS_ALLOW_LOOPBACK_HTTP": "True",
            "QPAY_BASE_URL": f"{providers}/qpay",
            "ESIMGO_BASE_URL": f"{providers}/esimgo/v2.4",
            "ESIMGO_API_KEY": sandbox_secret(providers_secret, "esimgo-api-key"),
            "QPAY_CLIENT_ID": "SANDBOX_MERCHANT",
            "QPAY_INVOICE_CODE": "SANDBOX_INVOICE",
            "QPAY_CLIENT_SECRET": sandbox_secret(providers_secret, "qpay-client-secret"),
        }
        # The providers keep their fault switchboard in a Redis of their own (not the shop's, which
        # is killed; not the test session's, which other sessions may share and flush), which
        # this process's cache points at too, so it injects faults with sandbox.*.faults as it is.
        providers_env = {
            **common,
            "DJANGO_SETTINGS_MODULE": "tests.outage.providers_settings",
            "DEBUG": "True",
            "SANDBOX": "True",
            "SECRET_KEY": providers_secret,
            "SITE_URL": providers,
            "DATABASE_URL": shared_database_url(self.providers_db_name),
            "REDIS_URL": self.switchboard_url,
            "CACHE_KEY_PREFIX": settings.CACHES["default"]["KEY_PREFIX"],
            "CELERY_TASK_ALWAYS_EAGER": "True",
        }
        return shop_env, providers_env

    # -- setup ---------------------------------------------------------------------------------

    def setup(self) -> None:
        started = time.monotonic()
        self.pg.init()
        self.pg.start()
        self.redis.start()
        shop_port, providers_port = free_port(), free_port()
        shop_env, providers_env = self.environment(shop_port, providers_port)
        recreate(f"{self.pg.url}/postgres", "esimshop")
        recreate(shared_database_url("postgres"), self.providers_db_name)
        self.providers_db = providers_env["DATABASE_URL"]
        manage = [PYTHON, "manage.py"]
        # Three chains at once (each process is mostly Django start-up): the shop's migrations then
        # its catalogue, the providers' migrations then their credit, and the release step's
        # collectstatic (with DEBUG=False the shop serves the hashed files it writes).
        with ThreadPoolExecutor(3) as pool:
            seeded_shop, _, _ = pool.map(
                lambda chain: _run_chain(*chain),
                [
                    (shop_env, [*manage, "migrate", "--noinput", "-v", "0"], [PYTHON, "tests/outage/seed.py", "shop"]),
                    (
                        providers_env,
                        [*manage, "migrate", "--noinput", "-v", "0"],
                        [PYTHON, "tests/outage/seed.py", "providers"],
                    ),
                    (shop_env, [*manage, "collectstatic", "--noinput", "-v", "0"]),
                ],
            )
        prices = json.loads(seeded_shop.strip().splitlines()[-1])
        self.logs = self.tmp / "logs"
        self.logs.mkdir()
        self.shop = Shop(shop_env, providers_env, self.logs, shop_port, providers_port)
        self.shop.start()
        for port in (shop_port, providers_port):
            wait_until(lambda port=port: _healthy(f"http://127.0.0.1:{port}/healthz"), 60, f"gunicorn on {port}")
        for name in self.shop.workers:
            wait_until(lambda name=name: "ready." in self.shop.log_text(f"{name}.log"), 90, f"celery {name}")
        wait_until(lambda: "beat: Starting" in self.shop.log_text("beat.log"), 60, "celery beat")
        from sandbox.qpay import faults as qpay_faults

        qpay_faults.inject("GET callback", count=10**9)  # the driver sends every callback itself
        self.driver = Driver(f"http://127.0.0.1:{shop_port}", self.shop_db, self.providers_db, prices, self.run_id)
        self.setup_seconds = time.monotonic() - started

    # -- helpers -------------------------------------------------------------------------------

    def paid_purchase(self, phase: str, *, bundle=B1, callback=True, retry_for=60.0) -> str:
        invoice = self.driver.purchase(phase, bundle, retry_until=time.monotonic() + retry_for)
        assert invoice, f"{phase}: no purchase went through in {retry_for}s: {self.driver.statuses}"
        self.driver.pay(invoice)
        self.phases[phase].append(invoice)
        if callback:
            assert self.driver.callback(invoice, deadline=time.monotonic() + retry_for) == 200
        return invoice

    def order_states(self, invoices) -> dict:
        try:
            rows = self.driver.query(
                self.shop_db,
                "SELECT i.id::text, o.status FROM payments_invoice i LEFT JOIN "
                "orders_order o ON o.invoice_id = i.id WHERE i.id::text = ANY(%s)",
                list(invoices),
            )
        except psycopg.Error:
            return {}  # PostgreSQL restarting: ask again
        return dict(rows)

    def settled(self, invoices) -> bool:
        states = self.order_states(invoices)
        return len(states) == len(invoices) and all(s in ("DELIVERED", "NEEDS_ATTENTION") for s in states.values())

    def wait_settled(self, phase: str, since: float, timeout: float = 120) -> None:
        invoices = self.phases[phase]
        wait_until(
            lambda: self.settled(invoices),
            timeout,
            f"{phase}: paid invoices delivered",
            detail=lambda: self.order_states(invoices),
        )
        self.recovery[phase] = round(time.monotonic() - since, 1)

    def attempt_started(self, invoice: str) -> bool:
        try:
            return bool(
                self.driver.query(
                    self.shop_db,
                    "SELECT 1 FROM orders_provisioningattempt a JOIN orders_order o "
                    "ON o.id = a.order_id WHERE o.invoice_id::text = %s",
                    invoice,
                )
            )
        except psycopg.Error:
            return False

    # -- the phases ------------------------------------------------------------------------------

    def run(self) -> None:
        from sandbox.esimgo import faults as esimgo_faults
        from sandbox.qpay import faults as qpay_faults

        started = time.monotonic()
        for _ in range(3):
            self.paid_purchase("baseline")
        self.wait_settled("baseline", started)

        # eSIM Go commits the order 14 s after the call; the shop's answer timed out at 3 s and its
        # first look-up is at 5 s: the order must be adopted when it appears, never bought again.
        late = self.driver.purchase("late_commit", B2)
        esimgo_faults.inject("POST orders", status=504, delay=14, after=True, count=1)
        self.driver.pay(late)
        self.phases["late_commit"].append(late)
        assert self.driver.callback(late, deadline=time.monotonic() + 30) == 200
        wait_until(lambda: fault_taken(esimgo_faults, "POST orders"), 30, "late-commit purchase at eSIM Go")
        # eSIM Go answers 504 and places nothing: looked for over the window, then NEEDS_ATTENTION.
        # Another bundle: eSIM Go orders carry no client reference, so two unknown purchases of the
        # same bundle at the same time cannot be told apart (the closer one in time adopts it).
        never = self.driver.purchase("never_placed", B3)
        esimgo_faults.inject("POST orders", status=504, delay=4, count=1)
        self.driver.pay(never)
        self.phases["never_placed"].append(never)
        assert self.driver.callback(never, deadline=time.monotonic() + 30) == 200
        wait_until(lambda: fault_taken(esimgo_faults, "POST orders"), 30, "never-placed purchase at eSIM Go")
        self.never_placed = never
        self.wait_settled("late_commit", started)  # before Redis goes: its look-ups must run as in production

        # Redis down: payments, callbacks (one lost), purchases and pages go on; the provisioning
        # worker is SIGKILLed meanwhile and restarted by the supervisor.
        waiting = [self.driver.purchase("redis_down", B1) for _ in range(2)]
        self.redis.kill()
        down_at = time.monotonic()
        for invoice in waiting:
            self.driver.pay(invoice)
            self.phases["redis_down"].append(invoice)
        assert self.driver.callback(waiting[0], deadline=time.monotonic() + 30) == 200  # waiting[1]'s is lost
        during = self.driver.purchase("redis_down", B1)
        self.notes["purchase during Redis outage"] += 1 if during else 0
        if during:
            self.driver.pay(during)
            self.phases["redis_down"].append(during)
            self.driver.callback(during, deadline=time.monotonic() + 30)
        for invoice in self.phases["redis_down"]:
            self.driver.poll_pages(invoice)
        self.shop.workers["provisioning"].kill()
        time.sleep(max(0.0, REDIS_DOWN_SECONDS - (time.monotonic() - down_at)))
        self.redis.start()
        self.redis_down_seconds = round(time.monotonic() - down_at, 1)
        self.wait_settled("redis_down", time.monotonic())

        # PostgreSQL restarted while callbacks and purchases keep coming.
        first = self.paid_purchase("postgres_restart", callback=False)
        stop = threading.Event()
        storm = threading.Thread(target=self._callback_storm, args=(first, stop), daemon=True)
        storm.start()
        time.sleep(0.5)
        self.pg_down_seconds = round(self.pg.restart(), 2)
        time.sleep(1.0)
        stop.set()
        storm.join(60)
        recovered = time.monotonic()
        self.paid_purchase("postgres_restart", retry_for=30)
        self.wait_settled("postgres_restart", recovered)

        # The provisioning worker SIGKILLed while eSIM Go is processing its purchase (the order is
        # placed 4 s into the call, after the worker died).
        killed = self.driver.purchase("worker_killed", B1)
        esimgo_faults.inject("POST orders", status=504, delay=4, after=True, count=1)
        self.driver.pay(killed)
        self.phases["worker_killed"].append(killed)
        assert self.driver.callback(killed, deadline=time.monotonic() + 30) == 200
        wait_until(
            lambda: fault_taken(esimgo_faults, "POST orders") and self.attempt_started(killed),
            30,
            "purchase in flight at eSIM Go",
        )
        time.sleep(1.0)
        self.shop.workers["provisioning"].kill()
        self.wait_settled("worker_killed", time.monotonic())

        # QPay's payment/check fails for a stretch: callbacks stored (VERIFY_FAILED), found after.
        qpay_faults.inject("POST payment_check", status=500, count=10**6)
        for _ in range(2):
            self.paid_purchase("qpay_checks_failing")
        time.sleep(10)
        qpay_faults.clear()
        qpay_faults.inject("GET callback", count=10**9)
        self.wait_settled("qpay_checks_failing", time.monotonic())
        self.wait_settled("never_placed", started, timeout=90)
        self.total_seconds = round(time.monotonic() - started, 1)

    def _callback_storm(self, invoice: str, stop: threading.Event) -> None:
        while not stop.is_set():
            self.driver.callback(invoice, deadline=time.monotonic() + 30)
            self.driver.poll_pages(invoice)
            self.driver.purchase("postgres_restart_unpaid", B2)
            time.sleep(0.1)

    # -- figures ---------------------------------------------------------------------------------

    def figures(self) -> dict:
        q = self.driver.query
        paid = [i for phase in self.phases.values() for i in phase]
        states = self.order_states(paid)
        owner = dict(
            q(
                self.shop_db,
                "SELECT esimgo_order_reference, invoice_id::text FROM orders_order WHERE esimgo_order_reference <> ''",
            )
        )
        for reference, invoice in q(
            self.shop_db,
            "SELECT a.esimgo_order_reference, o.invoice_id::text FROM "
            "orders_provisioningattempt a JOIN orders_order o ON o.id = a.order_id "
            "WHERE a.esimgo_order_reference <> ''",
        ):
            owner.setdefault(reference, invoice)
        sandbox_orders = [str(r[0]) for r in q(self.providers_db, "SELECT reference FROM sandbox_esimgo_sandboxorder")]
        per_invoice = Counter(owner[r] for r in sandbox_orders if r in owner)
        stored = {
            r[0]
            for r in q(
                self.shop_db,
                "SELECT user_agent FROM payments_qpaycallback WHERE user_agent LIKE %s",
                f"outage-callback/{self.run_id}/%",
            )
        }
        answered = {tag for tag, status in self.driver.sent_callbacks.items() if status in (200, 429)}
        late = q(
            self.shop_db,
            "SELECT a.adopted, jsonb_array_length(a.lookups) FROM orders_provisioningattempt a "
            "JOIN orders_order o ON o.id = a.order_id WHERE o.invoice_id::text = %s",
            self.phases["late_commit"][0],
        )
        never_reason = q(
            self.shop_db, "SELECT attention_reason FROM orders_order WHERE invoice_id::text = %s", self.never_placed
        )[0][0]
        access = self.shop.log_text("web-access.log").splitlines()
        logs = {name: self.shop.log_text(f"{name}.log") for name in ("web", "worker", "provisioning", "beat")}
        return {
            "setup_seconds": round(self.setup_seconds, 1),
            "run_seconds": self.total_seconds,
            "redis_down_seconds": self.redis_down_seconds,
            "postgres_restart_seconds": self.pg_down_seconds,
            "recovery_seconds": self.recovery,
            "paid_invoices": len(paid),
            "order_states": dict(Counter(states.values())),
            "not_settled": [i for i in paid if states.get(i) not in ("DELIVERED", "NEEDS_ATTENTION")],
            "needs_attention": sorted(i for i in paid if states.get(i) == "NEEDS_ATTENTION"),
            "phase_of": {
                i: phase
                for phase, ids in self.phases.items()
                for i in ids
                if states.get(i) != "DELIVERED" or phase in ("late_commit", "never_placed")
            },
            "attempts": {
                phase: q(
                    self.shop_db,
                    "SELECT a.outcome, a.adopted, jsonb_array_length(a.lookups), "
                    "left(a.error, 80) FROM orders_provisioningattempt a JOIN orders_order o ON "
                    "o.id = a.order_id WHERE o.invoice_id::text = %s",
                    self.phases[phase][0],
                )
                for phase in ("late_commit", "never_placed", "worker_killed")
            },
            "esimgo_orders": len(sandbox_orders),
            "esimgo_orders_max_per_invoice": max(per_invoice.values(), default=0),
            "esimgo_orders_unattributed": [r for r in sandbox_orders if r not in owner],
            "callbacks_sent": len(self.driver.sent_callbacks),
            "callbacks_answered": len(answered),
            "callbacks_lost": sorted(answered - stored),
            "callback_statuses": dict(Counter(str(s) for s in self.driver.sent_callbacks.values())),
            "driver_statuses": {f"{k} {s}": n for (k, s), n in sorted(self.driver.statuses.items())},
            "http_500_driver": sum(n for (_, s), n in self.driver.statuses.items() if s == "500"),
            "access_log_5xx": dict(Counter(_status_and_route(line) for line in access if line[:1] == "5")),
            "late_commit_attempt": {"adopted": late[0][0], "lookups_before_found": late[0][1]} if late else None,
            "never_placed_reason": never_reason,
            "process_restarts": {p.name: p.starts - 1 for p in self.shop.all},
            "unrecoverable_worker_errors": sum(text.count("Unrecoverable error") for text in logs.values()),
            "tracebacks": {name: text.count("Traceback") for name, text in logs.items() if "Traceback" in text},
        }

    def teardown(self) -> None:
        if self.shop is not None:
            self.shop.stop()
            if os.environ.get("OUTAGE_KEEP_LOGS"):  # a copy of every process's log, for a look afterwards
                shutil.copytree(self.logs, os.environ["OUTAGE_KEEP_LOGS"], dirs_exist_ok=True)
        self.redis.stop()
        self.pg.stop()
        try:
            with psycopg.connect(shared_database_url("postgres"), autocommit=True) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{self.providers_db_name}" WITH (FORCE)')
        except psycopg.Error:
            pass


def _run_chain(env: dict, *commands) -> str:
    """Run the commands one after the other (each must succeed); returns the last one's output."""
    for command in commands:
        done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, (command, done.stdout[-3000:] + done.stderr[-3000:])
    return done.stdout


def _status_and_route(access_line: str) -> str:
    """'503 GET /payments/qpay/callback/<id>/?token=..' -> '503 /payments/qpay' (no ids, no tokens)."""
    parts = access_line.split(" ")
    path = parts[2].split("?")[0] if len(parts) > 2 else "?"
    return f"{parts[0]} /{'/'.join(path.strip('/').split('/')[:2])}"


def fault_taken(faults, endpoint: str) -> bool:
    """The sandbox has consumed the fault injected for `endpoint` (the request is being served)."""
    from django.core.cache import cache

    return endpoint not in (cache.get(faults.FAULTS_KEY) or {})


def _healthy(url: str) -> bool:
    try:
        return requests.get(url, timeout=2).status_code == 200
    except requests.RequestException:
        return False


def wait_until(condition, timeout: float, what: str, detail=None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.25)
    raise AssertionError(f"timed out after {timeout:.0f}s: {what}" + (f" ({detail()})" if detail else ""))


@pytest.fixture
def switchboard_url(tmp_path, settings):
    """A Redis server for the providers' fault switchboard, this process's cache pointed at it."""
    server = RedisServer(tmp_path)
    server.start()
    settings.CACHES = {**settings.CACHES, "default": {**settings.CACHES["default"], "LOCATION": server.url}}
    try:
        yield server.url
    finally:
        server.stop()


def test_the_money_path_survives_infrastructure_faults(tmp_path, switchboard_url, record_property):
    assert "postgresql" in settings.DATABASES["default"]["ENGINE"], (
        "the outage suite needs the session's PostgreSQL (the providers' database)"
    )
    run = OutageRun(tmp_path, switchboard_url)
    try:
        run.setup()
        run.run()
        f = run.figures()
    except BaseException:
        if run.shop is not None:
            for name in ("web", "worker", "provisioning", "beat", "providers"):
                print(f"--- {name}.log (tail) ---\n{run.shop.log_text(f'{name}.log')[-2500:]}")
        raise
    finally:
        run.teardown()
    record_property("outage_report", "outage run: " + json.dumps(f, default=str))  # tests/outage/conftest.py
    print(json.dumps(f, indent=2, default=str))

    assert f["not_settled"] == [], f
    assert f["needs_attention"] == [run.never_placed], f  # only the purchase eSIM Go never placed
    assert "NOT bought again" in f["never_placed_reason"]
    assert f["esimgo_orders_max_per_invoice"] <= 1, f
    assert f["esimgo_orders_unattributed"] == [], f
    assert f["esimgo_orders"] == f["order_states"]["DELIVERED"], f
    assert f["late_commit_attempt"]["adopted"] and f["late_commit_attempt"]["lookups_before_found"] >= 1, f
    assert f["callbacks_lost"] == [], f
    assert f["http_500_driver"] == 0, f["driver_statuses"]
    assert not any(key.startswith("500") for key in f["access_log_5xx"]), f["access_log_5xx"]
    assert f["postgres_restart_seconds"] > 0 and f["redis_down_seconds"] >= REDIS_DOWN_SECONDS
    for phase in ("redis_down", "postgres_restart", "worker_killed", "qpay_checks_failing"):
        assert f["recovery_seconds"][phase] <= RECOVERY_BOUND_SECONDS, (phase, f["recovery_seconds"])
    assert f["process_restarts"]["provisioning"] >= 2, f["process_restarts"]
