"""The chaos run's faults and periodic work (bench/chaos.py): transient provider faults injected
into the sandboxes at random, the shared QPay token forgotten now and then, and a stand-in for
Celery beat. Each runs in a thread until its `stop` event is set."""

from __future__ import annotations

import random
import threading


def inject_faults(args, tally, stop: threading.Event) -> None:
    """Until `stop`: every ~args.fault_interval s, one transient fault (1-2 requests) in the
    sandbox QPay (401/429/500/timeouts on auth, payment/check and invoice creation, some after
    the invoice was created) or eSIM Go (5xx/timeouts on orders, some after the order was placed),
    or the QPay token forgotten."""
    from integrations.qpay.client import QPayClient
    from sandbox.esimgo import faults as esimgo_faults
    from sandbox.qpay import faults as qpay_faults

    rng = random.Random(f"{args.seed}-faults")
    timeout = args.provider_timeout + 1.5
    qpay_kinds = {
        "401": {"status": 401, "body": {"error": "AUTHENTICATION_FAILED", "message": "chaos"}},
        "429": {
            "status": 429,
            "body": {"error": "TOO_MANY_REQUESTS", "message": "chaos"},
            "headers": {"Retry-After": "1"},
        },
        "500": {"status": 500},
        "timeout": {"status": 504, "delay": timeout},
    }
    esimgo_kinds = {
        "500": {"status": 500},
        "502": {"status": 502, "body": "<html>bad gateway</html>"},
        "503": {"status": 503, "headers": {"Retry-After": "1"}},
        "timeout": {"status": 504, "delay": timeout},
    }
    while not stop.wait(rng.uniform(0.5, 1.5) * args.fault_interval):
        roll = rng.random()
        count = rng.randint(1, 2)
        if roll < 0.5:
            endpoint = rng.choice(["auth_token", "payment_check", "payment_check", "invoice_create"])
            kind = rng.choice(list(qpay_kinds))
            spec = dict(qpay_kinds[kind], count=count)
            if endpoint == "invoice_create" and kind in ("500", "timeout") and rng.random() < 0.5:
                spec["after"] = True  # created at QPay, answer lost
                kind += "-after"
            qpay_faults.inject(f"POST {endpoint}", **spec)
            tally.fault(f"qpay {endpoint} {kind}")
        elif roll < 0.9:
            endpoint = "POST orders" if rng.random() < 0.85 else "GET orders"
            kind = rng.choice(list(esimgo_kinds))
            spec = dict(esimgo_kinds[kind], count=count)
            if endpoint == "POST orders" and rng.random() < 0.5:
                spec["after"] = True  # order placed at eSIM Go, answer lost
                kind += "-after"
            esimgo_faults.inject(endpoint, **spec)
            tally.fault(f"esimgo {endpoint} {kind}")
        else:
            QPayClient().forget_token()  # next call authenticates again (and may meet an auth fault)
            tally.fault("qpay token forgotten")


def clear_faults() -> None:
    """No fault pending in either sandbox; QPay's own callback stays off (the driver sends them)."""
    from sandbox.esimgo import faults as esimgo_faults
    from sandbox.qpay import faults as qpay_faults

    esimgo_faults.clear()
    qpay_faults.clear()
    switch_off_qpay_callbacks()


def switch_off_qpay_callbacks() -> None:
    """The driver delivers every callback itself (0-5 times, bursts): the sandbox QPay's own is off."""
    from sandbox.qpay import faults as qpay_faults

    qpay_faults.inject("GET callback", count=10**9)


def send_sweeps(args, tally, stop: threading.Event) -> None:
    """Stand-in for Celery beat: the same periodic sweeps, sent every args.sweep_every s."""
    from esimshop.celery import app

    while not stop.wait(args.sweep_every):
        app.send_task("payments.sweep_pending_invoices")
        app.send_task("orders.tasks.sweep_undelivered_orders_task")
        tally.note("sweeps_sent")
