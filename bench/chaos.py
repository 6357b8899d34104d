#!/usr/bin/env python
"""Chaos run of the money path: purchases, payments and callbacks against live processes while
the providers fail and a worker dies.

    .venv/bin/python bench/chaos.py [--purchases 2000] [--json-out result.json]

What runs (all real processes, one fresh PostgreSQL database, one Redis db):
  * the shop: gunicorn (gthread) serving esimshop with DEBUG off (bench/chaos_settings.py);
  * the providers: a second gunicorn serving the same project, whose built-in sandbox QPay and
    sandbox eSIM Go the shop is pointed at (QPAY_BASE_URL / ESIMGO_BASE_URL). A provider is
    another service: its requests must not queue behind the shop's own threads;
  * two Celery workers (`celery -A esimshop worker -c 1`, separate process groups), Redis broker.
The driver (this process) then, for each of N purchases:
  1. buys through POST /api/customer/transactions/purchase (one shopper = one phone/e-mail);
  2. pays in the sandbox QPay bank app: in full, short (half), twice, or not at all;
  3. delivers QPay's callback 0-5 times (some purchases: a burst of 50 at once), to the callback
     URL stored on the sandbox invoice plus `qpay_payment_id`, as QPay would, shuffled across
     payments and invoices, GET or POST. The sandbox's own callback is switched off (fault
     "GET callback") so the driver knows every callback that was sent.
Meanwhile a fault thread injects transient faults into the sandboxes (QPay 401/429/500/timeouts
on auth, payment/check and invoice creation, some after the invoice was created; eSIM Go
5xx/timeouts on orders, some after the order was placed), forgets the shared QPay token now and
then, and halfway through one worker is SIGKILLed (whole process group) and restarted. Celery
beat is replaced by sending the two sweep tasks every --sweep-every seconds (the real schedules
are 60 s and 300 s; the run is a few minutes long).
Purchases carry an Idempotency-Key header (one fresh key per purchase, the same on a double tap).
A purchase that fails with a connection error (gunicorn resets kept-alive connections) is sent
again, on a fresh connection with the same key and body, only when that is provably safe:
  * the connection was never made (refused, connect timeout): the shop never saw the request; or
  * the shop honours Idempotency-Key (issue 9; --no-idempotency-keys turns the header off): a
    repeat with the same key gets the first request's answer, never a second invoice.
Independently of the key, the shop keeps at most one open invoice per shopper and plan (a partial
unique index), so a repeat can only hand back that invoice or supersede one whose QR nobody saw.
Callbacks are always sent again: QPay redelivers, and a callback is only a hint the shop verifies.
Settling: faults stop; wait (deadline) until every paid-in-full invoice has its order DELIVERED
or NEEDS_ATTENTION, no order is in progress and the Celery queue is empty.
Then it prints the figures and exits non-zero if any check fails:
  paid-in-full invoices = delivered eSIMs + orders in NEEDS_ATTENTION (NEEDS_ATTENTION = 0);
  eSIM Go orders (the sandbox's own table) per paid invoice <= 1, exactly 1 for delivered, none
  unattributed; 0 eSIMs for unpaid or short-paid invoices; every callback the driver sent has
  its inbox row (0 lost); 0 HTTP 500 (driver responses, access logs, tracebacks in logs);
  purchases refused with 503 (injected provider faults) left nothing payable behind.

Modules: this one sets the run up and runs its phases; bench/chaos_shoppers.py is the driver
(shoppers, QPay's callbacks, the resend rule), bench/chaos_faults.py the fault thread and the beat
stand-in, bench/chaos_figures.py the settling, the figures, the checks and the report; servers,
workers and databases come from bench/common.py.
"""

import argparse
import contextlib
import json
import os
import random
import secrets
import signal
import sys
import tempfile
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as a script: bench.common
from bench import common  # noqa: E402
from bench.chaos_faults import clear_faults, inject_faults, send_sweeps, switch_off_qpay_callbacks  # noqa: E402
from bench.chaos_figures import checks, figures, print_report, settle  # noqa: E402
from bench.chaos_shoppers import BUNDLES, Shoppers, Tally, log  # noqa: E402


def max_connections(url: str) -> tuple[int, int]:
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:
        limit = int(conn.execute("SHOW max_connections").fetchone()[0])
        used = int(conn.execute("SELECT count(*) FROM pg_stat_activity").fetchone()[0])
    return limit, used


class Processes:
    """The run's gunicorns and Celery workers (bench/common.py starts each in its own process group)."""

    def __init__(self, env: dict, logs: Path):
        self.env, self.logs = env, logs
        self.servers: dict[str, tuple[object, int]] = {}  # name -> (process, port)
        self.workers: dict[str, object] = {}
        self.worker_generation = Counter()

    def start_server(self, name: str, port: int, workers: int, threads: int) -> None:
        process = common.start_gunicorn(
            port=port,
            env=self.env,
            log_path=self.logs / f"{name}.log",
            workers=workers,
            worker_class="gthread",
            threads=threads,
            extra_args=[
                "--timeout",
                "120",
                "--graceful-timeout",
                "10",
                "--access-logfile",
                str(self.logs / f"{name}-access.log"),
                "--access-logformat",
                "%(s)s %(m)s %(U)s %(M)sms",
            ],
            wait=False,  # both servers start at once; wait_ready() waits for them
        )
        self.servers[name] = (process, port)

    def start_worker(self, name: str) -> None:
        """`celery worker -c 1` on every queue, a new node name per (re)start."""
        self.worker_generation[name] += 1
        log_path = self.logs / f"worker-{name}.log"
        with open(log_path, "a") as out:
            out.write(f"\n=== start chaos-{name}-{self.worker_generation[name]} at {time.strftime('%H:%M:%S')} ===\n")
        self.workers[name] = common.start_celery_worker(
            env=self.env,
            log_path=log_path,
            concurrency=1,
            name=f"chaos-{name}-{self.worker_generation[name]}-{os.getpid()}",
            loglevel="INFO",
        )

    def wait_ready(self) -> None:
        for name, (process, port) in self.servers.items():
            common.wait_until_answering(process, port, self.logs / f"{name}.log")
        for name, process in self.workers.items():
            log_path = self.logs / f"worker-{name}.log"
            common.wait_for(
                lambda log_path=log_path, process=process: (
                    "ready." in log_path.read_text(errors="replace") or process.poll() is not None
                ),
                90,
                f"worker {name}",
                interval=0.2,
            )
            if process.poll() is not None:
                raise SystemExit(common.tail(log_path))

    def kill_worker(self, name: str) -> None:
        """SIGKILL the worker's whole process group (parent and pool child): no warm shutdown,
        no message restored, tasks in flight die mid-way — an OOM kill or a lost machine."""
        process = self.workers[name]
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(10)

    def stop_all(self) -> None:
        for process in [*self.workers.values(), *(p for p, _ in self.servers.values())]:
            common.stop(process)  # SIGTERM to its process group, SIGKILL if it lingers


class ChaosRun:
    def __init__(self, args):
        self.args = args
        self.rng = random.Random(args.seed)
        self.tally = Tally()
        self.run_id = secrets.token_hex(4)
        self.shoppers = Shoppers(args, self.tally, self.run_id, on_halfway=self.kill_and_restart_worker)
        self.stop_faults = threading.Event()
        self.stop_beat = threading.Event()
        self.timeline = {}
        self.procs = None
        self.redis = None
        self.logs = None

    # -- setup --

    def environment(self) -> dict:
        args = self.args
        shop = f"http://127.0.0.1:{self.shop_port}"
        providers = f"http://127.0.0.1:{self.providers_port}"
        return {
            **{k: v for k, v in os.environ.items() if not k.startswith(("ESIMSHOP_", "PYTEST"))},
            "DJANGO_SETTINGS_MODULE": "bench.chaos_settings",
            # This run's own collectstatic output (never the checkout's staticfiles/).
            "STATIC_ROOT": tempfile.mkdtemp(prefix="chaos-static-"),
            "DATABASE_URL": args.database_url,
            "REDIS_URL": args.redis_url,
            "CACHE_KEY_PREFIX": f"chaos-{self.run_id}",
            "CONN_MAX_AGE": "0",  # a connection per request: threads idle between bursts hold none
            "DEBUG": "False",
            "SECRET_KEY": secrets.token_urlsafe(50),
            "ALLOWED_HOSTS": "127.0.0.1,localhost",
            "SECURE_SSL_REDIRECT": "False",
            "SANDBOX": "1",
            "SANDBOX_PUBLIC_DEMO": "True",  # DEBUG=False on the sandbox: allowed only as a demo
            "ESIMGO_API_KEY": "",
            "SITE_URL": shop,
            "QPAY_CALLBACK_PUBLIC_BASE_URL": shop,
            "ESIMGO_CALLBACK_URL": f"{shop}/esimgo/callback/",
            "QPAY_BASE_URL": f"{providers}/sandbox/qpay",
            "ESIMGO_BASE_URL": f"{providers}/sandbox/esimgo/v2.4",
            "QPAY_CONNECT_TIMEOUT": "2",
            "QPAY_READ_TIMEOUT": str(args.provider_timeout),
            "ESIMGO_CONNECT_TIMEOUT": "2",
            "ESIMGO_READ_TIMEOUT": str(args.provider_timeout),
            "ESIMGO_RATE_LIMIT_PER_SECOND": str(args.esimgo_rate),
            "SANDBOX_ESIMGO_RATE_LIMIT": str(args.esimgo_rate + 1),
            "EMAIL_URL": "dummymail://",
            "LOG_LEVEL": "WARNING",
            "PYTHONUNBUFFERED": "1",
        }

    def setup(self) -> None:
        args = self.args
        self.shop_port, self.providers_port = common.free_port(), common.free_port()
        self.shop = f"http://127.0.0.1:{self.shop_port}"
        self.env = self.environment()
        limit, used = max_connections(args.database_url.rsplit("/", 1)[0] + "/postgres")
        budget = args.shop_workers * args.shop_threads + args.provider_threads + 2 * 2 + args.shoppers + 4
        log(
            f"PostgreSQL max_connections={limit}, {used} in use; this run needs at most {budget} "
            f"(shop {args.shop_workers}x{args.shop_threads} threads, providers 1x{args.provider_threads}, "
            f"2 workers, {args.shoppers} shoppers, driver)"
        )
        if budget > limit - used - 5:
            raise SystemExit(
                f"not enough PostgreSQL connections: need {budget}, {limit - used} free; "
                "lower --shop-threads/--provider-threads"
            )
        common.recreate_database(args.database_url)
        import redis

        self.redis = redis.Redis.from_url(args.redis_url)
        if self.redis.dbsize() and not args.flush_redis:
            raise SystemExit(
                f"Redis {args.redis_url} is not empty: another process may be using it. "
                "Give this run its own db (--redis-url) or pass --flush-redis."
            )
        self.redis.flushdb()
        # Anyone flushing this db mid-run (a test session's cache.clear()) would silently drop the
        # Celery queue; the canary tells that apart from a real lost task.
        self.redis.set("chaos:canary", self.run_id)
        # At once (neither needs the other): DEBUG=False serves the hashed files of a
        # collectstatic, as the release step makes them.
        with ThreadPoolExecutor(2) as pool:
            list(
                pool.map(
                    lambda command: common.run_manage(self.env, *command, "--noinput", "-v", "0"),
                    [["migrate"], ["collectstatic"]],
                )
            )
        os.environ.update(self.env)
        import django

        django.setup()
        self.shoppers.shop, self.shoppers.prices = self.shop, self._seed_catalogue()
        self.logs = Path(tempfile.mkdtemp(prefix="chaos-"))
        self.procs = Processes(self.env, self.logs)
        self.procs.start_server("shop", self.shop_port, args.shop_workers, args.shop_threads)
        self.procs.start_server("providers", self.providers_port, 1, args.provider_threads)
        self.procs.start_worker("a")
        self.procs.start_worker("b")
        self.procs.wait_ready()
        switch_off_qpay_callbacks()
        log(f"shop {self.shop}, providers http://127.0.0.1:{self.providers_port}, logs {self.logs}")

    def _seed_catalogue(self) -> dict:
        """The bundles on sale (BUNDLES), priced as a sync would; returns name -> MNT price."""
        from catalog.models import Bundle, BundleCountry, Country
        from catalog.pricing import retail_price_mnt
        from sandbox.esimgo.catalogue import get_catalogue
        from sandbox.esimgo.models import Organisation

        catalogue = get_catalogue().by_name
        country, _ = Country.objects.get_or_create(iso="MN")
        prices = {}
        for name in BUNDLES:
            raw = catalogue[name]
            price = Decimal(str(raw["price"]))
            bundle = Bundle.objects.create(
                name=name,
                description=raw.get("description") or name,
                data_amount_mb=int(raw["dataAmount"]),
                duration_days=int(raw["duration"]),
                price=price,
                currency="USD",
                computed_price_mnt=retail_price_mnt(price),
                source_hash="chaos",
            )
            BundleCountry.objects.create(bundle=bundle, country=country, kind=BundleCountry.Kind.BASE)
            prices[name] = bundle.price_mnt
        # Enough credit for every purchase: running out of balance is not a transient fault.
        Organisation.objects.update_or_create(pk=1, defaults={"balance": Decimal("10000000")})
        return prices

    # -- phases --

    def drive(self) -> None:
        injector = threading.Thread(target=inject_faults, args=(self.args, self.tally, self.stop_faults), daemon=True)
        beat = threading.Thread(target=send_sweeps, args=(self.args, self.tally, self.stop_beat), daemon=True)
        injector.start()
        beat.start()
        self.shoppers.run(self.rng)
        self.stop_faults.set()
        injector.join()
        clear_faults()
        self.timeline["drive_seconds"] = round(time.monotonic() - self.started, 1)
        log(f"drive done in {self.timeline['drive_seconds']} s; faults stopped, settling")

    def kill_and_restart_worker(self) -> None:
        """Halfway through the purchases: worker a SIGKILLed, started again args.restart_after s later."""
        time.sleep(1)
        log("SIGKILL worker a (process group)")
        self.timeline["worker_killed_at"] = round(time.monotonic() - self.started, 1)
        self.procs.kill_worker("a")
        time.sleep(self.args.restart_after)
        self.procs.start_worker("a")
        log("worker a restarted")
        self.timeline["worker_restarted_at"] = round(time.monotonic() - self.started, 1)

    def run(self) -> dict:
        self.started = time.monotonic()
        try:
            self.setup()
            self.started = time.monotonic()
            self.drive()
            settled = settle(self)
            self.stop_beat.set()
            result = figures(self, settled)
        finally:
            self.stop_beat.set()
            if self.procs is not None:
                self.procs.stop_all()
            if self.redis is not None:
                with contextlib.suppress(Exception):  # cleanup only: the run's own Redis db
                    self.redis.flushdb()
        result["logs_dir"] = str(self.logs)
        result["total_seconds"] = round(time.monotonic() - self.started, 1)
        result["failures"] = checks(result)
        result["ok"] = not result["failures"]
        return result


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--purchases", type=int, default=2000)
    parser.add_argument(
        "--database-url",
        default=os.environ.get("CHAOS_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/esimshop_chaos"),
    )
    parser.add_argument("--redis-url", default=os.environ.get("CHAOS_REDIS_URL", "redis://127.0.0.1:6379/14"))
    parser.add_argument(
        "--flush-redis",
        action="store_true",
        help="empty the Redis db first even if it holds keys (it must be this run's own db)",
    )
    parser.add_argument("--seed", default="chaos")
    parser.add_argument("--shoppers", type=int, default=8, help="concurrent shoppers")
    parser.add_argument("--callback-threads", type=int, default=16)
    parser.add_argument("--callback-spread", type=float, default=4.0, help="callbacks are sent up to this many s later")
    parser.add_argument("--shop-workers", type=int, default=2)
    parser.add_argument("--shop-threads", type=int, default=16)
    parser.add_argument("--provider-threads", type=int, default=12)
    parser.add_argument("--provider-timeout", type=float, default=4.0, help="QPay/eSIM Go read timeout (s)")
    parser.add_argument("--esimgo-rate", type=int, default=9, help="shop's eSIM Go requests/s (sandbox enforces +1)")
    parser.add_argument("--fault-interval", type=float, default=1.0, help="mean seconds between injected faults")
    parser.add_argument("--restart-after", type=float, default=3.0, help="seconds the killed worker stays down")
    parser.add_argument("--sweep-every", type=float, default=20.0)
    parser.add_argument("--settle-timeout", type=float, default=600.0)
    parser.add_argument("--http-timeout", type=float, default=120.0)
    parser.add_argument(
        "--no-idempotency-keys",
        dest="idempotency_keys",
        action="store_false",
        help="send purchases without Idempotency-Key; a purchase is then sent again only if the "
        "connection was never made",
    )
    parser.add_argument("--json-out", help="write the figures here as JSON")
    return parser.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    figures = ChaosRun(args).run()
    print_report(figures)
    if args.json_out:
        Path(args.json_out).write_text(json.dumps(figures, indent=2, default=str))
    return 0 if figures["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
