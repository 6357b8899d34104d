"""Where the Procfile web server's CPU goes under the capacity bench's callback load (py-spy).

    .venv/bin/python bench/server_profile.py [--purchases-seconds 10] [--callbacks 600] [--py-spy PATH]

The server exactly as bench/capacity.py starts it (the Procfile's web line, providers stubbed
in-process at 250 ms, QPay's payment/check at 150 ms). 30 shoppers buy for --purchases-seconds
(web CPU per purchase measured), then --callbacks verified callbacks from 32 clients (web CPU
per callback measured), each phase with py-spy (not a project dependency: `pip install
--target DIR py-spy`, then --py-spy DIR/bin/py-spy) recording every gunicorn worker, so the
server's own costs (gunicorn, threads, the WSGI layer, the access log) show next to the view's.
Without --py-spy: only the CPU figures.
"""

import argparse
import json
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench import capacity, common  # noqa: E402
from bench.purchase import bench_env, setup_django  # noqa: E402


def record(py_spy, pid, out, seconds):
    if not py_spy:
        return None
    return subprocess.Popen(
        [
            py_spy,
            "record",
            "--pid",
            str(pid),
            "--subprocesses",
            "--rate",
            "200",
            "--format",
            "raw",
            "--output",
            str(out),
            "--duration",
            str(int(seconds)),
            "--nonblocking",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.STDOUT,
    )


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--purchases-seconds", type=float, default=10)
    parser.add_argument("--callbacks", type=int, default=600)
    parser.add_argument("--py-spy")
    parser.add_argument("--out", default=tempfile.mkdtemp(prefix="esimshop-server-profile-"))
    parser.add_argument("--log-level", default="WARNING")
    args = parser.parse_args()
    common.require_services()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    redis_url = common.redis_url()
    run = capacity.RUN
    result = {}
    with common.throwaway_postgres("srvprof") as database_url:
        port = common.free_port()
        site = f"http://127.0.0.1:{port}"
        env = {
            **bench_env(database_url, redis_url, site),
            "CACHE_KEY_PREFIX": run,
            "BENCH_CELERY_QUEUE": run,
            "BENCH_PROVIDER_LATENCY_MS": "250",
            "BENCH_QPAY_CHECK_LATENCY_MS": "150",
            "LOG_LEVEL": args.log_level,
            "PAYMENTS_PURCHASE_RATE_LIMIT_PER_MINUTE": "30",
        }
        server = None
        try:
            common.run_manage(env, "migrate", "--noinput", "-v", "0")
            setup_django(env)
            server = capacity.start_procfile_web(env, port, out / "web.log")
            capacity.SERVER_PID["web"] = server.pid
            capacity.shopper_phase(site, 10, 3, 5_000_000)  # warm-up
            spy = record(args.py_spy, server.pid, out / "purchases.txt", args.purchases_seconds)
            result["purchases"], invoices = capacity.shopper_phase(site, 30, args.purchases_seconds, 0)
            if spy:
                spy.wait(60)
            print("purchases:", json.dumps(result["purchases"]), flush=True)
            spy = record(args.py_spy, server.pid, out / "callbacks.txt", 60)
            started = time.monotonic()
            result["callbacks"] = capacity.callback_phase(site, invoices[: args.callbacks], 32)
            if spy:
                spy.send_signal(signal.SIGINT)  # py-spy writes what it has sampled, then exits
                spy.wait(30)
            result["callbacks"]["seconds"] = time.monotonic() - started
            print("callbacks:", json.dumps(result["callbacks"]), flush=True)
        finally:
            common.stop(server)
            from django.db import connections

            connections.close_all()
            common.delete_redis_keys(redis_url, f"{run}*", f"*{run}*")
    print(f"profiles and logs in {out}")
    (out / "result.json").write_text(json.dumps(result, indent=2, default=str))


if __name__ == "__main__":
    main()
